from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("dashboard", views.dashboard, name="dashboard"),
    path("settings/account", views.account_settings, name="account_settings"),
    path("language", views.language_switch, name="language_switch"),
    path("settings/account/delete", views.account_delete, name="account_delete"),
]
