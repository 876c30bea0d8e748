"""The SSO API under ``/api/orgs/<org_id>/``: connections (``sso``) and domains.

Field names are camelCase as the SSO contract names them (``providerId``, ``clientSecret``);
each view calls the same service as the settings page. Every handler needs ``sso.manage``
(owners and admins); another tenant's organization or connection is a 404. The client secret
is write-only: answers say whether one is set, never what it is.
"""

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from orgs.access import OrgApi
from orgs.permissions import Perm, Role

from . import checks, selectors, services
from .domainnames import display_domain
from .models import SsoConnection, SsoDomain

#: The service's field names -> the API's (for error messages that name the field sent).
API_NAMES = {
    "oidc_issuer": "issuer",
    "oidc_client_id": "clientId",
    "client_secret": "clientSecret",
    "metadata_xml": "metadataXml",
    "metadata_url": "metadataUrl",
    "jit_enabled": "jitEnabled",
    "default_role": "defaultRole",
    "group_role_mapping": "groupRoleMapping",
    "break_glass_owners": "breakGlassOwners",
    "idp_initiated": "idpInitiated",
    "require_signed_assertions": "requireSignedAssertions",
    "attribute_email": "attributeMapping",
    "attribute_first_name": "attributeMapping",
    "attribute_last_name": "attributeMapping",
    "attribute_groups": "attributeMapping",
}
#: The API's simple fields -> the service's keyword arguments.
SERVICE_NAMES = {
    "type": "type",
    "issuer": "oidc_issuer",
    "clientId": "oidc_client_id",
    "clientSecret": "client_secret",
    "metadataXml": "metadata_xml",
    "metadataUrl": "metadata_url",
    "enabled": "enabled",
    "jitEnabled": "jit_enabled",
    "defaultRole": "default_role",
    "groupRoleMapping": "group_role_mapping",
    "enforce": "enforce",
    "breakGlassOwners": "break_glass_owners",
    "idpInitiated": "idp_initiated",
    "requireSignedAssertions": "require_signed_assertions",
}
ATTRIBUTE_NAMES = {
    "email": "attribute_email",
    "firstName": "attribute_first_name",
    "lastName": "attribute_last_name",
    "groups": "attribute_groups",
}


def _renamed(exc: ValidationError) -> ValidationError:
    if not hasattr(exc, "error_dict"):
        return exc
    return ValidationError(
        {API_NAMES.get(field, field): messages for field, messages in exc.message_dict.items()}
    )


# --- output ---------------------------------------------------------------------------


def domain_payload(domain: SsoDomain, provider_id: str | None = None) -> dict:
    """``provider_id``: the connection's, when the caller already has it (no extra query)."""
    record = selectors.txt_record(domain)
    if provider_id is None and domain.connection_id:
        provider_id = domain.connection.provider_id
    return {
        "domain": display_domain(domain.name),
        "asciiDomain": domain.name,
        "status": domain.status,
        "verifiedAt": domain.verified_at,
        "missingSince": domain.missing_since,
        "txtRecord": {"name": record.name, "type": record.type, "value": record.value},
        "connection": provider_id,
        "lastCheck": {
            "result": domain.last_check_result or None,
            "detail": domain.last_check_detail,
            "checkedAt": domain.last_checked_at,
        },
    }


def check_payload(connection: SsoConnection) -> dict:
    """The save-time check: ``status`` "ok", "failed" or null (not run: nothing to check
    yet, or what it looked at changed since); ``reason`` the failure's code (``dns``,
    ``tls``, ``status``, ``json``, ``issuer_mismatch``, ``sha1_only``…), ``message`` the
    sentence in the request's language, ``messageCode`` the sentence's own code (finer than
    ``reason``: ``unresolvable``, ``timed_out``…) and ``messageParams`` its parameters."""
    return {
        "status": connection.check_status or None,
        "reason": connection.check_reason,
        "message": connection.check_message,
        "messageCode": connection.check_detail_code,
        "messageParams": connection.check_detail_params,
        "checkedAt": connection.checked_at,
    }


def connection_payload(connection: SsoConnection) -> dict:
    is_saml = connection.type == SsoConnection.Type.SAML
    data = {
        "providerId": connection.provider_id,
        "type": connection.type,
        "enabled": connection.enabled,
        "jitEnabled": connection.jit_enabled,
        "defaultRole": connection.default_role,
        "groupRoleMapping": connection.group_role_mapping,
        "enforce": connection.enforce,
        "breakGlassOwners": [
            m.public_id for m in selectors.break_glass_owners(connection=connection)
        ],
        "idpInitiated": connection.idp_initiated,
        "domains": [domain_payload(d, connection.provider_id) for d in connection.domains.all()],
        "check": check_payload(connection),
        "createdAt": connection.created_at,
        "updatedAt": connection.updated_at,
    }
    if is_saml:
        data.update(
            {
                "acsUrl": selectors.acs_url(connection),
                "spEntityId": selectors.sp_entity_id(connection),
                "metadataXml": connection.metadata_xml,
                "metadataUrl": connection.metadata_url,
                "idpEntityId": connection.saml_entity_id,
                "idpSsoUrl": connection.saml_sso_url,
                "certificates": [
                    {"pem": c, **checks.certificate_facts(c)}
                    for c in (connection.saml_certificate, connection.saml_certificate_next)
                    if c
                ],
                "requireSignedAssertions": connection.require_signed_assertions,
                "attributeMapping": {
                    "email": connection.attribute_email,
                    "firstName": connection.attribute_first_name,
                    "lastName": connection.attribute_last_name,
                    "groups": connection.attribute_groups,
                },
            }
        )
    else:
        data.update(
            {
                "redirectUri": selectors.redirect_uri(connection),
                "issuer": connection.oidc_issuer,
                "clientId": connection.oidc_client_id,
                "clientSecretSet": connection.has_client_secret,
            }
        )
    return data


# --- input ----------------------------------------------------------------------------

_ROLES = [r for r in Role.values if r != Role.OWNER]


class AttributeMappingSerializer(serializers.Serializer):
    email = serializers.CharField(max_length=255, required=False)
    firstName = serializers.CharField(max_length=255, required=False, allow_blank=True)
    lastName = serializers.CharField(max_length=255, required=False, allow_blank=True)
    groups = serializers.CharField(max_length=255, required=False, allow_blank=True)


class ConnectionFieldsSerializer(serializers.Serializer):
    """What both POST and PATCH take (PATCH takes every field as optional)."""

    type = serializers.ChoiceField(choices=SsoConnection.Type.values)
    issuer = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    clientId = serializers.CharField(max_length=255, required=False, allow_blank=True)
    clientSecret = serializers.CharField(
        max_length=2000, required=False, allow_blank=True, write_only=True, trim_whitespace=False
    )
    metadataXml = serializers.CharField(
        max_length=services.METADATA_XML_MAX, required=False, allow_blank=True
    )
    metadataUrl = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    domain = serializers.CharField(max_length=300, required=False)
    domains = serializers.ListField(
        child=serializers.CharField(max_length=300), required=False, max_length=50
    )
    enabled = serializers.BooleanField(required=False)
    jitEnabled = serializers.BooleanField(required=False)
    defaultRole = serializers.ChoiceField(choices=_ROLES, required=False)
    groupRoleMapping = serializers.DictField(
        child=serializers.ChoiceField(choices=_ROLES), required=False
    )
    idpInitiated = serializers.BooleanField(required=False)
    requireSignedAssertions = serializers.BooleanField(required=False)
    attributeMapping = AttributeMappingSerializer(required=False)

    def validate(self, data):
        if "domain" in data and "domains" in data:
            raise serializers.ValidationError({"domain": _("Give domain or domains, not both.")})
        return data


class ConnectionCreateSerializer(ConnectionFieldsSerializer):
    def validate(self, data):
        data = super().validate(data)
        if "domain" not in data and "domains" not in data:
            raise serializers.ValidationError({"domain": _("This field is required.")})
        return data


class ConnectionUpdateSerializer(ConnectionFieldsSerializer):
    type = serializers.ChoiceField(choices=SsoConnection.Type.values, required=False)
    enforce = serializers.BooleanField(required=False)
    breakGlassOwners = serializers.ListField(
        child=serializers.CharField(max_length=32), required=False, max_length=100
    )


def _service_kwargs(data: dict) -> dict:
    kwargs = {SERVICE_NAMES[k]: v for k, v in data.items() if k in SERVICE_NAMES}
    for name, value in (data.get("attributeMapping") or {}).items():
        kwargs[ATTRIBUTE_NAMES[name]] = value
    if "domain" in data:
        kwargs["domains"] = [data["domain"]]
    elif "domains" in data:
        kwargs["domains"] = data["domains"]
    return kwargs


class DomainInputSerializer(serializers.Serializer):
    domain = serializers.CharField(max_length=300)


# --- connections ----------------------------------------------------------------------


class ConnectionListCreateApi(OrgApi):
    permissions = {"GET": Perm.SSO_MANAGE, "POST": Perm.SSO_MANAGE}

    @extend_schema(
        operation_id="orgs_sso_list",
        responses={200: dict},
        summary="SSO connections of the organization",
    )
    def get(self, request: Request, org_id: str) -> Response:
        connections = selectors.org_connections(organization=self.organization)
        return Response({"connections": [connection_payload(c) for c in connections]})

    @extend_schema(
        request=ConnectionCreateSerializer,
        responses={201: dict},
        summary="Create a SAML or OIDC connection for a domain (claimed if new)",
    )
    def post(self, request: Request, org_id: str) -> Response:
        serializer = ConnectionCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            connection = services.connection_create(
                organization=self.organization,
                actor=request.user,
                **_service_kwargs(serializer.validated_data),
            )
        except ValidationError as exc:
            raise _renamed(exc) from None
        connection = selectors.connection_get(
            organization=self.organization, provider_id=connection.provider_id
        )
        return Response(connection_payload(connection), status=status.HTTP_201_CREATED)


class ConnectionDetailApi(OrgApi):
    permissions = {"GET": Perm.SSO_MANAGE, "PATCH": Perm.SSO_MANAGE, "DELETE": Perm.SSO_MANAGE}

    @extend_schema(responses={200: dict}, summary="One SSO connection")
    def get(self, request: Request, org_id: str, provider_id: str) -> Response:
        connection = selectors.connection_get(
            organization=self.organization, provider_id=provider_id
        )
        return Response(connection_payload(connection))

    @extend_schema(
        request=ConnectionUpdateSerializer, responses={200: dict}, summary="Change a connection"
    )
    def patch(self, request: Request, org_id: str, provider_id: str) -> Response:
        connection = selectors.connection_get(
            organization=self.organization, provider_id=provider_id
        )
        serializer = ConnectionUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            services.connection_update(
                connection=connection,
                actor=request.user,
                **_service_kwargs(serializer.validated_data),
            )
        except ValidationError as exc:
            raise _renamed(exc) from None
        connection = selectors.connection_get(
            organization=self.organization, provider_id=provider_id
        )
        return Response(connection_payload(connection))

    @extend_schema(request=None, responses={204: None}, summary="Delete a connection")
    def delete(self, request: Request, org_id: str, provider_id: str) -> Response:
        connection = selectors.connection_get(
            organization=self.organization, provider_id=provider_id
        )
        services.connection_delete(connection=connection, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- domains --------------------------------------------------------------------------


class DomainListCreateApi(OrgApi):
    permissions = {"GET": Perm.SSO_MANAGE, "POST": Perm.SSO_MANAGE}

    @extend_schema(
        operation_id="orgs_domains_list",
        responses={200: dict},
        summary="Claimed domains with their TXT records",
    )
    def get(self, request: Request, org_id: str) -> Response:
        domains = selectors.org_domains(organization=self.organization)
        return Response({"domains": [domain_payload(d) for d in domains]})

    @extend_schema(request=DomainInputSerializer, responses={201: dict}, summary="Claim a domain")
    def post(self, request: Request, org_id: str) -> Response:
        serializer = DomainInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        domain = services.domain_claim(
            organization=self.organization,
            actor=request.user,
            domain=serializer.validated_data["domain"],
        )
        return Response(domain_payload(domain), status=status.HTTP_201_CREATED)


class DomainDetailApi(OrgApi):
    permissions = {"GET": Perm.SSO_MANAGE, "DELETE": Perm.SSO_MANAGE}

    @extend_schema(responses={200: dict}, summary="One claimed domain")
    def get(self, request: Request, org_id: str, domain: str) -> Response:
        claim = selectors.domain_get(organization=self.organization, name=domain)
        return Response(domain_payload(claim))

    @extend_schema(request=None, responses={204: None}, summary="Remove a domain claim")
    def delete(self, request: Request, org_id: str, domain: str) -> Response:
        claim = selectors.domain_get(organization=self.organization, name=domain)
        services.domain_remove(domain=claim, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class DomainVerifyApi(OrgApi):
    permissions = {"POST": Perm.SSO_MANAGE}

    @extend_schema(
        request=None,
        responses={200: dict},
        summary="Look the TXT record up now (409 domain_taken if another organization holds it)",
    )
    def post(self, request: Request, org_id: str, domain: str) -> Response:
        claim = selectors.domain_get(organization=self.organization, name=domain)
        claim = services.domain_verify(domain=claim, actor=request.user)
        return Response(domain_payload(claim))
