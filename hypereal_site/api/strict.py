"""Browser APIs refuse unknown fields: a typo (``spendinglimit``) must never be dropped
silently and leave a key uncapped.

The rule lives here once, not in each serializer: every browser API inherits
``StrictInputApi`` (through ``orgs.access``), and while one of them handles a request,
any serializer validating *that request's body* (``Serializer(data=request.data)``, and
the serializers nested in it) refuses keys it has no writable field for, with a 400 that
names them. Query-parameter serializers and the internal API (whose contract with the
gateway allows additive fields) are untouched.

DRF has no setting for this, so ``install()`` (run once from the app config) wraps
``Serializer.to_internal_value``; the wrapper costs one context-variable read for
serializers outside a strict request.
"""

import contextvars
from collections.abc import Mapping

from django.utils.translation import gettext as _
from rest_framework import serializers
from rest_framework.views import APIView

_strict_view: contextvars.ContextVar[APIView | None] = contextvars.ContextVar(
    "strict_input_view", default=None
)


class StrictInputApi(APIView):
    """Base of every browser API: the body's unknown fields are refused (see module)."""

    def dispatch(self, request, *args, **kwargs):
        token = _strict_view.set(self)
        try:
            return super().dispatch(request, *args, **kwargs)
        finally:
            _strict_view.reset(token)


def _validates_the_body(serializer: serializers.Serializer, view: APIView) -> bool:
    request = getattr(view, "request", None)
    root = serializer.root
    if request is None or not hasattr(root, "initial_data"):
        return False
    # ``_full_data`` is what ``request.data`` returns once the body was parsed (DRF's own
    # cache); reading it here never parses a body that no serializer asked for.
    return root.initial_data is getattr(request, "_full_data", None)


def unknown_fields(serializer: serializers.Serializer, data: Mapping) -> list[str]:
    writable = {name for name, field in serializer.fields.items() if not field.read_only}
    return [name for name in data if name not in writable]


def install() -> None:
    original = serializers.Serializer.to_internal_value
    if getattr(original, "strict_input", False):
        return

    def to_internal_value(self, data):
        view = _strict_view.get()
        if view is not None and isinstance(data, Mapping) and _validates_the_body(self, view):
            unknown = unknown_fields(self, data)
            if unknown:
                accepted = ", ".join(
                    name for name, field in self.fields.items() if not field.read_only
                )
                message = (
                    _("Unknown field; this accepts: %(fields)s.") % {"fields": accepted}
                    if accepted
                    else _("Unknown field; this takes no fields.")
                )
                raise serializers.ValidationError({name: [message] for name in unknown})
        return original(self, data)

    to_internal_value.strict_input = True
    serializers.Serializer.to_internal_value = to_internal_value
