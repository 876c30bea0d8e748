from django.urls import path

from . import views

urlpatterns = [
    path("usage", views.usage_dashboard, name="usage_dashboard"),
    path("usage/requests/<path:request_id>", views.usage_request_detail, name="usage_request"),
]
