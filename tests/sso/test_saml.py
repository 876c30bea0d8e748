"""SAML against a real IdP (saml-idp on loopback): a real signed response validates; unsigned,
altered, misaddressed, expired and unsolicited ones are refused."""

import pytest

from sso import saml


@pytest.fixture
def connection(saml_idp) -> saml.SamlConnection:
    metadata = saml.fetch_idp_metadata(saml_idp.metadata_url)
    return saml.SamlConnection(
        provider_id=saml_idp.provider_id,
        idp_entity_id=metadata.entity_id,
        idp_sso_url=metadata.sso_url,
        idp_certificates=tuple(c.pem for c in metadata.certificates),
        attribute_mapping={"email": "email", "first_name": "firstName"},
    )


def test_a_real_signed_response_validates(saml_idp, connection):
    request = saml.build_authn_request(connection, relay_state="/dashboard")
    response = saml_idp.sign_in(request.url)
    assertion = saml.validate_response(
        connection, response, expected_request_id=request.request_id
    )
    assert assertion.name_id == "saml.jackson@example.com"
    assert assertion.mapped == {"email": "saml.jackson@example.com", "first_name": "Saml"}
    assert assertion.in_response_to == request.request_id
