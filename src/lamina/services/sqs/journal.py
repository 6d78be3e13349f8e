"""Group commit for the queue domain (see :mod:`lamina.store.journal`)."""

from __future__ import annotations

from lamina.clock import Clock
from lamina.store.journal import GroupCommit
from lamina.store.queues import QueueOp, QueueStore


def journal(store: QueueStore, clock: Clock) -> GroupCommit[QueueOp]:
    """Group commit of queue changes: a send answers only after its message is committed."""
    return GroupCommit(lambda ops: store.apply(ops, clock.time()), "sqs-journal")
