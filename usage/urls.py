from django.urls import path

from hypereal_site.views import section

urlpatterns = [
    path("usage", section, {"name": "usage"}, name="usage_dashboard"),
]
