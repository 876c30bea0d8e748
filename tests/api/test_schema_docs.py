"""The OpenAPI document and the Swagger page, served without any third-party CDN."""

import json
import re
from html.parser import HTMLParser

import pytest
import yaml
from django.test import Client

pytestmark = pytest.mark.django_db


def _content(response) -> bytes:
    if response.streaming:
        try:
            return b"".join(response.streaming_content)
        finally:
            response.close()
    return response.content


def test_schema_yaml_lists_the_api():
    response = Client().get("/api/schema/")
    assert response.status_code == 200
    assert "openapi" in response["Content-Type"]
    document = yaml.safe_load(response.content)
    assert document["openapi"].startswith("3.")
    assert {"get", "patch"} <= set(document["paths"]["/api/me"])
    assert document["info"]["title"] == "Hypereal Console API"


def test_schema_json_lists_the_api():
    response = Client().get("/api/schema/?format=json")
    assert response.status_code == 200
    document = json.loads(response.content)
    assert document["openapi"].startswith("3.")
    assert "/api/me" in document["paths"]
    # Only API routes are documented, never pages or the admin.
    assert all(path.startswith(("/api/", "/internal/", "/v1/")) for path in document["paths"])
    # The session cookie scheme is described (no "could not resolve authenticator" gap).
    schemes = document["components"]["securitySchemes"]
    assert any(s.get("in") == "cookie" for s in schemes.values()), schemes


class _Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script" and attrs.get("src"):
            self.urls.append(attrs["src"])
        if tag == "link" and attrs.get("href"):
            self.urls.append(attrs["href"])


def test_docs_page_uses_only_local_assets_that_are_served():
    client = Client()
    response = client.get("/api/docs/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()

    parser = _Assets()
    parser.feed(html)
    assert any(url.endswith(".js") for url in parser.urls), parser.urls
    assert any(url.endswith(".css") for url in parser.urls), parser.urls
    remote = [url for url in parser.urls if re.match(r"^(https?:)?//", url)]
    assert not remote, remote
    # Nothing else in the page (inline scripts included) pulls from another origin.
    assert not re.search(r"""(src|href|url)\s*[=(]\s*["']?(https?:)?//""", html), html

    for url in parser.urls:
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert _content(asset), url
