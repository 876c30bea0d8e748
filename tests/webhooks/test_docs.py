"""docs/webhooks.md stays true: its openssl recipe verifies a real delivery's signature
(and refuses a tampered body), and every event type of the code is documented."""

import os
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from webhooks.events import EVENT_TYPES, TEST_EVENT
from webhooks.signing import new_secret, signed_headers

DOC = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


def recipe() -> str:
    text = DOC.read_text()
    start = text.index("# Verify:")
    return text[start : text.index("```", start)]


@pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("bash", "openssl", "xxd", "base64")),
    reason="the recipe needs bash, openssl, xxd and base64",
)
def test_the_openssl_recipe_verifies_a_signature(tmp_path):
    secret = new_secret()
    body = '{"type":"balance.low","timestamp":"2026-11-29T16:00:00Z","data":{"x":1}}'
    headers = signed_headers(msg_id="msg_doc", body=body, secrets_=[secret], at=datetime.now(UTC))

    def run(saved: str) -> str:
        (tmp_path / "body.json").write_text(saved)
        env = {
            **os.environ,
            "SECRET": secret,
            "WEBHOOK_ID": headers["webhook-id"],
            "WEBHOOK_TIMESTAMP": headers["webhook-timestamp"],
            "WEBHOOK_SIGNATURE": headers["webhook-signature"],
        }
        return subprocess.run(  # noqa: S603 - our own doc's recipe
            ["bash", "-c", recipe()],  # noqa: S607
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()

    assert run(body) == "valid"
    assert run(body.replace("1", "2")) == "INVALID"


def test_every_event_type_is_documented():
    text = DOC.read_text()
    for name in [*EVENT_TYPES, TEST_EVENT]:
        assert re.search(rf"`{re.escape(name)}`", text), name
