from django.urls import path

from hypereal_site.views import section

urlpatterns = [
    path("manage-api-keys", section, {"name": "keys"}, name="apikeys_list"),
]
