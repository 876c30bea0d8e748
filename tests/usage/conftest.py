from tests.apikeys.factories import acme, funded_key, internal, owner, svc_token  # noqa: F401
