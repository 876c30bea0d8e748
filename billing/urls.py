from django.urls import path

from hypereal_site.views import billing_section

urlpatterns = [
    path("billing", billing_section, name="billing_overview"),
]
