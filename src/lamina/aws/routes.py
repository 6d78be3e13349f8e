"""The route table of a REST protocol (rest-json now, rest-xml later), built from the model's
``http.method`` + ``http.requestUri``.

``/2015-03-31/functions/{FunctionName}/invocations`` becomes a regular expression; ``{Key+}`` labels
are greedy and keep their ``/``; literal query parts (``/apikeys?mode=import``, S3's
``/{Bucket}?notification``) must be present in the request. Matching is one dict lookup on the
method, first path segment and depth plus one small alternation regex, so Lambda's Invoke route
costs about a microsecond.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lamina.aws.http import parse_query, unquote_label

if TYPE_CHECKING:
    from botocore.model import ServiceModel

_LABEL = re.compile(r"\{([^}]+)\}")
_ANY = "*"


@dataclass(frozen=True, slots=True)
class Route:
    """One operation's route. ``labels`` pairs a regex group with the label name (no ``+``)."""

    operation: str
    method: str
    template: str
    labels: tuple[tuple[str, str], ...]
    query: tuple[tuple[str, str | None], ...]  # literal query parts: (key, value or None = any)
    pattern: str
    rank: tuple[int, int, int, bool]


@dataclass(frozen=True, slots=True)
class _Bucket:
    regex: re.Pattern[str]
    routes: Mapping[str, Route]  # outer group name -> route


class RouteTable:
    """Maps (method, raw path, raw query) to (operation name, decoded uri labels)."""

    def __init__(self, routes: Iterable[Route]) -> None:
        by_key: dict[tuple[str, str, int], list[Route]] = {}
        self._with_query: dict[str, list[Route]] = {}
        for route in sorted(routes, key=lambda r: r.rank):
            if route.query:
                # Few operations carry literal query parts; each is tried on its own, first, because
                # the literal is what tells it apart from a sibling with the same path.
                self._with_query.setdefault(route.method, []).append(route)
            else:
                by_key.setdefault(_key(route), []).append(route)
        self._buckets = {key: _bucket(routes) for key, routes in by_key.items()}
        self._compiled = {id(r): re.compile(r.pattern) for rs in self._with_query.values() for r in rs}

    @classmethod
    def from_model(cls, model: ServiceModel) -> RouteTable:
        """The table of every operation in ``model``."""
        operations = (model.operation_model(name) for name in model.operation_names)
        return cls(compile_route(op.name, op.http, deprecated=op.deprecated) for op in operations)

    def match(self, method: str, path: str, query: str) -> tuple[str, dict[str, str]] | None:
        """The operation and its percent-decoded labels, or None when no route matches."""
        if query and method in self._with_query:
            present = parse_query(query)
            for route in self._with_query[method]:
                if all(k in present and (want is None or want in present[k]) for k, want in route.query):
                    found = self._compiled[id(route)].fullmatch(path)
                    if found is not None:
                        return route.operation, {label: unquote_label(found.group(group))
                                                 for group, label in route.labels}
        end = path.find("/", 1)
        segment = path[1:end] if end > 0 else path[1:]
        depth = path.count("/") - path.endswith("/")
        for key in ((method, segment, depth), (method, _ANY, 0)):
            bucket = self._buckets.get(key)
            if bucket is None:
                continue
            found = bucket.regex.fullmatch(path)
            if found is not None and found.lastgroup is not None:
                route = bucket.routes[found.lastgroup]
                return route.operation, {label: unquote_label(found.group(group))
                                         for group, label in route.labels}
        return None


def compile_route(operation: str, http: Mapping[str, str], *, deprecated: bool = False) -> Route:
    """The :class:`Route` of one operation's ``http`` trait. Of two operations with the same route
    (S3's PutBucketNotification and PutBucketNotificationConfiguration) the deprecated one loses."""
    method = http.get("method", "POST").upper()
    uri = http.get("requestUri", "/")
    template, _, literal_query = uri.partition("?")
    query = tuple((key, value if "=" in part else None)
                  for part in literal_query.split("&") if part
                  for key, _, value in [part.partition("=")])
    parts: list[str] = []
    labels: list[tuple[str, str]] = []
    last = 0
    literal_chars = 0
    greedy = 0
    body = template.rstrip("/") if template != "/" else ""
    for index, found in enumerate(_LABEL.finditer(body)):
        literal = body[last:found.start()]
        literal_chars += len(literal)
        parts.append(re.escape(literal))
        name = found.group(1)
        group = f"g{index}"
        if name.endswith("+"):
            greedy += 1
            parts.append(f"(?P<{group}>.+)")
            name = name[:-1]
        else:
            parts.append(f"(?P<{group}>[^/]+)")
        labels.append((group, name))
        last = found.end()
    literal_chars += len(body) - last
    parts.append(re.escape(body[last:]))
    # A trailing slash is optional on the wire: models spell some URIs with one and clients differ.
    pattern = "".join(parts) + "/?"
    # More literal text first and greedy labels last, so /tags/{Arn}/x wins over /tags/{Arn+}.
    rank = (-len(query), greedy, -literal_chars, deprecated)
    return Route(operation, method, template, tuple(labels), query, pattern, rank)


def _bucket(routes: list[Route]) -> _Bucket:
    # One alternation per bucket; each alternative's outer group is named after its index so that
    # ``match.lastgroup`` (the last group to close, i.e. the outer one) names the route.
    alternatives = []
    names: dict[str, Route] = {}
    for index, route in enumerate(routes):
        outer = f"r{index}"
        inner = route.pattern
        renamed = []
        for group, label in route.labels:
            unique = f"{outer}_{group}"
            inner = inner.replace(f"(?P<{group}>", f"(?P<{unique}>", 1)
            renamed.append((unique, label))
        names[outer] = Route(route.operation, route.method, route.template, tuple(renamed), route.query,
                             inner, route.rank)
        alternatives.append(f"(?P<{outer}>{inner})")
    return _Bucket(re.compile("|".join(alternatives)), names)


def _key(route: Route) -> tuple[str, str, int]:
    # Routes are grouped by method, first path segment and segment count, so a lookup tries a
    # handful of alternatives. A label cannot span a "/", except greedy ones: those, and routes
    # that start with a label, go to the (method, "*", 0) group tried second.
    template = route.template.rstrip("/") or "/"
    end = template.find("/", 1)
    segment = template[1:end] if end > 0 else template[1:]
    if "{" in segment or "+}" in template:
        return route.method, _ANY, 0
    return route.method, segment, template.count("/") - template.endswith("/")
