"""The settings page's forms. Field names are the services' keyword arguments, so a service's
ValidationError lands on the right field as it is."""

from django import forms
from django.utils.translation import gettext_lazy as _

from orgs.permissions import Role

from .domainnames import display_domain
from .services import METADATA_XML_MAX

_ROLE_CHOICES = [(value, label) for value, label in Role.choices if value != Role.OWNER]


class DomainClaimForm(forms.Form):
    domain = forms.CharField(
        label=_("Domain"),
        max_length=300,
        help_text=_("The part after @ in your people's email addresses, such as example.com."),
    )


class _ConnectionForm(forms.Form):
    domains = forms.CharField(
        label=_("Domains"),
        max_length=2000,
        help_text=_("Comma-separated; each is claimed if it is not yet."),
    )
    enabled = forms.BooleanField(label=_("Enabled"), required=False, initial=True)
    jit_enabled = forms.BooleanField(
        label=_("Create an account at first sign-in (just-in-time provisioning)"),
        required=False,
    )
    default_role = forms.ChoiceField(
        label=_("Role of a new member"), choices=_ROLE_CHOICES, initial=Role.VIEWER
    )
    group_role_mapping = forms.CharField(
        label=_("Group → role"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("One per line: group = role (admin, developer, billing or viewer)."),
    )
    enforce = forms.BooleanField(
        label=_("Enforce SSO: members from these domains must sign in through it"),
        required=False,
    )
    break_glass_owners = forms.MultipleChoiceField(
        label=_("Break-glass owners (may still sign in with a password)"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args, owners=(), creating: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["break_glass_owners"].choices = [(m.public_id, m.user.email) for m in owners]
        if creating:  # enforcement is set on an existing connection, with its break-glass owners
            del self.fields["enforce"], self.fields["break_glass_owners"]

    def clean_domains(self) -> list[str]:
        names = [d.strip() for d in self.cleaned_data["domains"].split(",") if d.strip()]
        if not names:
            raise forms.ValidationError(_("Name at least one domain."))
        return names

    def clean_group_role_mapping(self) -> dict[str, str]:
        mapping = {}
        for number, line in enumerate(self.cleaned_data["group_role_mapping"].splitlines(), 1):
            if not line.strip():
                continue
            group, sep, role = line.rpartition("=")
            if not sep or not group.strip() or not role.strip():
                raise forms.ValidationError(_("Line %(n)s: write group = role.") % {"n": number})
            mapping[group.strip()] = role.strip().lower()
        return mapping


class OidcConnectionForm(_ConnectionForm):
    oidc_issuer = forms.CharField(
        label=_("Issuer URL"),
        max_length=2000,
        help_text=_("Such as https://login.example.com; its discovery document is read from it."),
    )
    oidc_client_id = forms.CharField(label=_("Client id"), max_length=255)
    client_secret = forms.CharField(
        label=_("Client secret"),
        max_length=2000,
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
    )

    field_order = ["domains", "oidc_issuer", "oidc_client_id", "client_secret"]


class SamlConnectionForm(_ConnectionForm):
    metadata_url = forms.CharField(
        label=_("IdP metadata URL"),
        max_length=2000,
        required=False,
        help_text=_("Either the URL of the identity provider's metadata…"),
    )
    metadata_xml = forms.CharField(
        label=_("IdP metadata XML"),
        max_length=METADATA_XML_MAX,
        required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=_("…or the metadata document itself."),
    )
    require_signed_assertions = forms.BooleanField(
        label=_("Require signed assertions"), required=False, initial=True
    )
    idp_initiated = forms.BooleanField(
        label=_("Accept sign-ins started at the identity provider (IdP-initiated)"),
        required=False,
    )
    attribute_email = forms.CharField(label=_("Email attribute"), max_length=255, initial="email")
    attribute_first_name = forms.CharField(
        label=_("First name attribute"), max_length=255, required=False, initial="firstName"
    )
    attribute_last_name = forms.CharField(
        label=_("Last name attribute"), max_length=255, required=False, initial="lastName"
    )
    attribute_groups = forms.CharField(label=_("Groups attribute"), max_length=255, required=False)

    field_order = ["domains", "metadata_url", "metadata_xml"]


def connection_form_class(connection_type: str) -> type[_ConnectionForm]:
    return OidcConnectionForm if connection_type == "oidc" else SamlConnectionForm


def initial_for(connection) -> dict:
    """The form's initial values for an existing connection (never its secret)."""
    initial = {
        "domains": ", ".join(display_domain(d.name) for d in connection.domains.all()),
        "enabled": connection.enabled,
        "jit_enabled": connection.jit_enabled,
        "default_role": connection.default_role,
        "group_role_mapping": "\n".join(
            f"{group} = {role}" for group, role in sorted(connection.group_role_mapping.items())
        ),
        "enforce": connection.enforce,
        "break_glass_owners": [m.public_id for m in connection.break_glass_owners.all()],
    }
    if connection.type == "oidc":
        initial.update(oidc_issuer=connection.oidc_issuer, oidc_client_id=connection.oidc_client_id)
    else:
        initial.update(
            metadata_url=connection.metadata_url,
            metadata_xml=connection.metadata_xml,
            require_signed_assertions=connection.require_signed_assertions,
            idp_initiated=connection.idp_initiated,
            attribute_email=connection.attribute_email,
            attribute_first_name=connection.attribute_first_name,
            attribute_last_name=connection.attribute_last_name,
            attribute_groups=connection.attribute_groups,
        )
    return initial
