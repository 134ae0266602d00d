"""Mempool watcher: pending transactions sent to the Uniswap routers, decoded into PendingSwap records (or,
with another `PendingDecoder`, to any contracts it watches: price feeds for liquidations).

Over a websocket it subscribes to `newPendingTransactions` with `true` (full transaction objects, as anvil
and geth-family nodes offer) and falls back to hash notifications followed by a batched
eth_getTransactionByHash. Without a websocket (or when the first connection is refused) it polls an
eth_newPendingTransactionFilter over HTTP. After every (re)connect, `txpool_content` (where the node has
it) backfills what was pending while disconnected; a bounded set of seen hashes keeps each swap to one
record. Reconnects use the listener's bounded exponential backoff.

Backruns need the signed transaction bytes. Nodes rarely put them in the transaction object, so the
watcher rebuilds them from the signed fields (eth_account's transaction classes) and keeps them only if
they hash to the transaction hash; failing that it asks eth_getRawTransactionByHash.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncGenerator, Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Generic, Protocol, TypeVar

from eth_account._utils.legacy_transactions import UnsignedTransaction, encode_transaction
from eth_account.typed_transactions import TypedTransaction
from eth_utils import keccak

from defibots.chain.async_rpc import (
    AsyncJsonRpc,
    Backoff,
    HttpRpc,
    RpcReplyError,
    WsRpc,
    reconnecting,
)
from defibots.chain.events import MempoolSwap, PendingTx
from defibots.chain.router_calls import DecodeError, PendingSwap, RouterCallDecoder, RouterKind
from defibots.errors import UserError

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class PendingDecoder(Protocol[T_co]):
    """Which pending transactions a watcher keeps, and what it makes of them (a frozen dataclass with a
    `raw` field the watcher fills); raises DecodeError for a malformed one."""

    def watches(self, address: str | None) -> bool: ...

    def decode_transaction(self, tx: Mapping[str, Any]) -> T_co | None: ...


def rebuild_raw_transaction(tx: Mapping[str, Any]) -> bytes | None:
    """The signed transaction's bytes from a JSON-RPC transaction object, or None if they cannot be rebuilt.

    Legacy (with or without EIP-155), EIP-2930, EIP-1559 and EIP-7702 transactions. Blob transactions
    are not rebuilt: their network form needs the blob sidecar, which the object does not carry.
    The caller must check the result against the transaction hash.
    """
    try:
        tx_type = int(tx.get("type") or "0x0", 16)
        to = bytes.fromhex(tx["to"][2:]) if tx.get("to") else b""
        data = bytes.fromhex((tx.get("input") or tx.get("data") or "0x")[2:])
        nonce, gas, value = int(tx["nonce"], 16), int(tx["gas"], 16), int(tx["value"], 16)
        r, s = int(tx["r"], 16), int(tx["s"], 16)
        if tx_type == 0:
            unsigned = UnsignedTransaction.from_dict(
                {"nonce": nonce, "gasPrice": int(tx["gasPrice"], 16), "gas": gas, "to": to, "value": value}
                | {"data": data}
            )
            return encode_transaction(unsigned, (int(tx["v"], 16), r, s))
        if tx_type not in (1, 2, 4):
            return None
        fields: dict[str, Any] = {
            "type": tx_type,
            "chainId": int(tx["chainId"], 16),
            "nonce": nonce,
            "gas": gas,
            "to": to,
            "value": value,
            "data": data,
            "accessList": tx.get("accessList") or [],
            "v": int(tx.get("yParity") or tx["v"], 16),
            "r": r,
            "s": s,
        }
        if tx_type == 1:
            fields["gasPrice"] = int(tx["gasPrice"], 16)
        else:
            fields["maxFeePerGas"] = int(tx["maxFeePerGas"], 16)
            fields["maxPriorityFeePerGas"] = int(tx["maxPriorityFeePerGas"], 16)
        if tx_type == 4:
            fields["authorizationList"] = tx["authorizationList"]
        return TypedTransaction.from_dict(fields).encode()
    except Exception:  # eth_account/rlp raise assorted types on odd input; unrebuildable is the answer
        return None


def _hash_matches(raw: bytes, tx_hash: str) -> bool:
    return "0x" + keccak(raw).hex() == tx_hash.lower()


@dataclass
class MempoolStats:
    mode: str = "ws"  # "ws" or "http" (filter polling)
    reconnects: int = 0
    connection_failures: int = 0  # refused connects and dropped sessions (each retried after a backoff)
    malformed_messages: int = 0
    seen: int = 0  # pending transactions looked at
    router_txs: int = 0  # of which sent to a tracked router (first sighting)
    swaps: int = 0
    not_swaps: int = 0  # router calls that swap nothing (permits, liquidity, unknown selector)
    decode_errors: int = 0
    raw_from_node: int = 0
    raw_rebuilt: int = 0
    raw_fetched: int = 0  # eth_getRawTransactionByHash after rebuilding failed
    raw_missing: int = 0
    fetch_misses: int = 0  # hash notifications whose transaction was gone when fetched
    backfilled: int = 0  # transactions taken from txpool_content after a (re)connect


class MempoolWatcher(Generic[T]):
    """Pending router swaps (or what `decoder` decodes) from a node.

    Args:
        ws_url / http_url: endpoints; as for ChainListener (polling when no websocket is usable).
        routers: router address -> kind; default the mainnet addresses (also used by the devnet replica).
        fetch_raw: ask eth_getRawTransactionByHash when the raw transaction cannot be rebuilt.
        seen_capacity: how many recent router transaction hashes are remembered for de-duplication.
    """

    def __init__(
        self,
        ws_url: str | None,
        http_url: str | None,
        *,
        routers: Mapping[str, RouterKind] | None = None,
        poll_interval: float = 0.5,
        request_timeout: float = 10.0,
        backoff: Backoff | None = None,
        fetch_raw: bool = True,
        seen_capacity: int = 100_000,
        fetch_batch: int = 100,
        on_decode_error: Callable[[Mapping[str, Any], DecodeError], None] | None = None,
        decoder: PendingDecoder[T] | None = None,
    ) -> None:
        if ws_url is None and http_url is None:
            raise UserError("the mempool watcher needs a websocket or an HTTP RPC URL")
        self.on_decode_error = on_decode_error
        self.ws_url = ws_url
        self.http_url = http_url
        self.decoder: PendingDecoder[Any] = decoder or RouterCallDecoder(routers)
        self.poll_interval = poll_interval
        self.request_timeout = request_timeout
        self.backoff = backoff or Backoff()
        self.fetch_raw = fetch_raw
        self.seen_capacity = seen_capacity
        self.fetch_batch = max(1, fetch_batch)
        self.stats = MempoolStats(mode="ws" if ws_url else "http")
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._rpc: AsyncJsonRpc | None = None

    def swaps(self) -> AsyncGenerator[T, None]:
        """Decoded pending transactions, first sighting only; runs until the consumer stops iterating."""
        return reconnecting(self, self._ws_session, self._poll, self._count_malformed, self._forget_rpc)

    def _forget_rpc(self) -> None:
        self._rpc = None

    async def _ws_session(self, ws: WsRpc) -> AsyncGenerator[T, None]:
        self._rpc = ws
        try:
            subscription = await ws.subscribe("newPendingTransactions", True)
        except RpcReplyError:
            subscription = await ws.subscribe("newPendingTransactions")  # hashes only
        for swap in await self._backfill():
            yield swap
        self.backoff.reset()
        while True:
            first = await ws.next_notification()
            queued = [first, *ws.queued_notifications(self.fetch_batch - 1)]
            for swap in await self._handle_items(result for sub, result in queued if sub == subscription):
                yield swap

    # -- polling mode ------------------------------------------------------------------------------------

    async def _poll(self, http: HttpRpc) -> AsyncGenerator[T, None]:
        """One polling session: a new pending-transaction filter, the txpool backfill, then the filter's
        changes until a call fails."""
        self._rpc = http
        filter_id: str | None = None
        while True:
            if filter_id is None:
                filter_id = await http.call("eth_newPendingTransactionFilter", [])
                for swap in await self._backfill():
                    yield swap
                self.backoff.reset()
            try:
                hashes = await http.call("eth_getFilterChanges", [filter_id])
            except RpcReplyError:
                filter_id = None  # the node forgot the filter (restart, expiry): a new one next round
                hashes = []
            if not isinstance(hashes, list):
                self._count_malformed()
                hashes = []
            for start in range(0, len(hashes), self.fetch_batch):
                for swap in await self._handle_items(hashes[start : start + self.fetch_batch]):
                    yield swap
            await asyncio.sleep(self.poll_interval)

    # -- shared ------------------------------------------------------------------------------------------

    def _count_malformed(self) -> None:
        self.stats.malformed_messages += 1

    async def _backfill(self) -> list[T]:
        """Swaps already pending at (re)connect time, from txpool_content where the node offers it."""
        assert self._rpc is not None
        try:
            content = await self._rpc.call("txpool_content", [])
        except RpcReplyError:
            return []
        pending = content.get("pending") if isinstance(content, dict) else None
        if not isinstance(pending, dict):
            return []
        txs = [tx for by_nonce in pending.values() if isinstance(by_nonce, dict) for tx in by_nonce.values()]
        before = self.stats.router_txs
        swaps = await self._handle_transactions(txs)
        self.stats.backfilled += self.stats.router_txs - before
        return swaps

    async def _handle_items(self, items: Iterable[Any]) -> list[T]:
        """Notification payloads: full transaction objects, or hashes to fetch in one batch."""
        txs: list[Any] = []
        hashes: list[str] = []
        for item in items:
            if isinstance(item, dict):
                txs.append(item)
            elif isinstance(item, str):
                hashes.append(item)
            else:
                self._count_malformed()
        if hashes:
            assert self._rpc is not None
            fetched = await self._rpc.batch([("eth_getTransactionByHash", [h]) for h in hashes])
            for tx in fetched:
                if tx is None:
                    self.stats.fetch_misses += 1
                else:
                    txs.append(tx)
        return await self._handle_transactions(txs)

    async def _handle_transactions(self, txs: Iterable[Any]) -> list[T]:
        swaps: list[T] = []
        for tx in txs:
            self.stats.seen += 1
            if not isinstance(tx, dict):
                self._count_malformed()
                continue
            to = tx.get("to")
            if not self.decoder.watches(to if isinstance(to, str) else None):
                continue
            tx_hash = tx.get("hash")
            if not isinstance(tx_hash, str):
                self._count_malformed()
                continue
            if tx_hash in self._seen:
                continue
            self._remember(tx_hash)
            self.stats.router_txs += 1
            try:
                swap = self.decoder.decode_transaction(tx)
            except DecodeError as exc:
                self.stats.decode_errors += 1
                if self.on_decode_error is not None:
                    self.on_decode_error(tx, exc)
                continue
            if swap is None:
                self.stats.not_swaps += 1
                continue
            self.stats.swaps += 1
            swaps.append(replace(swap, raw=await self._raw(tx, tx_hash)))
        return swaps

    def _remember(self, tx_hash: str) -> None:
        self._seen[tx_hash] = None
        if len(self._seen) > self.seen_capacity:
            self._seen.popitem(last=False)

    async def _raw(self, tx: Mapping[str, Any], tx_hash: str) -> bytes | None:
        given = tx.get("raw")
        if isinstance(given, str):
            try:
                raw = bytes.fromhex(given[2:])
            except ValueError:
                raw = b""
            if _hash_matches(raw, tx_hash):
                self.stats.raw_from_node += 1
                return raw
        rebuilt = rebuild_raw_transaction(tx)
        if rebuilt is not None and _hash_matches(rebuilt, tx_hash):
            self.stats.raw_rebuilt += 1
            return rebuilt
        if self.fetch_raw and self._rpc is not None:
            try:
                fetched = await self._rpc.call("eth_getRawTransactionByHash", [tx_hash])
            except RpcReplyError:
                fetched = None
            if isinstance(fetched, str):
                try:
                    raw = bytes.fromhex(fetched[2:])
                except ValueError:
                    raw = b""
                if _hash_matches(raw, tx_hash):
                    self.stats.raw_fetched += 1
                    return raw
        self.stats.raw_missing += 1
        return None


def bus_event(swap: PendingSwap, chain_id: int) -> MempoolSwap:
    """The engine's event for one decoded transaction: the whole call (every leg) and the transaction."""
    tx = PendingTx(
        chain_id=chain_id,
        hash=swap.tx_hash,
        sender=swap.sender,
        to=swap.router,
        nonce=swap.nonce,
        value=swap.value,
        gas=swap.gas,
        input=swap.input,
        tx_type=swap.tx_type,
        gas_price=swap.gas_price,
        max_fee_per_gas=swap.max_fee_per_gas,
        max_priority_fee_per_gas=swap.max_priority_fee_per_gas,
        raw=swap.raw,
    )
    return MempoolSwap(tx=tx, call=swap)
