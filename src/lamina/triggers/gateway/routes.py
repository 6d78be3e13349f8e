"""HTTP API route keys and route matching.

A route key is ``$default`` or ``<METHOD> <path>`` where METHOD is ANY or an HTTP method and the
path's segments are literals, ``{name}`` parameters or, last only, a greedy ``{name+}``
(https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-routes.html).

Matching picks the most specific route: an exact path, then path parameters (a literal segment
beats a parameter at the first place they differ), then greedy parameters (the longest prefix
first), then ``$default``; for the same path a method-specific route beats ``ANY``. A greedy
parameter takes one segment or more, so ``/{proxy+}`` does not match ``/``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar
from urllib.parse import unquote

T = TypeVar("T")

DEFAULT = "$default"
METHODS = frozenset({"ANY", "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
#: AWS's wording (BadRequestException) for any malformed HTTP route key.
BAD_ROUTE_KEY = ('The provided route key is not formatted properly for HTTP protocol. '
                 'Format should be "<HTTP METHOD> /<RESOURCE PATH>" or "$default"')

_NAME = re.compile(r"[A-Za-z0-9._-]+")
_LITERAL = re.compile(r"[^\s{}/?#]+")
_LITERAL_SEGMENT, _PARAMETER, _GREEDY = 0, 1, 2


class RouteKeyError(ValueError):
    """A malformed route key; ``str(error)`` is AWS's message."""


@dataclass(frozen=True, slots=True)
class RouteKey:
    """A parsed route key. ``segments`` pairs each segment's kind with its literal text or its
    parameter name; the default route has method and path ``""``."""

    text: str
    method: str
    path: str
    segments: tuple[tuple[int, str], ...]

    @property
    def is_default(self) -> bool:
        return self.text == DEFAULT


def parse_route_key(text: str) -> RouteKey:
    """The :class:`RouteKey` of ``text``; raises :class:`RouteKeyError` with AWS's message."""
    if text == DEFAULT:
        return RouteKey(text, "", "", ())
    method, space, path = text.partition(" ")
    if not space or method not in METHODS or not path.startswith("/") or " " in path:
        raise RouteKeyError(BAD_ROUTE_KEY)
    if path == "/":
        return RouteKey(text, method, path, ())
    segments: list[tuple[int, str]] = []
    names: set[str] = set()
    parts = path[1:].split("/")
    for index, part in enumerate(parts):
        if part.startswith("{") and part.endswith("}"):
            name = part[1:-1]
            greedy = name.endswith("+")
            name = name[:-1] if greedy else name
            if not _NAME.fullmatch(name) or name in names or (greedy and index != len(parts) - 1):
                raise RouteKeyError(BAD_ROUTE_KEY)
            names.add(name)
            segments.append((_GREEDY if greedy else _PARAMETER, name))
        elif _LITERAL.fullmatch(part):
            segments.append((_LITERAL_SEGMENT, part))
        else:
            raise RouteKeyError(BAD_ROUTE_KEY)
    return RouteKey(text, method, path, tuple(segments))


@dataclass(frozen=True, slots=True)
class Match(Generic[T]):
    value: T
    key: RouteKey
    parameters: dict[str, str]


class Router(Generic[T]):
    """Matches (method, raw path) to the most specific route. Immutable; build a new one on change."""

    def __init__(self, routes: Iterable[tuple[RouteKey, T]]) -> None:
        self._exact: dict[tuple[str, str], tuple[RouteKey, T]] = {}
        fixed: dict[int, list[tuple[tuple[object, ...], RouteKey, T]]] = {}
        greedy: list[tuple[tuple[object, ...], RouteKey, T]] = []
        self._default: tuple[RouteKey, T] | None = None
        for key, value in routes:
            if key.is_default:
                self._default = (key, value)
                continue
            kinds = tuple(kind for kind, _ in key.segments)
            any_method = key.method == "ANY"
            if _GREEDY in kinds:
                greedy.append(((-len(kinds), kinds, any_method), key, value))
            elif _PARAMETER in kinds:
                fixed.setdefault(len(kinds), []).append(((kinds, any_method), key, value))
            else:
                self._exact[(key.method, key.path)] = (key, value)
        self._fixed = {count: [(k, v) for _, k, v in sorted(items, key=lambda item: item[0])]
                       for count, items in fixed.items()}
        self._greedy = [(k, v) for _, k, v in sorted(greedy, key=lambda item: item[0])]

    def match(self, method: str, path: str) -> Match[T] | None:
        """The best route for ``method`` and the raw (percent-encoded) ``path``, or None."""
        if len(path) > 1 and path.endswith("/"):
            path = path[:-1]
        found = self._exact.get((method, path)) or self._exact.get(("ANY", path))
        if found is not None:
            return Match(found[1], found[0], {})
        parts = path[1:].split("/") if path != "/" else []
        for key, value in self._fixed.get(len(parts), ()):
            if key.method in (method, "ANY"):
                parameters = _bind(key.segments, parts)
                if parameters is not None:
                    return Match(value, key, parameters)
        for key, value in self._greedy:
            if key.method in (method, "ANY") and len(parts) >= len(key.segments):
                parameters = _bind(key.segments[:-1], parts[:len(key.segments) - 1])
                if parameters is not None:
                    parameters[key.segments[-1][1]] = unquote("/".join(parts[len(key.segments) - 1:]))
                    return Match(value, key, parameters)
        if self._default is not None:
            return Match(self._default[1], self._default[0], {})
        return None


def _bind(segments: tuple[tuple[int, str], ...], parts: list[str]) -> dict[str, str] | None:
    parameters: dict[str, str] = {}
    for (kind, text), part in zip(segments, parts, strict=True):
        if kind == _LITERAL_SEGMENT:
            if part != text:
                return None
        elif not part:
            return None
        else:
            parameters[text] = unquote(part)
    return parameters
