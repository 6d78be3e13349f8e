"""A migrated SQLite store per test (the real one: the SQL is part of what is tested)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lamina.store.db import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store(f"sqlite:///{tmp_path / 'lamina.db'}")
    opened.migrate()
    yield opened
    opened.close()
