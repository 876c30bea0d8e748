from django.urls import path

from hypereal_site.views import section

urlpatterns = [
    path("settings/organization", section, {"name": "organization"}, name="org_settings"),
]
