"""Identifiers: request ids in AWS's shape, cheap enough for the invoke path."""

from __future__ import annotations

import random


def new_request_id() -> str:
    """A random (version 4) UUID string, as AWS request ids look.

    ``str(uuid.uuid4())`` costs ~5 µs (a urandom syscall and a UUID object) on every request; a
    request id must be unique, not secret, so the process PRNG (reseeded on fork) does.
    """
    value = random.getrandbits(128) & ~(0xF << 76) & ~(0x3 << 62) | (0x4 << 76) | (0x2 << 62)
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
