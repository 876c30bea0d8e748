from django.urls import path

from hypereal_site.views import keys_section

urlpatterns = [
    path("manage-api-keys", keys_section, name="apikeys_list"),
]
