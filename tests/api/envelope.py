"""The one assertion every API error must pass: the seed's error envelope."""

import json


def assert_envelope(response, status: int, type: str | None = None) -> dict:
    """``response`` is JSON whose only top-level key is ``error``, carrying non-empty
    string ``type`` and ``message``. Returns the ``error`` object."""
    content = b"".join(response.streaming_content) if response.streaming else response.content
    assert response.status_code == status, (response.status_code, content[:500])
    content_type = response.get("Content-Type", "")
    assert content_type.startswith("application/json"), (content_type, content[:500])
    body = json.loads(content)
    assert isinstance(body, dict), body
    assert list(body) == ["error"], body
    error = body["error"]
    for key in ("type", "message"):
        assert isinstance(error.get(key), str), error
        assert error[key].strip(), error
    if type is not None:
        assert error["type"] == type, error
    return error
