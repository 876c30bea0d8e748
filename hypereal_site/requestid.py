"""The current request id, readable from anywhere in the same request or task."""

import contextvars
import re
import uuid

_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

# A client-supplied id is kept only if it is short and plain, so it cannot forge log lines.
# (fullmatch, not ``^…$``: ``$`` also matches before a trailing newline, and a newline in a
# response header makes Django raise instead of answering.)
_VALID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def get_request_id() -> str:
    return _request_id.get()


def set_request_id(value: str) -> contextvars.Token:
    return _request_id.set(value)


def reset_request_id(token: contextvars.Token) -> None:
    _request_id.reset(token)


def new_request_id(incoming: str | None = None) -> str:
    if incoming and _VALID.fullmatch(incoming):
        return incoming
    return uuid.uuid4().hex
