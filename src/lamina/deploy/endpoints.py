"""The server's side of stack state, beside ``/_lamina/health``:

- ``GET /_lamina/stacks?region=R``: ``{"region", "accountId", "stacks": [{"name", "status",
  "resources", "lastModified"}]}``, the region's stacks (default: the server's region);
- ``GET /_lamina/stacks/<name>?region=R``: ``{"name", "region", "lastModified", "document"}``, 404 if none;
- ``PUT /_lamina/stacks/<name>?region=R`` with a JSON object: store it as the stack's document;
- ``DELETE /_lamina/stacks/<name>?region=R``: forget the stack (204; 404 if none).

The document is the deploy engine's record (:mod:`lamina.deploy.state`); the server only reads its
``status`` and ``resources`` for the listing. ``handle`` answers None for other paths.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any
from urllib.parse import parse_qs, unquote

from lamina.clock import Clock
from lamina.config import Settings
from lamina.store.stacks import StackStore, StoredStack

PREFIX = "/_lamina/stacks"
Answer = tuple[int, list[tuple[bytes, bytes]], bytes]
#: CloudFormation's stack name rule.
STACK_NAME = re.compile(r"[a-zA-Z][-a-zA-Z0-9]{0,127}")


def _json(status: int, body: Any) -> Answer:
    return status, [(b"content-type", b"application/json")], json.dumps(body).encode()


async def handle(stacks: StackStore, settings: Settings, clock: Clock, method: str, path: str, query: str,
                 body: bytes) -> Answer | None:
    if path != PREFIX and not path.startswith(PREFIX + "/"):
        return None
    args = {key: values[-1] for key, values in parse_qs(query).items()}
    region = args.get("region") or settings.region
    name = unquote(path[len(PREFIX) + 1:]) if path != PREFIX else ""
    if not name:
        if method != "GET":
            return _json(405, {"message": f"{method} is not allowed on {PREFIX}"})
        found = await asyncio.to_thread(stacks.list, region)
        return _json(200, {"region": region, "accountId": settings.account_id,
                           "stacks": [_summary(item) for item in found]})
    if not STACK_NAME.fullmatch(name):
        return _json(400, {"message": f"Invalid stack name {name!r}: it must match {STACK_NAME.pattern}"})
    if method == "GET":
        stored = await asyncio.to_thread(stacks.get, region, name)
        if stored is None:
            return _json(404, {"message": f"Stack {name} does not exist in {region}."})
        return _json(200, {"name": name, "region": region, "lastModified": stored.updated_at,
                           "document": stored.document})
    if method == "PUT":
        try:
            document = json.loads(body)
        except ValueError as error:
            return _json(400, {"message": f"The stack document is not JSON: {error}"})
        if not isinstance(document, dict):
            return _json(400, {"message": "The stack document must be a JSON object."})
        now = clock.time()
        await asyncio.to_thread(stacks.put, region, name, document, now)
        return _json(200, {"name": name, "region": region, "lastModified": now})
    if method == "DELETE":
        if not await asyncio.to_thread(stacks.delete, region, name):
            return _json(404, {"message": f"Stack {name} does not exist in {region}."})
        return 204, [], b""
    return _json(405, {"message": f"{method} is not allowed on {PREFIX}/<name>"})


def _summary(item: StoredStack) -> dict[str, Any]:
    resources = item.document.get("resources")
    return {"name": item.name, "status": item.document.get("status"),
            "resources": len(resources) if isinstance(resources, dict) else 0, "lastModified": item.updated_at}
