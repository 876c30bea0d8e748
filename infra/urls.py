from django.urls import path

from hypereal_site.views import section

urlpatterns = [
    path("infra/deployments", section, {"name": "deployments"}, name="deployments_list"),
]
