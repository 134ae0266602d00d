"""GMX EventEmitter logs (EventLog, EventLog1, EventLog2) as typed `GmxEvent`s, and pickers for the order
and position events of a receipt.

Every GMX event is one of three EventEmitter events carrying the event's name and an EventLogData: seven
typed key/value lists (address, uint, int, bool, bytes32, bytes, string), each with single `items` and
`arrayItems`. `GmxEvent.items` flattens them into one dict by key (arrays as tuples). The ABI types come
from the SDK's EventEmitter ABI.

Orders are EventLog2 (topic1 = order key, topic2 = account as bytes32); PositionIncrease/Decrease are
EventLog1 with topic1 = account, PositionFeesCollected EventLog1 with topic1 = market.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from eth_abi import decode
from eth_utils import keccak, to_checksum_address

from defibots.chain.calldata_decoder import canonical_type
from defibots.chain.gmx.abis import AbiEntry, event_topic, find_entry

ORDER_CREATED = "OrderCreated"
ORDER_EXECUTED = "OrderExecuted"
ORDER_UPDATED = "OrderUpdated"
ORDER_CANCELLED = "OrderCancelled"
ORDER_FROZEN = "OrderFrozen"
POSITION_INCREASE = "PositionIncrease"
POSITION_DECREASE = "PositionDecrease"
POSITION_FEES_COLLECTED = "PositionFeesCollected"

ORDER_OUTCOMES = (ORDER_EXECUTED, ORDER_CANCELLED, ORDER_FROZEN)

# EventLogData's item groups in ABI order.
ITEM_GROUPS = (
    "addressItems",
    "uintItems",
    "intItems",
    "boolItems",
    "bytes32Items",
    "bytesItems",
    "stringItems",
)


class GmxEventError(ValueError):
    """A log with an EventEmitter topic0 whose body does not decode as GMX's EventLogData."""


@dataclass(frozen=True, slots=True)
class GmxEvent:
    """One GMX event. topic1/topic2 are the indexed bytes32 topics (None where the log has none)."""

    name: str
    topic1: bytes | None
    topic2: bytes | None
    items: Mapping[str, Any]
    msg_sender: str
    emitter: str
    log_index: int | None = None

    def uint(self, key: str) -> int:
        value = self.items[key]
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"{self.name}.{key} is not a number")
        return value

    def address(self, key: str) -> str:
        value = self.items[key]
        if not isinstance(value, str) or not value.startswith("0x"):
            raise TypeError(f"{self.name}.{key} is not an address")
        return value

    def flag(self, key: str) -> bool:
        value = self.items[key]
        if not isinstance(value, bool):
            raise TypeError(f"{self.name}.{key} is not a bool")
        return value

    def raw(self, key: str) -> bytes:
        """A bytes32 or bytes item."""
        value = self.items[key]
        if not isinstance(value, bytes):
            raise TypeError(f"{self.name}.{key} is not bytes")
        return value


@dataclass(frozen=True, slots=True)
class _Layout:
    name: str
    indexed_topics: int  # bytes32 topics after topic0 and the eventNameHash
    data_types: tuple[str, ...]


@cache
def _layouts() -> dict[bytes, _Layout]:
    out = {}
    for name in ("EventLog", "EventLog1", "EventLog2"):
        entry: AbiEntry = find_entry("EventEmitter", name, kind="event")
        indexed = [i for i in entry["inputs"] if i["indexed"]]
        body = tuple(canonical_type(i) for i in entry["inputs"] if not i["indexed"])
        out[event_topic(entry)] = _Layout(name, len(indexed) - 1, body)
    return out


def event_log_topics() -> dict[str, bytes]:
    """topic0 of EventLog / EventLog1 / EventLog2."""
    return {layout.name: topic for topic, layout in _layouts().items()}


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, str):
        return bytes.fromhex(value.removeprefix("0x"))
    return bytes(value)


def _checksummed(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(to_checksum_address(v) for v in value)
    return to_checksum_address(value)


def _flatten(event_data: tuple[Any, ...]) -> dict[str, Any]:
    """EventLogData's seven groups (address first) of (items, arrayItems) as one dict; arrays as tuples."""
    items: dict[str, Any] = {}
    for group_name, (singles, arrays) in zip(ITEM_GROUPS, event_data, strict=True):
        for key, value in (*singles, *arrays):
            if group_name == "addressItems":
                value = _checksummed(value)
            items[key] = tuple(value) if isinstance(value, (list, tuple)) else value
    return items


def is_event_log(log: Mapping[str, Any]) -> bool:
    topics = log.get("topics") or []
    return bool(topics) and _as_bytes(topics[0]) in _layouts()


def decode_event_log(log: Mapping[str, Any]) -> GmxEvent:
    """A web3 log (dict with topics, data, address, logIndex) from the EventEmitter, decoded."""
    topics = [_as_bytes(t) for t in log["topics"]]
    layout = _layouts().get(topics[0]) if topics else None
    if layout is None:
        raise GmxEventError("not an EventEmitter EventLog/EventLog1/EventLog2 log")
    if len(topics) != 2 + layout.indexed_topics:
        raise GmxEventError(f"{layout.name} has {len(topics)} topics")
    try:
        msg_sender, name, event_data = decode(list(layout.data_types), _as_bytes(log["data"]))
    except Exception as exc:
        raise GmxEventError(f"{layout.name} data does not decode: {exc}") from exc
    if keccak(text=name) != topics[1]:
        raise GmxEventError(f"{layout.name} eventNameHash does not match eventName {name!r}")
    extra = topics[2:]
    return GmxEvent(
        name=name,
        topic1=extra[0] if extra else None,
        topic2=extra[1] if len(extra) > 1 else None,
        items=_flatten(event_data),
        msg_sender=to_checksum_address(msg_sender),
        emitter=to_checksum_address(log["address"]),
        log_index=log.get("logIndex"),
    )


def gmx_events(logs: Iterable[Mapping[str, Any]], emitter: str | None = None) -> list[GmxEvent]:
    """The GMX events among `logs` (e.g. receipt["logs"]), in log order.

    With `emitter`, only that EventEmitter's logs count and a malformed one raises GmxEventError; without
    it, logs of other contracts that happen to share the topic0 but do not decode are skipped.
    """
    out = []
    for log in logs:
        if not is_event_log(log):
            continue
        if emitter is not None:
            if str(log["address"]).lower() != emitter.lower():
                continue
            out.append(decode_event_log(log))
            continue
        try:
            out.append(decode_event_log(log))
        except GmxEventError:
            continue
    return out


def events_named(logs: Iterable[Mapping[str, Any]], name: str, emitter: str | None = None) -> list[GmxEvent]:
    return [e for e in gmx_events(logs, emitter) if e.name == name]


def order_created(logs: Iterable[Mapping[str, Any]], emitter: str | None = None) -> list[GmxEvent]:
    return events_named(logs, ORDER_CREATED, emitter)


def order_executed(logs: Iterable[Mapping[str, Any]], emitter: str | None = None) -> list[GmxEvent]:
    return events_named(logs, ORDER_EXECUTED, emitter)


def order_cancelled(logs: Iterable[Mapping[str, Any]], emitter: str | None = None) -> list[GmxEvent]:
    return events_named(logs, ORDER_CANCELLED, emitter)


def order_frozen(logs: Iterable[Mapping[str, Any]], emitter: str | None = None) -> list[GmxEvent]:
    return events_named(logs, ORDER_FROZEN, emitter)


def position_increases(logs: Iterable[Mapping[str, Any]], emitter: str | None = None) -> list[GmxEvent]:
    return events_named(logs, POSITION_INCREASE, emitter)


def position_decreases(logs: Iterable[Mapping[str, Any]], emitter: str | None = None) -> list[GmxEvent]:
    return events_named(logs, POSITION_DECREASE, emitter)


def position_fees_collected(logs: Iterable[Mapping[str, Any]], emitter: str | None = None) -> list[GmxEvent]:
    return events_named(logs, POSITION_FEES_COLLECTED, emitter)


def created_order_keys(logs: Iterable[Mapping[str, Any]], emitter: str | None = None) -> list[bytes]:
    """The keys of the orders a transaction created (OrderCreated topic1), in creation order."""
    return [e.topic1 for e in order_created(logs, emitter) if e.topic1 is not None]


def order_outcome(
    logs: Iterable[Mapping[str, Any]], order_key: bytes, emitter: str | None = None
) -> GmxEvent | None:
    """The OrderExecuted / OrderCancelled / OrderFrozen event for `order_key`, if the logs hold one."""
    for e in gmx_events(logs, emitter):
        if e.name in ORDER_OUTCOMES and e.topic1 == order_key:
            return e
    return None
