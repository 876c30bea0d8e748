from django.apps import AppConfig
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy


def libxml2_mismatch() -> str | None:
    """Why lxml and xmlsec cannot work together, or None.

    Both wheels bundle libxml2; when their versions differ, signature checks fail in odd ways
    (or the process crashes), so the pair is pinned in pyproject.toml and checked at start-up.
    """
    try:
        import lxml.etree  # noqa: PLC0415 - the check is the import itself
        import xmlsec  # noqa: PLC0415 - the check is the import itself
    except Exception as exc:
        return f"lxml/xmlsec could not be imported: {exc}"
    ours = lxml.etree.LIBXML_VERSION
    theirs = tuple(xmlsec.get_libxml_version())
    if ours != theirs:
        return f"lxml runs libxml2 {ours} but xmlsec runs libxml2 {theirs}"
    return None


class SsoConfig(AppConfig):
    name = "sso"
    verbose_name = gettext_lazy("Single sign-on")

    def ready(self) -> None:
        problem = libxml2_mismatch()
        if problem:
            raise ImproperlyConfigured(
                f"SAML sign-in cannot verify signatures: {problem}. Install the lxml and "
                "xmlsec versions pinned in pyproject.toml (make install)."
            )
        from orgs.signals import organization_closing  # noqa: PLC0415 - needs the app registry

        from . import receivers, signin  # noqa: PLC0415 - needs the app registry (Django's ready())

        signin.register_refusal_reasons()

        organization_closing.connect(
            receivers.close_sso_of_closing_organization,
            dispatch_uid="sso.organization_closing",
        )
