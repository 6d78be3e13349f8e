"""Stack records on the server (``/_lamina/stacks``, :mod:`lamina.deploy.endpoints`), and ``lamina stacks``.

Every failure to talk to the server is a :class:`StackStoreError` whose text says what happened.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

import typer

from lamina.cli import remote
from lamina.deploy.state import StackState


class StackStoreError(Exception):
    """The server could not be reached or refused a stack record request."""


class StackStore:
    """The stack records of one region on one Lamina server."""

    def __init__(self, endpoint: str, region: str) -> None:
        self.endpoint = endpoint
        self.region = region

    def info(self) -> dict[str, Any]:
        """``{"region", "accountId", "stacks": [...]}``; also the first contact, so it says when
        the server cannot be reached."""
        answer = self._call("GET", "")
        assert isinstance(answer, dict)
        return answer

    def get(self, name: str) -> StackState | None:
        answer = self._call("GET", name, missing_ok=True)
        return None if answer is None else StackState.from_doc(answer["document"])

    def put(self, state: StackState) -> None:
        self._call("PUT", state.name, json.dumps(state.to_doc()).encode())

    def delete(self, name: str) -> None:
        self._call("DELETE", name, missing_ok=True)

    def _call(self, method: str, name: str, body: bytes | None = None, *, missing_ok: bool = False) -> Any:
        url = f"{self.endpoint}/_lamina/stacks{'/' + quote(name) if name else ''}?{urlencode({'region': self.region})}"
        headers = remote.signed_headers(method, url, body, self.region,
                                        {"content-type": "application/json"} if body else {})
        request = urllib.request.Request(url, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                data = answer.read()
                return json.loads(data) if data else {}
        except urllib.error.HTTPError as error:
            with error:
                if error.code == 404 and missing_ok:
                    return None
                try:
                    message = json.loads(error.read() or b"{}").get("message", str(error))
                except ValueError:
                    message = str(error)
                raise StackStoreError(f"{method} {url}: {message}") from None
        except (OSError, ValueError) as error:
            raise StackStoreError(f"cannot reach Lamina at {self.endpoint}: {error}") from None


def run(*, output: str, endpoint: str | None, region: str | None) -> None:
    """``lamina stacks``: the region's stacks with their status and size."""
    store = StackStore(remote.endpoint(endpoint), remote.region(region))
    try:
        info = store.info()
    except StackStoreError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None
    if output == "json":
        typer.echo(json.dumps(info["stacks"], indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Stacks in {info['region']}")
    for heading in ("stack", "status", "resources", "last modified (UTC)"):
        table.add_column(heading, justify="right" if heading == "resources" else "left")
    for item in info["stacks"]:
        modified = datetime.fromtimestamp(item["lastModified"], UTC).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(item["name"], item["status"] or "", str(item["resources"]), modified)
    Console().print(table)
