"""``lamina doctor``: what works on this machine, and why not when it doesn't."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

from lamina import __version__, native, priority
from lamina.config import Settings
from lamina.invoker import runtimes
from lamina.sandbox import init as native_init
from lamina.sandbox import jail
from lamina.sandbox.spawner import Spawner, ZygoteConfig


async def _isolation(settings: Settings) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="lamina-doctor-") as scratch:
        code = Path(scratch) / "code"
        code.mkdir()
        init = native_init.build_quietly(native_init.cache_folder(Path(scratch)))
        spawner = Spawner(ZygoteConfig(settings.isolation, str(code), (scratch,), scratch, init))
        try:
            features: dict[str, Any] = await asyncio.wait_for(
                spawner.zygote(runtimes.default_python(settings)).features(), 30)
        finally:
            spawner.close()
    return features


def _port(settings: Settings) -> dict[str, str]:
    try:
        with urllib.request.urlopen(f"{settings.endpoint}/_lamina/health", timeout=1) as answer:
            version = json.loads(answer.read()).get("version", "?")
            return {"state": "on", "reason": f"Lamina {version} is running at {settings.endpoint}"}
    except OSError:
        pass
    with socket.socket() as sock:
        try:
            sock.bind((settings.host, settings.port))
        except OSError as error:
            return {"state": "unavailable", "reason": f"{settings.host}:{settings.port} is taken: {error.strerror}"}
    return {"state": "on", "reason": f"{settings.host}:{settings.port} is free"}


def _data_dir(settings: Settings) -> dict[str, str]:
    path = settings.data_dir.resolve()
    probe = path if path.exists() else next((p for p in path.parents if p.exists()), Path("/"))
    if os.access(probe, os.W_OK):
        return {"state": "on", "reason": f"{path} is writable"}
    return {"state": "unavailable", "reason": f"{path} is not writable"}


#: Above this many cgroups on the machine, cold starts and warm invokes measurably slow down.
MANY_CGROUPS = 5000


def _cgroups() -> dict[str, str]:
    """How many cgroups the machine has and how many of them are dead zygotes' (Lamina's) leftovers."""
    count = jail.cgroup_count()
    if count is None:
        return {"state": "unavailable", "reason": "no cgroup hierarchy found"}
    stale = jail.stale_cgroup_trees()
    leftovers = f"; {stale} stale Lamina trees (removed when `lamina serve` starts)" if stale else ""
    if count > MANY_CGROUPS:
        return {"state": "off", "reason": f"{count} cgroups{leftovers}: above {MANY_CGROUPS}, every cold "
                "start and warm invoke slows down (the kernel walks them)"}
    return {"state": "on", "reason": f"{count} cgroups{leftovers}"}


def _realtime(settings: Settings) -> dict[str, str]:
    state, reason = priority.probe(settings.realtime)
    return {"state": state, "reason": reason}


def report(settings: Settings) -> dict[str, Any]:
    """Every check as ``{"state": on|off|unavailable, "reason": ...}``, grouped."""
    pythons = runtimes.pythons()
    node = runtimes.node()
    found: dict[str, Any] = {
        f"python{major}.{minor}": {"state": "on", "reason": path}
        for (major, minor), path in sorted(pythons.items())}
    found["nodejs"] = ({"state": "on", "reason": f"{node[0]} {node[1]}"} if node
                       else {"state": "unavailable", "reason": "node is not on PATH"})
    found["provided.al2023"] = {"state": "on", "reason": "the function's own bootstrap"}
    return {
        "version": __version__,
        "python": sys.executable,
        "runtimes": found,
        "isolation": asyncio.run(_isolation(settings)),
        "server": {"port": _port(settings), "data_dir": _data_dir(settings), "cgroups": _cgroups(),
                   "realtime": _realtime(settings),
                   "compiled": {"state": native.STATE[0], "reason": native.STATE[1]}},
    }


def render(data: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"Lamina {data['version']} on {data['python']}")
    colours = {"on": "green", "off": "yellow", "unavailable": "red"}
    for group in ("runtimes", "isolation", "server"):
        table = Table(title=group, title_justify="left")
        table.add_column("feature")
        table.add_column("state")
        table.add_column("why")
        for name, item in data[group].items():
            colour = colours.get(item["state"], "white")
            table.add_row(name, f"[{colour}]{item['state']}[/{colour}]", item["reason"])
        console.print(table)
