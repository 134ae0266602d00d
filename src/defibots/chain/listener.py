"""Chain listener: new blocks and tracked pool logs as an ordered stream of typed events.

Transport: chain/async_rpc.py (websocket JSON-RPC multiplexer, HTTP polling fallback, reconnects).

Guarantees of `ChainListener.events()`:
- a BlockHeader for every canonical block from the start block on, each exactly once per branch, in
  number order, each followed by its tracked logs (by log index as the node delivers them);
- after a disconnect, the blocks and logs missed are backfilled (eth_getBlockByNumber + eth_getLogs)
  before live notifications resume, without duplicates (blocks by hash, logs by (block hash, log index));
- when the chain reorganises (a head whose parent is not the block we hold at that height), a Reorg
  names the fork block and depth and carries the orphaned logs (removed=True); the new branch's blocks
  and logs follow. The last `reorg_window` blocks are kept to find the fork point.
A log that a node delivers after the next block's header (nodes do not order the two subscriptions) is
still emitted once, and counted in `stats.late_logs`.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from eth_typing import ChecksumAddress

from defibots.chain.async_rpc import (
    AsyncJsonRpc,
    Backoff,
    HttpRpc,
    RpcConnectionError,
    RpcReplyError,
    WsRpc,
    reconnecting,
)
from defibots.chain.router_calls import checksum_hex
from defibots.errors import UserError

# ---------------------------------------------------------------------------------------------------------
# Events


@dataclass(frozen=True, slots=True)
class BlockHeader:
    number: int
    hash: str
    parent_hash: str
    timestamp: int
    base_fee: int | None
    gas_used: int = 0  # with gas_limit and base_fee: the next block's base fee (EIP-1559)
    gas_limit: int = 0


@dataclass(frozen=True, slots=True)
class LogEvent:
    address: ChecksumAddress
    topics: tuple[str, ...]
    data: bytes
    block_number: int
    block_hash: str
    tx_hash: str
    tx_index: int
    log_index: int
    removed: bool = False


@dataclass(frozen=True, slots=True)
class Reorg:
    """The blocks after `fork_block` on the old branch are gone; roll state back to `fork_block`."""

    fork_block: int  # last block both branches share
    depth: int  # blocks dropped from the old branch
    old_head: BlockHeader
    removed_logs: tuple[LogEvent, ...]  # tracked logs of the dropped blocks, newest first, removed=True
    beyond_window: bool = False  # fork older than the kept blocks: the real fork is at or below fork_block


ChainEvent = BlockHeader | LogEvent | Reorg


# ---------------------------------------------------------------------------------------------------------
# Parsing node objects


class MalformedMessage(ValueError):
    """A node object without the fields (or types) the listener needs."""


def _int(value: Any) -> int:
    if isinstance(value, str) and value.startswith("0x"):
        return int(value, 16)
    raise MalformedMessage(f"not a hex quantity: {value!r}")


def _hash(value: Any) -> str:
    if isinstance(value, str) and len(value) == 66 and value.startswith("0x"):
        return value.lower()
    raise MalformedMessage(f"not a 32-byte hash: {value!r}")


def parse_header(obj: Any) -> BlockHeader:
    if not isinstance(obj, dict):
        raise MalformedMessage("block is not an object")
    try:
        base_fee = obj.get("baseFeePerGas")
        return BlockHeader(
            number=_int(obj["number"]),
            hash=_hash(obj["hash"]),
            parent_hash=_hash(obj["parentHash"]),
            timestamp=_int(obj["timestamp"]),
            base_fee=None if base_fee is None else _int(base_fee),
            gas_used=_int(obj["gasUsed"]),
            gas_limit=_int(obj["gasLimit"]),
        )
    except KeyError as exc:
        raise MalformedMessage(f"block without {exc}") from None


def parse_log(obj: Any) -> LogEvent:
    if not isinstance(obj, dict):
        raise MalformedMessage("log is not an object")
    try:
        data = obj.get("data") or "0x"
        topics = obj["topics"]
        if not isinstance(topics, list) or not isinstance(data, str):
            raise MalformedMessage("log topics/data of the wrong type")
        return LogEvent(
            address=checksum_hex(obj["address"]),
            topics=tuple(_hash(t) for t in topics),
            data=bytes.fromhex(data[2:]),
            block_number=_int(obj["blockNumber"]),
            block_hash=_hash(obj["blockHash"]),
            tx_hash=_hash(obj["transactionHash"]),
            tx_index=_int(obj["transactionIndex"]),
            log_index=_int(obj["logIndex"]),
            removed=bool(obj.get("removed", False)),
        )
    except KeyError as exc:
        raise MalformedMessage(f"log without {exc}") from None
    except (ValueError, TypeError) as exc:
        raise MalformedMessage(f"bad log field: {exc}") from None


# ---------------------------------------------------------------------------------------------------------
# The listener


@dataclass
class ListenerStats:
    mode: str = "ws"  # "ws" or "http" (polling)
    reconnects: int = 0
    connection_failures: int = 0  # refused connects and dropped sessions (each retried after a backoff)
    backfilled_blocks: int = 0  # blocks emitted by a catch-up after a disconnect or a missed notification
    reorgs: int = 0
    malformed_messages: int = 0
    late_logs: int = 0  # logs delivered after a later block's header
    removed_notifications: int = 0  # node-sent removed logs (ignored: the listener derives removals itself)


@dataclass
class _BlockRecord:
    header: BlockHeader
    logs: list[LogEvent] = field(default_factory=list)
    log_indexes: set[int] = field(default_factory=set)


class _ChainMoved(Exception):
    """What we fetched does not form one chain: the node switched branches mid-fetch; start over."""


MAX_SYNC_ATTEMPTS = 8
HEADER_BATCH = 100


class ChainListener:
    """Blocks and tracked logs from a node, over websocket subscriptions or HTTP polling.

    Args:
        ws_url: websocket endpoint; None to poll over HTTP. If the first connection is refused and an
            http_url is given, the listener polls instead (and stays in polling mode).
        http_url: HTTP endpoint for polling (eth_getBlockByNumber("latest") + eth_getLogs). Polling asks
            for the latest block rather than eth_blockNumber so that a same-height reorg is seen too.
        addresses: pool addresses whose logs to track.
        topics: eth_getLogs-style topic filter (per position: a topic, a list of topics, or None).
            With no addresses and no topics no logs are tracked (headers only): an empty filter would
            stream every log on chain.
        start_block: first block to emit (backfilled on start); None starts at the current head.
        reorg_window: how many recent blocks are kept to find a fork point.
        max_log_range: blocks per backfill segment (one eth_getLogs call each).
        backoff: delays between reconnects (websocket) or failed polls (HTTP); retried forever.
    """

    def __init__(
        self,
        ws_url: str | None,
        http_url: str | None,
        addresses: Sequence[str] = (),
        topics: Sequence[str | Sequence[str] | None] = (),
        *,
        start_block: int | None = None,
        reorg_window: int = 64,
        poll_interval: float = 1.0,
        request_timeout: float = 10.0,
        max_log_range: int = 2000,
        backoff: Backoff | None = None,
    ) -> None:
        if ws_url is None and http_url is None:
            raise UserError("the chain listener needs a websocket or an HTTP RPC URL")
        self.ws_url = ws_url
        self.http_url = http_url
        self.addresses = [checksum_hex(a) for a in addresses]
        self.topics: list[Any] = [t if t is None or isinstance(t, str) else list(t) for t in topics]
        self.track_logs = bool(self.addresses or self.topics)
        self.start_block = start_block
        self.reorg_window = max(2, reorg_window)
        self.poll_interval = poll_interval
        self.request_timeout = request_timeout
        self.max_log_range = max(1, max_log_range)
        self.backoff = backoff or Backoff()
        self.stats = ListenerStats(mode="ws" if ws_url else "http")
        self._rpc: AsyncJsonRpc | None = None
        self._blocks: OrderedDict[int, _BlockRecord] = OrderedDict()  # contiguous numbers, oldest first
        self._by_hash: dict[str, int] = {}
        self._early_logs: dict[str, list[LogEvent]] = {}  # block hash -> logs that beat their header

    # -- public ------------------------------------------------------------------------------------------

    @property
    def head(self) -> BlockHeader | None:
        """The newest block emitted so far."""
        if not self._blocks:
            return None
        return next(reversed(self._blocks.values())).header

    def log_filter(self) -> dict[str, Any]:
        flt: dict[str, Any] = {}
        if self.addresses:
            flt["address"] = self.addresses
        if self.topics:
            flt["topics"] = self.topics
        return flt

    def events(self) -> AsyncGenerator[ChainEvent, None]:
        """The event stream; runs until the consumer stops iterating. Node outages are retried forever."""
        return reconnecting(self, self._ws_session, self._poll, self._count_malformed, self._forget_rpc)

    def _forget_rpc(self) -> None:
        self._rpc = None

    async def _ws_session(self, ws: WsRpc) -> AsyncGenerator[ChainEvent, None]:
        """One connection's life: subscribe, catch up from our head, then follow notifications."""
        self._rpc = ws
        self._early_logs.clear()
        heads = await ws.subscribe("newHeads")
        logs = await ws.subscribe("logs", self.log_filter()) if self.track_logs else None
        # Subscribed first, then caught up: nothing mined in between is lost; repeats are dropped.
        backfill = self.head is not None
        target: BlockHeader | None = await self._latest_header()
        while target is not None:
            batch, target = await self._sync_segment(target, backfill)
            for event in batch:
                yield event
        self.backoff.reset()
        while True:
            subscription, result = await ws.next_notification()
            try:
                if subscription == heads:
                    header = parse_header(result)
                    backfill = self._is_gap(header)
                    batch, target = self._on_head(header)
                    for event in batch:
                        yield event
                    while target is not None:
                        batch, target = await self._sync_segment(target, backfill)
                        for event in batch:
                            yield event
                elif subscription == logs:
                    for event in self._on_log(parse_log(result)):
                        yield event
            except MalformedMessage:
                self._count_malformed()

    # -- websocket notifications -------------------------------------------------------------------------

    def _count_malformed(self) -> None:
        self.stats.malformed_messages += 1

    def _is_gap(self, header: BlockHeader) -> bool:
        head = self.head
        return head is not None and header.number > head.number + 1

    def _on_head(self, header: BlockHeader) -> tuple[list[ChainEvent], BlockHeader | None]:
        """Events for a head that extends ours, or the target to sync to when it does not."""
        head = self.head
        if head is not None and header.number == head.number + 1 and header.parent_hash == head.hash:
            return self._append(header, []), None
        if self._by_hash.get(header.hash) == header.number:
            return [], None  # already emitted (e.g. during a backfill)
        return [], header

    def _on_log(self, log: LogEvent) -> list[LogEvent]:
        if log.removed:
            self.stats.removed_notifications += 1
            return []
        number = self._by_hash.get(log.block_hash)
        if number is None or number != log.block_number:
            head = self.head
            if head is None or log.block_number > head.number - self.reorg_window:
                self._early_logs.setdefault(log.block_hash, []).append(log)
            return []
        record = self._blocks[number]
        if log.log_index in record.log_indexes:
            return []
        if number != next(reversed(self._blocks)):
            self.stats.late_logs += 1
        record.logs.append(log)
        record.log_indexes.add(log.log_index)
        return [log]

    # -- polling mode ------------------------------------------------------------------------------------

    async def _poll(self, http: HttpRpc) -> AsyncGenerator[ChainEvent, None]:
        """One polling session: catch up from our head, then poll the latest block until a call fails."""
        self._rpc = http
        backfill = self.head is not None
        while True:
            target: BlockHeader | None = await self._latest_header()
            while target is not None:
                batch, target = await self._sync_segment(target, backfill)
                for event in batch:
                    yield event
            self.backoff.reset()
            backfill = False
            await asyncio.sleep(self.poll_interval)

    # -- catching up to a target head, with reorg detection ----------------------------------------------

    async def _latest_header(self) -> BlockHeader:
        assert self._rpc is not None
        try:
            return parse_header(await self._rpc.call("eth_getBlockByNumber", ["latest", False]))
        except MalformedMessage as exc:
            self._count_malformed()
            raise RpcConnectionError(f"latest block: {exc}") from None

    async def _sync_segment(
        self, target: BlockHeader, backfill: bool
    ) -> tuple[list[ChainEvent], BlockHeader | None]:
        """Events for the next stretch (at most max_log_range blocks) between our head and `target`.

        Returns the target to continue with, None once `target` is emitted. A stretch is fetched and
        checked to link up before any of it is emitted; if the node switches branches mid-fetch, start
        over from its new head.
        """
        for _ in range(MAX_SYNC_ATTEMPTS):
            if self._by_hash.get(target.hash) == target.number:
                return [], None
            try:
                reorg, blocks = await self._plan_segment(target)
            except _ChainMoved:
                target = await self._latest_header()
                continue
            events: list[ChainEvent] = []
            if reorg is not None:
                events.append(self._apply_reorg(*reorg))
            for header, logs in blocks:
                if backfill:
                    self.stats.backfilled_blocks += 1
                events.extend(self._append(header, logs))
            done = self._by_hash.get(target.hash) == target.number
            return events, None if done else target
        raise RpcConnectionError("the node's chain kept changing while catching up")

    def _hash_at(self, number: int) -> str:
        return self._blocks[number].header.hash

    async def _canonical_hash(self, number: int, target: BlockHeader) -> str:
        if number == target.number - 1:
            return target.parent_hash
        if number == target.number:
            return target.hash
        assert self._rpc is not None
        block = await self._rpc.call("eth_getBlockByNumber", [hex(number), False])
        if block is None:
            raise _ChainMoved
        try:
            return parse_header(block).hash
        except MalformedMessage:
            self._count_malformed()
            raise _ChainMoved from None

    async def _plan_segment(
        self, target: BlockHeader
    ) -> tuple[tuple[int, bool] | None, list[tuple[BlockHeader, list[LogEvent]]]]:
        """(reorg (fork, beyond window) or None, blocks to emit with their logs)."""
        head = self.head
        reorg: tuple[int, bool] | None = None
        if head is None:
            first = target.number if self.start_block is None else min(self.start_block, target.number)
            fork = first - 1
        else:
            oldest = next(iter(self._blocks))
            fork = min(head.number, target.number - 1)
            while fork >= oldest and await self._canonical_hash(fork, target) != self._hash_at(fork):
                fork -= 1
            beyond = fork < oldest
            if beyond:
                fork = min(oldest, target.number) - 1
            if fork < head.number:
                reorg = (fork, beyond)
        last = min(target.number, fork + self.max_log_range)
        headers = await self._fetch_headers(fork + 1, last, target)
        previous = self._blocks[fork].header.hash if fork in self._blocks else None
        for header in headers:
            if previous is not None and header.parent_hash != previous:
                raise _ChainMoved
            previous = header.hash
        logs = await self._fetch_logs(headers) if self.track_logs else {}
        return reorg, [(h, logs.get(h.number, [])) for h in headers]

    async def _fetch_headers(self, first: int, last: int, target: BlockHeader) -> list[BlockHeader]:
        assert self._rpc is not None
        numbers = [n for n in range(first, last + 1) if n != target.number]
        headers: dict[int, BlockHeader] = {}
        for start in range(0, len(numbers), HEADER_BATCH):
            chunk = numbers[start : start + HEADER_BATCH]
            replies = await self._rpc.batch([("eth_getBlockByNumber", [hex(n), False]) for n in chunk])
            for n, reply in zip(chunk, replies, strict=True):
                if reply is None:
                    raise _ChainMoved
                try:
                    header = parse_header(reply)
                except MalformedMessage:
                    self._count_malformed()
                    raise _ChainMoved from None
                if header.number != n:
                    raise _ChainMoved
                headers[n] = header
        if first <= target.number <= last:
            headers[target.number] = target
        return [headers[n] for n in range(first, last + 1)]

    async def _fetch_logs(self, headers: list[BlockHeader]) -> dict[int, list[LogEvent]]:
        assert self._rpc is not None
        if not headers:
            return {}
        hashes = {h.number: h.hash for h in headers}
        out: dict[int, list[LogEvent]] = {}
        for item in await self._get_logs(headers[0].number, headers[-1].number):
            try:
                log = parse_log(item)
            except MalformedMessage:
                self._count_malformed()
                continue
            if hashes.get(log.block_number) != log.block_hash:
                raise _ChainMoved  # a log from another branch than the headers we hold
            out.setdefault(log.block_number, []).append(log)
        return out

    async def _get_logs(self, first: int, last: int) -> list[Any]:
        """eth_getLogs over first..last; a range the node refuses (result caps) is split in halves."""
        assert self._rpc is not None
        flt = {**self.log_filter(), "fromBlock": hex(first), "toBlock": hex(last)}
        try:
            reply = await self._rpc.call("eth_getLogs", [flt])
        except RpcReplyError:
            if first == last:
                raise
            middle = (first + last) // 2
            return [*await self._get_logs(first, middle), *await self._get_logs(middle + 1, last)]
        if not isinstance(reply, list):
            self._count_malformed()
            raise _ChainMoved
        return reply

    def _apply_reorg(self, fork: int, beyond_window: bool) -> Reorg:
        old_head = self.head
        assert old_head is not None
        removed: list[LogEvent] = []
        while self._blocks and next(reversed(self._blocks)) > fork:
            _, record = self._blocks.popitem(last=True)
            self._by_hash.pop(record.header.hash, None)
            removed.extend(replace(log, removed=True) for log in reversed(record.logs))
        self.stats.reorgs += 1
        return Reorg(fork, old_head.number - fork, old_head, tuple(removed), beyond_window)

    def _append(self, header: BlockHeader, logs: list[LogEvent]) -> list[ChainEvent]:
        """Record a new head with its logs (plus any that arrived before it) and return the events."""
        record = _BlockRecord(header)
        self._blocks[header.number] = record
        self._by_hash[header.hash] = header.number
        while len(self._blocks) > self.reorg_window:
            _, old = self._blocks.popitem(last=False)
            self._by_hash.pop(old.header.hash, None)
        events: list[ChainEvent] = [header]
        early = self._early_logs.pop(header.hash, [])
        for log in sorted([*logs, *early], key=lambda log: log.log_index):
            if log.block_number == header.number and log.log_index not in record.log_indexes:
                record.logs.append(log)
                record.log_indexes.add(log.log_index)
                events.append(log)
        if self._early_logs:
            horizon = header.number - self.reorg_window
            for block_hash in [h for h, ls in self._early_logs.items() if ls[0].block_number <= horizon]:
                del self._early_logs[block_hash]
        return events
