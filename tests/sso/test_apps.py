"""The start-up check: lxml and xmlsec must run the same libxml2, or SAML signatures cannot
be trusted; a mismatch stops start-up with a message that says what to do."""

import pytest
import xmlsec
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from lxml import etree

from sso.apps import libxml2_mismatch


def test_the_pinned_pair_runs_one_libxml2():
    assert libxml2_mismatch() is None
    assert tuple(xmlsec.get_libxml_version()) == etree.LIBXML_VERSION


def test_a_mismatch_stops_start_up(monkeypatch):
    monkeypatch.setattr(xmlsec, "get_libxml_version", lambda: (2, 9, 1))
    assert "2, 9, 1" in libxml2_mismatch()
    with pytest.raises(ImproperlyConfigured, match="lxml and xmlsec versions pinned"):
        apps.get_app_config("sso").ready()
