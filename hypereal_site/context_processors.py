from django.conf import settings
from django.http import HttpRequest


def console(request: HttpRequest) -> dict:
    return {"SITE_NAME": settings.SITE_NAME, "SITE_URL": settings.SITE_URL}
