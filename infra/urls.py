from django.urls import path

from hypereal_site.views import deployments_section

urlpatterns = [
    path("infra/deployments", deployments_section, name="deployments_list"),
]
