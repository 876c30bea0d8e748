"""Corporate single sign-on: verified domains, SAML and OIDC connections, sign-in."""
