from django.urls import path

from hypereal_site.views import usage_section

urlpatterns = [
    path("usage", usage_section, name="usage_dashboard"),
]
