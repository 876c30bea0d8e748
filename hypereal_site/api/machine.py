"""How the machine API (``/internal/v1/``) answers: always JSON.

The inference plane is a program that only ever reads JSON, thousands of times a second.
DRF's default negotiation parses the ``Accept`` header and the query string on every call
to choose among renderers it cannot use; here the one renderer is taken outright (DRF's
documented "ignore the client" negotiation for renderers; parsers are still
chosen by ``Content-Type``). A client asking for something else still gets
JSON, as every answer of this API is documented to be (docs/inference-plane.md).
"""

import orjson
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import JSONRenderer


class JsonOnly(DefaultContentNegotiation):
    # Parsers are still chosen by Content-Type (a body that is not JSON is a 415).
    def select_renderer(self, request, renderers, format_suffix=None):
        renderer = renderers[0]
        return renderer, renderer.media_type


_OPTIONS = (
    orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)


class MachineJSONRenderer(JSONRenderer):
    """DRF's JSON, written by orjson when the answer holds only plain JSON types (dicts
    with string keys, lists, strings, integers within 64 bits, booleans, None): a verify
    answer in ~2 µs instead of ~13. Anything else (a lazy translation, a date, a Decimal,
    a subclass, a larger integer) is handed to DRF's renderer, so every answer is written
    exactly as DRF writes it: compact, UTF-8, with U+2028/U+2029 escaped. (One difference:
    a NaN or infinite float, which no answer of this API holds, is written as null where
    DRF would refuse it.)"""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if data is None:
            return b""
        if accepted_media_type and "indent" in accepted_media_type:
            return super().render(data, accepted_media_type, renderer_context)
        try:
            out = orjson.dumps(data, option=_OPTIONS)
        except TypeError:
            return super().render(data, accepted_media_type, renderer_context)
        if b"\xe2\x80\xa8" in out or b"\xe2\x80\xa9" in out:
            out = out.replace(b"\xe2\x80\xa8", b"\\u2028").replace(b"\xe2\x80\xa9", b"\\u2029")
        return out


MACHINE_RENDERERS = [MachineJSONRenderer]
