"""The HTTP exchange as the protocol edge sees it: plain values, no server objects.

The transport (uvicorn/starlette) builds an :class:`HttpRequest` from the wire and writes an
:class:`HttpResponse` back; everything in :mod:`lamina.aws` is testable without a socket.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
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
