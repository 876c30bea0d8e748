"""``/v1/…`` GPU routes served by this app (mounted by ``hypereal_site.urls``)."""

from django.urls import path

from . import customer_apis

urlpatterns = [
    path("gpu-types", customer_apis.GpuTypeListApi.as_view(), name="v1-gpu-types"),
    path(
        "deployments",
        customer_apis.V1DeploymentListCreateApi.as_view(),
        name="v1-deployments",
    ),
    path(
        "deployments/<str:slug>",
        customer_apis.V1DeploymentDetailApi.as_view(),
        name="v1-deployment",
    ),
]
