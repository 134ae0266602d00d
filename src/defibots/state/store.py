"""The market-state store: every protocol's part of the state, updated from logs, rolled back on reorgs.

A protocol joins by subclassing `StatePart`: it says which log topics it follows, which of its entries a
log touches, and what those entries become. The store does the rest the same way for every protocol:

- updates only move forward: a log at or before an entry's (block, log index) stamp is stale and ignored
  (counted), so a repeated or out-of-order delivery can never rewind a model;
- every change keeps the entry's previous value under the block that changed it, so a reorg is a rollback
  of the dropped blocks plus a replay, not a reload (entries are immutable, so keeping one is free);
- loading is the chain side's business (it has the I/O): a `PartLoader` per part, for the first load and
  for a reload after a reorg deeper than the kept history.

Pure: no I/O, so strategies read the state without pulling in any client code.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from defibots.events import Event

END_OF_BLOCK = 2**31
"""Log index stamped on loaded snapshots: they hold the state after every log of their block."""


class StateLog(Protocol):
    """What the store needs of a log (the listener's LogEvent has it)."""

    @property
    def address(self) -> str: ...
    @property
    def topics(self) -> tuple[str, ...]: ...
    @property
    def data(self) -> bytes: ...
    @property
    def block_number(self) -> int: ...
    @property
    def log_index(self) -> int: ...


class Stamped(Protocol):
    """An entry of the state: immutable, stamped with the (block, log index) it reflects."""

    @property
    def block_number(self) -> int: ...
    @property
    def log_index(self) -> int: ...


class MalformedLog(ValueError):
    """A followed event whose topics or data do not have the event's shape."""


E = TypeVar("E", bound=Stamped)
P = TypeVar("P", bound="StatePart[Any]")

PartLoader = Callable[[], Awaitable[dict[str, E]]]
"""Fresh entries of one part, all read at one block (async: a reload must not block the event loop)."""


class StatePart(ABC, Generic[E]):
    """One protocol's share of the state: entries by key (an address, or a composite key)."""

    name: ClassVar[str]
    topics: ClassVar[tuple[str, ...]]
    """topic0 of every log this part follows (the listener's filter is the union over parts)."""

    def __init__(self, entries: Iterable[tuple[str, E]] = ()) -> None:
        self.entries: dict[str, E] = dict(entries)
        self._lower = {key.lower(): key for key in self.entries}

    def __contains__(self, key: str) -> bool:
        return key in self.entries or key.lower() in self._lower

    def get(self, key: str) -> E | None:
        return self.entries.get(key) or self.entries.get(self._lower.get(key.lower(), ""))

    def _set(self, key: str, entry: E) -> None:
        if key not in self.entries:
            self._lower[key.lower()] = key
        self.entries[key] = entry

    def _drop(self, key: str) -> None:
        self.entries.pop(key, None)
        self._lower.pop(key.lower(), None)

    def observe_block(self, number: int, timestamp: int) -> None:
        """A block header, before its logs: parts whose logs need the block's time (Aave) keep it."""

    @abstractmethod
    def affected(self, log: StateLog) -> Sequence[str]:
        """Keys of the existing entries `log` changes (empty: not this part's); cheap, no decoding."""

    @abstractmethod
    def transition(self, log: StateLog) -> dict[str, E]:
        """The new entries after `log` (reading the current ones); raises MalformedLog. Never mutates."""

    @abstractmethod
    def updated(self, chain_id: int, block_number: int, keys: tuple[str, ...], reorg: bool) -> Event:
        """The bus event announcing changed entries (each protocol defines its own event type)."""


@dataclass
class StoreStats:
    applied: int = 0
    stale: int = 0
    malformed: int = 0
    rollbacks: int = 0


Changes = dict[str, tuple[str, ...]]
"""Changed keys by part name."""


class MarketState:
    """The parts, plus per recent block each changed entry's previous value (None: it did not exist)."""

    def __init__(self, parts: Iterable[StatePart[Any]], history_blocks: int = 64) -> None:
        self.parts: dict[str, StatePart[Any]] = {}
        for part in parts:
            if part.name in self.parts:
                raise ValueError(f"two state parts named {part.name}")
            self.parts[part.name] = part
        self._by_topic: dict[str, list[StatePart[Any]]] = {}
        for part in self.parts.values():
            for topic in part.topics:
                self._by_topic.setdefault(topic, []).append(part)
        self.history_blocks = history_blocks
        self._undo: OrderedDict[int, dict[tuple[str, str], Any]] = OrderedDict()
        self._horizon = self.head()
        """Changes up to this block cannot be undone (loaded, or their undo entries were dropped)."""
        self.stats = StoreStats()

    def part(self, kind: type[P]) -> P:
        """The part of type `kind`; KeyError when this store does not hold one."""
        part = self.parts.get(kind.name)
        if not isinstance(part, kind):
            raise KeyError(f"no {kind.name} state in this store")
        return part

    def topics(self) -> list[str]:
        return list(self._by_topic)

    def observe_block(self, number: int, timestamp: int) -> None:
        for part in self.parts.values():
            part.observe_block(number, timestamp)

    def head(self) -> int:
        """The newest block any entry reflects (0 when empty)."""
        return max((e.block_number for p in self.parts.values() for e in p.entries.values()), default=0)

    def apply(self, log: StateLog) -> Changes:
        """Apply one log to every part that follows it; stale or malformed logs are ignored (counted)."""
        topic0 = log.topics[0] if log.topics else ""
        changes: Changes = {}
        for part in self._by_topic.get(topic0, ()):
            keys = part.affected(log)
            if not keys:
                continue
            stamp = (log.block_number, log.log_index)
            if any(stamp <= (e.block_number, e.log_index) for k in keys if (e := part.get(k)) is not None):
                self.stats.stale += 1
                continue
            try:
                new = part.transition(log)
            except MalformedLog:
                self.stats.malformed += 1
                continue
            undo = self._block_undo(log.block_number)
            for key, entry in new.items():
                undo.setdefault((part.name, key), part.entries.get(key))
                part._set(key, entry)
            self.stats.applied += 1
            changes[part.name] = tuple(new)
        return changes

    def apply_many(self, logs: Iterable[StateLog]) -> Changes:
        """Apply logs in order; the union of what changed, keys in first-change order."""
        merged: dict[str, dict[str, None]] = {}
        for log in logs:
            for name, keys in self.apply(log).items():
                merged.setdefault(name, {}).update(dict.fromkeys(keys))
        return {name: tuple(keys) for name, keys in merged.items()}

    def _block_undo(self, block: int) -> dict[tuple[str, str], Any]:
        undo = self._undo.get(block)
        if undo is None:
            undo = self._undo[block] = {}
            while len(self._undo) > self.history_blocks:
                forgotten, _ = self._undo.popitem(last=False)
                self._horizon = max(self._horizon, forgotten)
        return undo

    def rollback(self, fork_block: int) -> Changes:
        """Undo every change from blocks after `fork_block`; returns what changed back.

        Raises LookupError when the fork is older than the kept history (the caller must reload).
        """
        if fork_block < self._horizon:
            raise LookupError(f"reorg at {fork_block} is below the kept history (from {self._horizon})")
        dropped = [b for b in self._undo if b > fork_block]
        restored: dict[str, dict[str, None]] = {}
        for block in sorted(dropped, reverse=True):
            for (name, key), previous in self._undo.pop(block).items():
                part = self.parts[name]
                if previous is None:
                    part._drop(key)
                else:
                    part._set(key, previous)
                restored.setdefault(name, {})[key] = None
        self.stats.rollbacks += 1
        return {name: tuple(keys) for name, keys in restored.items()}

    def replace(self, part_name: str, entries: Mapping[str, Any]) -> None:
        """Adopt freshly loaded entries of one part (after a reload); the kept history no longer applies."""
        part = self.parts[part_name]
        for key, entry in entries.items():
            part._set(key, entry)
        self._undo.clear()
        self._horizon = max(self._horizon, self.head())

    def events(self, chain_id: int, block_number: int, changes: Changes, reorg: bool = False) -> list[Event]:
        """One bus event per changed part, in the parts' order."""
        return [
            part.updated(chain_id, block_number, changes[name], reorg)
            for name, part in self.parts.items()
            if name in changes
        ]
