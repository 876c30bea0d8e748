"""Walk the project's URL resolver and list every API route with a concrete sample path.

New routes under an API prefix (``api/``, ``internal/``, ``v1/`` — taken from
``hypereal_site.api.errors.API_PREFIXES``) are picked up automatically. Path converters get
sample values; a route the walker cannot turn into a concrete path makes the walker fail
loudly rather than silently drop the route.
"""

import re
import uuid
from dataclasses import dataclass, field

from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.converters import (
    IntConverter,
    PathConverter,
    SlugConverter,
    StringConverter,
    UUIDConverter,
)
from django.urls.resolvers import LocalePrefixPattern, RegexPattern, RoutePattern

from hypereal_site.api.errors import API_PREFIXES

PREFIXES = tuple(prefix.lstrip("/") for prefix in API_PREFIXES)

# Most specific first: SlugConverter and PathConverter are not subclasses of each other,
# but a project converter may subclass one of these.
CONVERTER_SAMPLES: list[tuple[type, object]] = [
    (UUIDConverter, uuid.UUID("01890a5d-ac96-774b-bcce-b302099a8057")),
    (IntConverter, 1),
    (SlugConverter, "sample-slug"),
    (PathConverter, "sample/path"),
    (StringConverter, "K3uA7Pq9xLm4"),  # shaped like the seed's opaque ids
]

# re_path() regexes that cannot be turned into a path mechanically: regex -> sample.
REGEX_SAMPLES: dict[str, str] = {
    r"^(?:api|internal|v1)/": "api/",  # the JSON 404 catch-all
}

HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
BODY_METHODS = ("POST", "PUT", "PATCH")


class UnwalkableRoute(AssertionError):
    pass


@dataclass(frozen=True)
class Route:
    path: str  # concrete, with a leading slash
    name: str | None
    has_params: bool
    allowed_methods: tuple[str, ...] | None = field(compare=False)  # None: not a DRF view
    view_name: str = field(compare=False, default="")

    def __str__(self) -> str:
        return self.path


def _converter_sample(converter) -> str:
    for cls, sample in CONVERTER_SAMPLES:
        if isinstance(converter, cls):
            return converter.to_url(sample)
    raise UnwalkableRoute(
        f"No sample value for path converter {type(converter).__name__}; "
        "add one to CONVERTER_SAMPLES in tests/api/routes.py"
    )


_PARAM = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<parameter>[^>]+)>")


def _concrete(pattern, sample=_converter_sample) -> tuple[str, bool]:
    """The literal URL piece for one pattern and whether it holds a parameter."""
    if isinstance(pattern, LocalePrefixPattern):
        return pattern.language_prefix, False
    if isinstance(pattern, RoutePattern):
        route = str(pattern._route)
        piece = _PARAM.sub(lambda m: sample(pattern.converters[m["parameter"]]), route)
        return piece, bool(pattern.converters)
    if isinstance(pattern, RegexPattern):
        regex = pattern._regex
        if regex in REGEX_SAMPLES:
            return REGEX_SAMPLES[regex], True
        # A named group of alternatives (the admin's app_label list) takes its first one.
        sampled = re.sub(r"\(\?P<\w+>([^|()]+)(?:\|[^()]*)?\)", r"\1", regex)
        candidate = re.sub(r"\\(.)", r"\1", sampled.removeprefix("^").removesuffix("$"))
        match = pattern.regex.match(candidate)
        if match and match.end() == len(candidate):
            return candidate, False
        raise UnwalkableRoute(
            f"Cannot build a sample path for re_path {regex!r}; add it to REGEX_SAMPLES "
            "in tests/api/routes.py"
        )
    raise UnwalkableRoute(f"Unknown URL pattern type {type(pattern).__name__}")


def _allowed_methods(callback) -> tuple[str, ...] | None:
    view_class = getattr(callback, "cls", None)  # DRF APIView.as_view()
    if view_class is None:
        return None
    view = view_class(**getattr(callback, "initkwargs", {}))
    return tuple(m for m in view.allowed_methods if m in HTTP_METHODS)


def _view_name(callback) -> str:
    view_class = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    return (view_class or callback).__qualname__


def _is_api(path: str) -> bool:
    return path.lstrip("/").startswith(PREFIXES)


def _walk(resolver: URLResolver, prefix: str, has_params: bool, sample=_converter_sample):
    for entry in resolver.url_patterns:
        try:
            piece, params = _concrete(entry.pattern, sample)
        except UnwalkableRoute:
            # A route outside the API that only a regex describes (third-party apps) is
            # not ours to check; one that could lead into the API must be walkable.
            regex = str(entry.pattern)
            if _is_api(prefix) or any(p.rstrip("/") in regex for p in PREFIXES):
                raise
            continue
        path = prefix + piece
        if isinstance(entry, URLResolver):
            yield from _walk(entry, path, has_params or params, sample)
        elif isinstance(entry, URLPattern):
            callback = entry.callback
            yield Route(
                path="/" + path,
                name=entry.name,
                has_params=has_params or params,
                allowed_methods=_allowed_methods(callback),
                view_name=_view_name(callback),
            )


def api_routes(urlconf: str | None = None) -> list[Route]:
    """Every route of the URLconf whose path starts with an API prefix."""
    return [r for r in _walk(get_resolver(urlconf), "", False) if _is_api(r.path)]


def nul_routes(urlconf: str | None = None) -> list[Route]:
    """Every route of the URLconf that takes a path parameter, with ``%00`` (a NUL byte,
    percent-encoded) in place of each parameter."""
    routes = _walk(get_resolver(urlconf), "", False, sample=lambda converter: "%00")
    return [route for route in routes if route.has_params]
