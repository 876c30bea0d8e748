from django.apps import AppConfig
from django.utils.translation import gettext_lazy

from billing.signals import balance_changed, wallet_moved
from orgs.signals import members_changed, organization_closing


class ApikeysConfig(AppConfig):
    name = "apikeys"
    verbose_name = gettext_lazy("API keys")

    def ready(self) -> None:
        # The receivers import models, which must wait for the app registry.
        from billing.selectors import RESERVED_SOURCES  # noqa: PLC0415 — models inside

        from . import receivers  # noqa: PLC0415 — needs the app registry (Django's ready())
        from .reservations import wallet_reserved  # noqa: PLC0415 — needs the app registry

        if wallet_reserved not in RESERVED_SOURCES:
            RESERVED_SOURCES.append(wallet_reserved)

        balance_changed.connect(
            receivers.refresh_verifications, dispatch_uid="apikeys.balance_changed"
        )
        wallet_moved.connect(receivers.move_wallet_counter, dispatch_uid="apikeys.wallet_moved")
        members_changed.connect(
            receivers.refresh_verifications, dispatch_uid="apikeys.members_changed"
        )
        organization_closing.connect(
            receivers.revoke_keys_of_closing_organization,
            dispatch_uid="apikeys.organization_closing",
        )
