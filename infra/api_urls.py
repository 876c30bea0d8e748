from django.urls import path

from . import apis

urlpatterns = [
    path("deployments", apis.DeploymentListCreateApi.as_view(), name="api-deployments"),
    path("deployments/<str:slug>", apis.DeploymentDetailApi.as_view(), name="api-deployment"),
]
