from django.urls import path

from hypereal_site.views import section

urlpatterns = [
    path("billing", section, {"name": "billing"}, name="billing_overview"),
]
