from django.urls import path

from . import views

urlpatterns = [
    path("infra/deployments", views.deployment_list, name="deployments_list"),
    path("infra/deployments/new", views.deployment_create, name="deployments_create"),
    path("infra/deployments/new/price", views.deployment_price, name="deployments_price"),
    path("infra/deployments/<slug:slug>", views.deployment_detail, name="deployments_detail"),
    path("infra/deployments/<slug:slug>/edit", views.deployment_edit, name="deployments_edit"),
    path(
        "infra/deployments/<slug:slug>/delete", views.deployment_delete, name="deployments_delete"
    ),
]
