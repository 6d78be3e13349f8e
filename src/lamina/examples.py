"""Seeding the example functions shipped in ``examples/`` (used by ``make run``).

Each example folder with a ``function.json`` (CreateFunction members: FunctionName, Runtime,
Handler, optional MemorySize, Timeout, Environment) becomes a function whose code is the folder's
``src/`` zipped. Existing functions are left alone.
"""

from __future__ import annotations

import io
import json
import logging
import zipfile
from pathlib import Path

from lamina.config import Settings
from lamina.registry.functions import FunctionRegistry
from lamina.registry.model import Code, FunctionVersion
from lamina.services.lambda_.shapes import configuration_changes

log = logging.getLogger(__name__)


def zip_folder(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                archive.write(path, path.relative_to(folder).as_posix())
    return buffer.getvalue()


async def deploy(settings: Settings, registry: FunctionRegistry, examples: Path) -> list[str]:
    """Create the example functions that don't exist yet; returns their names."""
    deployed: list[str] = []
    for spec_file in sorted(examples.glob("*/function.json")):
        spec = json.loads(spec_file.read_text())
        name = spec["FunctionName"]
        if registry.find(settings.region, name) is not None:
            continue
        fn = FunctionVersion(region=settings.region, account_id=settings.account_id, name=name,
                             runtime=spec["Runtime"], handler=spec["Handler"],
                             role=f"arn:aws:iam::{settings.account_id}:role/lamina-example",
                             code=Code("", "", 0), revision_id="", last_modified="")
        fn = fn.replace(**configuration_changes(spec))
        await registry.create(fn, zip_folder(spec_file.parent / "src"))
        deployed.append(name)
    return deployed

