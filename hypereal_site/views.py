"""Console sections whose capability has not landed yet render an honest empty state.

Each section's own app replaces its entry here with real views as the capability lands.
"""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

SECTIONS = {
    "keys": {
        "title": "API keys",
        "lead": "Create ck_ keys for the gateway, cap their monthly spend and watch their use.",
        "empty": "You have no API keys yet.",
        "next": "Top up at least $2 (200 credits), then create your first key here.",
    },
    "usage": {
        "title": "Usage",
        "lead": "Spend by model, the daily cost trend and every request, searchable.",
        "empty": "No requests recorded yet.",
        "next": "Calls made with your keys appear here within seconds.",
    },
    "billing": {
        "title": "Billing",
        "lead": "Prepaid credits: 100 credits = 1.00 USD.",
        "empty": "No payments yet.",
        "next": "Top-ups by card arrive with billing; your balance will show here.",
    },
    "deployments": {
        "title": "Deployments",
        "lead": "Run your own Docker images on GPUs, billed per second.",
        "empty": "You have no deployments.",
        "next": "Deployments and GPU jobs will be listed here.",
    },
}


@login_required
@require_GET
def section(request: HttpRequest, name: str) -> HttpResponse:
    return render(request, "console/section.html", {"section": SECTIONS[name], "nav": name})
