"""The bus's own types: the `Event` base every source's events derive from, per-stage `Stamps`, and the
engine's `Timer` tick.

The bus knows no source: each source module defines its own event types (chain/events.py for blocks,
pool changes and pending transactions; cex/events.py for order-book tops), so this module imports
nothing from chain/, cex/ or any protocol.

Events are frozen: one event may fan out to several strategies, so nobody may change what it says.
Only its `Stamps` (excluded from equality and hashing) is written to, by the engine, as it moves on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

Stage = Literal["received", "queued", "dispatched", "decided", "simulated", "sent"]
STAGES: tuple[Stage, ...] = ("received", "queued", "dispatched", "decided", "simulated", "sent")


@dataclass(slots=True)
class Stamps:
    """`time.perf_counter_ns()` when an event or action reached each stage; 0 means not reached.

    received: a collector turned outside data into the event; queued: the engine put it on a strategy's
    queue; dispatched: a strategy started on it; decided: the strategy returned the action; simulated /
    sent: the executor finished simulating / handed it to the network.
    """

    received: int = 0
    queued: int = 0
    dispatched: int = 0
    decided: int = 0
    simulated: int = 0
    sent: int = 0

    @classmethod
    def now(cls) -> Stamps:
        return cls(received=time.perf_counter_ns())

    def mark(self, stage: Stage, at: int | None = None) -> int:
        """Record `stage` now (or at `at`) and return the timestamp."""
        value = time.perf_counter_ns() if at is None else at
        setattr(self, stage, value)
        return value

    def mark_once(self, stage: Stage) -> None:
        """Record `stage` only if it has not been reached yet (first strategy to pick an event up)."""
        if not getattr(self, stage):
            setattr(self, stage, time.perf_counter_ns())


@dataclass(frozen=True, slots=True)
class Event:
    """Base of everything on the bus."""

    stamps: Stamps = field(default_factory=Stamps.now, compare=False, hash=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class Timer(Event):
    """A clock tick: `tick` counts from 0 for each named timer."""

    name: str
    tick: int
    interval_s: float
