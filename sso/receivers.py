"""The SSO app's answers to what organizations announce (connected in ``SsoConfig.ready``;
the apps below never import this one)."""

from .services import org_sso_close


def close_sso_of_closing_organization(sender, *, organization, actor, **kwargs) -> None:
    org_sso_close(organization=organization, actor=actor)
