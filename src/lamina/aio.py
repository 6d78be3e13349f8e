"""Small asyncio helpers shared by the platform's background loops."""

from __future__ import annotations

import asyncio


async def wait_event(event: asyncio.Event, timeout_s: float) -> bool:
    """Wait until ``event`` is set or ``timeout_s`` seconds pass; True when it was set.

    Not ``asyncio.wait_for``: on Python 3.11 it returns normally instead of raising when the waiting
    task is cancelled just as the event is set (https://github.com/python/cpython/issues/86296), so a
    loop that waits that way can outlive the cancel meant to end it; the telemetry link's stop once
    waited forever because of it. ``asyncio.timeout`` lets the cancellation through, and needs no
    extra task per wait.
    """
    try:
        async with asyncio.timeout(timeout_s):
            await event.wait()
    except TimeoutError:
        return False
    return True
