"""The HTTP exchange as the protocol edge sees it: plain values, no server objects.

The transport (uvicorn/starlette) builds an :class:`HttpRequest` from the wire and writes an
:class:`HttpResponse` back; everything in :mod:`lamina.aws` is testable without a socket.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote, unquote_plus


# Not frozen, by convention never changed: built per invocation, and frozen costs ~5x to build
# (docs/performance.md, "Late evening: telemetry in its own process").
@dataclass(slots=True)
class HttpRequest:
    """One request.

    ``path`` is the raw, still percent-encoded path without the query (SigV4 signs it in that form
    and greedy labels must keep their ``/``); ``query`` is the raw query string without ``?``;
    ``headers`` keys are lower-cased by the transport (repeated headers joined with ``,``).
    """

    method: str
    path: str
    query: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(slots=True)
class HttpResponse:
    """One response. ``headers`` is a list because a name may repeat; names keep their case."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or None."""
        lname = name.lower()
        for key, value in self.headers:
            if key.lower() == lname:
                return value
        return None


def parse_query(query: str) -> dict[str, list[str]]:
    """``a=1&b=x%20y&a=2`` -> ``{"a": ["1", "2"], "b": ["x y"]}``; blank values are kept.

    Form decoding (``+`` is a space) like :func:`urllib.parse.parse_qsl`, at a fifth of its cost:
    most values need no unquoting at all, and this runs on every request with a query.
    """
    out: dict[str, list[str]] = {}
    for part in query.split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        if "%" in key or "+" in key:
            key = _unquote(key)
        if "%" in value or "+" in value:
            value = _unquote(value)
        found = out.get(key)
        if found is None:
            out[key] = [value]
        else:
            found.append(value)
    return out


def unquote_label(text: str) -> str:
    """Percent-decode a path label (``+`` stays ``+`` in a path)."""
    if "%" not in text:
        return text
    return _unquote_path(text) if len(text) <= _SHORT else unquote(text)


def _unquote(text: str) -> str:
    return _unquote_plus(text) if len(text) <= _SHORT else unquote_plus(text)


# urllib's unquote costs about a microsecond; the hot path decodes the same few short strings
# (``%24LATEST``, encoded ARNs) again and again.
_SHORT = 128
_unquote_plus = functools.lru_cache(maxsize=4096)(unquote_plus)
_unquote_path = functools.lru_cache(maxsize=4096)(unquote)
