from django.urls import path

from . import views

urlpatterns = [
    path("billing", views.billing_overview, name="billing_overview"),
    path("billing/topup", views.billing_topup, name="billing_topup"),
    path(
        "billing/topup/<str:public_id>/success",
        views.billing_topup_success,
        name="billing_topup_success",
    ),
    path(
        "billing/checkout/<str:session_id>",
        views.billing_local_checkout,
        name="billing_local_checkout",
    ),
    path("billing/alerts", views.billing_alerts, name="billing_alerts"),
    path("billing/statement", views.billing_statement, name="billing_statement"),
    path("billing/statement.csv", views.billing_statement_csv, name="billing_statement_csv"),
    path("billing/stripe/webhook", views.stripe_webhook, name="stripe_webhook"),
    path("models", views.models_page, name="models"),
]
