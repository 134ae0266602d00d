"""A local Flashbots-protocol relay + block builder for the devnet.

It speaks the same JSON-RPC over HTTP as a real relay (eth_sendBundle, eth_callBundle,
eth_cancelBundle, mev_sendBundle), checks X-Flashbots-Signature like one (HTTP 403 + JSON-RPC error
-32600 on a missing or wrong signature), and *builds the devnet's blocks*: in relay mode anvil does not
mine on its own; at every slot the relay

1. takes the bundles targeting the next block whose timestamp bounds admit the slot's timestamp,
2. simulates each on a private fork of the devnet at the current head (never on the devnet itself),
   drops those with a revert not listed in revertingTxHashes, orders the rest by coinbase payment and
   re-simulates them stacked so every accepted bundle is valid after the ones before it,
3. sets the public mempool aside, sends the accepted bundle transactions in order, puts the public
   transactions back behind them, and mines the block at the slot's timestamp.

The devnet's anvil must order its pool first-in-first-out (`anvil --order fifo`): that is what makes
the block hold the bundle transactions at the top, in bundle order (checked after every block).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from defibots.chain.async_rpc import HttpRpc, RpcReplyError, to_int
from defibots.execution.bundles import (
    Bundle,
    BundleFormatError,
    SignedTx,
    bundle_from_send_params,
    parse_hex_bytes,
    parse_quantity,
)
from defibots.execution.flashbots_auth import SIGNATURE_HEADER, SignatureError, verify_header
from defibots.execution.simulation import (
    BUILDER_COINBASE,
    AnvilSimulator,
    BundleSimulationError,
    check_fifo_anvil,
    restore_pool,
    stash_pool,
)
from defibots.foundry.anvil import free_port

log = logging.getLogger(__name__)

INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
PARSE_ERROR = -32700
SERVER_ERROR = -32000


class RPCFailure(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class QueuedBundle:
    """A bundle the relay holds, with what happened to it."""

    bundle: Bundle
    signer: str
    seq: int
    min_block: int
    max_block: int
    received_at: float
    status: str = "pending"
    """pending, included, expired, replaced, cancelled."""
    included_in: int | None = None
    last_error: str | None = None


@dataclass
class BlockReport:
    number: int
    hash: str
    timestamp: int
    included: list[str] = field(default_factory=list)
    """Bundle hashes included, in block order."""
    rejected: dict[str, str] = field(default_factory=dict)
    """Bundle hash -> why it was not included in this block."""
    tx_count: int = 0
    order_ok: bool = True


class LocalRelay:
    """The devnet's relay and builder. block_time=None: no slot loop, blocks are built by `build_block()`.

    slot_seconds: stamp each block parent.timestamp + slot_seconds, as mainnet's fixed 12-s slots do, while
    blocks are built every `block_time` wall-clock seconds; a searcher pinning its bundle to the planned
    slot time then lands exactly. None: wall-clock timestamps.
    """

    def __init__(
        self,
        node_url: str,
        port: int | None = None,
        block_time: float | None = 12.0,
        host: str = "127.0.0.1",
        coinbase: str = BUILDER_COINBASE,
        slot_seconds: int | None = None,
    ) -> None:
        self.node_url = node_url
        self.slot_seconds = slot_seconds
        self.host = host
        self.port = port or free_port(host)
        self.block_time = block_time
        self.coinbase = coinbase
        self.rpc = HttpRpc(node_url)
        self.simulator = AnvilSimulator(node_url, fork=True, coinbase=coinbase)
        self.bundles: list[QueuedBundle] = []
        self.history: dict[str, list[QueuedBundle]] = {}
        self.blocks: list[BlockReport] = []
        self.requests = 0
        self._seq = itertools.count()
        self._build_lock = asyncio.Lock()
        self._runner: web.AppRunner | None = None
        self._slot_task: asyncio.Task[None] | None = None
        self._restore_mining: tuple[bool, int] | None = None
        self._chain_id: int | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> LocalRelay:
        try:
            return await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> LocalRelay:
        await check_fifo_anvil(self.rpc, self.node_url)
        automine = bool(await self.rpc.call("anvil_getAutomine"))
        interval = to_int(await self.rpc.call("anvil_getIntervalMining") or 0)
        self._restore_mining = (automine, interval)
        await self.rpc.call("evm_setAutomine", [False])
        await self.rpc.call("evm_setIntervalMining", [0])
        await self.rpc.call("anvil_setCoinbase", [self.coinbase])
        self._chain_id = to_int(await self.rpc.call("eth_chainId"))
        await self.simulator.start()
        app = web.Application(client_max_size=2 * 1024 * 1024)
        app.router.add_post("/", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        if self.block_time is not None:
            self._slot_task = asyncio.create_task(self._slots(self.block_time))
        return self

    async def stop(self) -> None:
        if self._slot_task is not None:
            self._slot_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._slot_task
            self._slot_task = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self.simulator.close()
        if self._restore_mining is not None:
            automine, interval = self._restore_mining
            with contextlib.suppress(Exception):
                await self.rpc.call("evm_setAutomine", [automine])
                if interval:
                    await self.rpc.call("evm_setIntervalMining", [interval])
        await self.rpc.close()

    async def __aenter__(self) -> LocalRelay:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --- bundle bookkeeping --------------------------------------------------------------------------

    def status(self, bundle_hash: str) -> str | None:
        """Status of the latest submission with this hash (None if never seen)."""
        entries = self.history.get(bundle_hash.lower())
        return entries[-1].status if entries else None

    def _queue(self, bundle: Bundle, signer: str, min_block: int, max_block: int) -> QueuedBundle:
        if bundle.replacement_uuid:
            for old in self.bundles:
                if old.signer == signer and old.bundle.replacement_uuid == bundle.replacement_uuid:
                    old.status = "replaced"
            self.bundles = [q for q in self.bundles if q.status == "pending"]
        queued = QueuedBundle(bundle, signer, next(self._seq), min_block, max_block, time.time())
        self.bundles.append(queued)
        self.history.setdefault(bundle.bundle_hash_hex, []).append(queued)
        return queued

    def cancel(self, signer: str, replacement_uuid: str) -> int:
        count = 0
        for queued in self.bundles:
            if queued.signer == signer and queued.bundle.replacement_uuid == replacement_uuid:
                queued.status = "cancelled"
                count += 1
        self.bundles = [q for q in self.bundles if q.status == "pending"]
        return count

    # --- HTTP / JSON-RPC -------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        body = await request.read()
        request_id = _request_id(body)
        try:
            signer = verify_header(request.headers.get(SIGNATURE_HEADER), body)
        except SignatureError as exc:
            return _error(request_id, INVALID_REQUEST, str(exc), status=403)
        try:
            payload = json.loads(body)
        except ValueError:
            return _error(None, PARSE_ERROR, "parse error: body is not JSON", status=400)
        if isinstance(payload, list):
            return _error(None, INVALID_REQUEST, "batch requests are not supported", status=400)
        if not isinstance(payload, dict) or not isinstance(payload.get("method"), str):
            return _error(request_id, INVALID_REQUEST, "invalid request: method missing", status=400)
        params = payload.get("params", [])
        if not isinstance(params, list):
            return _error(request_id, INVALID_PARAMS, "params must be a list")
        try:
            result = await self._dispatch(payload["method"], params, signer)
        except RPCFailure as exc:
            return _error(request_id, exc.code, exc.message)
        except BundleFormatError as exc:
            return _error(request_id, INVALID_PARAMS, str(exc))
        return web.json_response({"jsonrpc": "2.0", "id": request_id, "result": result})

    async def _dispatch(self, method: str, params: list[Any], signer: str) -> Any:
        if method == "eth_sendBundle":
            return await self._send_bundle(_single(params), signer)
        if method == "eth_callBundle":
            return await self._call_bundle(_single(params))
        if method == "eth_cancelBundle":
            arg = _single(params)
            uuid = arg.get("replacementUuid")
            if not isinstance(uuid, str) or not uuid:
                raise RPCFailure(INVALID_PARAMS, "replacementUuid missing")
            self.cancel(signer, uuid)
            return None
        if method == "mev_sendBundle":
            return await self._mev_send_bundle(_single(params), signer)
        raise RPCFailure(METHOD_NOT_FOUND, f"the method {method} does not exist/is not available")

    async def _head(self) -> int:
        return to_int(await self.rpc.call("eth_blockNumber"))

    def _check_chain(self, txs: Sequence[SignedTx]) -> None:
        for i, tx in enumerate(txs):
            if tx.chain_id is not None and tx.chain_id != self._chain_id:
                raise RPCFailure(
                    INVALID_PARAMS, f"txs[{i}] is signed for chain {tx.chain_id}, not {self._chain_id}"
                )

    async def _send_bundle(self, params: dict[str, Any], signer: str) -> dict[str, str]:
        bundle = bundle_from_send_params(params)
        self._check_chain(bundle.txs)
        head = await self._head()
        if bundle.block_number <= head:
            raise RPCFailure(
                INVALID_PARAMS, f"blockNumber {bundle.block_number} is not in the future (head is {head})"
            )
        self._queue(bundle, signer, bundle.block_number, bundle.block_number)
        return {"bundleHash": bundle.bundle_hash_hex}

    async def _mev_send_bundle(self, params: dict[str, Any], signer: str) -> dict[str, str]:
        if params.get("version") not in ("v0.1", "beta-1"):
            raise RPCFailure(INVALID_PARAMS, "unsupported mev_sendBundle version (use v0.1)")
        inclusion = params.get("inclusion")
        if not isinstance(inclusion, dict) or "block" not in inclusion:
            raise RPCFailure(INVALID_PARAMS, "inclusion.block missing")
        first = parse_quantity(inclusion["block"], "inclusion.block")
        last = parse_quantity(inclusion.get("maxBlock", inclusion["block"]), "inclusion.maxBlock")
        if last < first:
            raise RPCFailure(INVALID_PARAMS, "inclusion.maxBlock is before inclusion.block")
        body = params.get("body")
        if not isinstance(body, list) or not body:
            raise RPCFailure(INVALID_PARAMS, "body must be a non-empty list")
        txs: list[SignedTx] = []
        reverting: list[bytes] = []
        for i, item in enumerate(body):
            if not isinstance(item, dict):
                raise RPCFailure(INVALID_PARAMS, f"body[{i}] must be an object")
            if "tx" in item:
                tx = SignedTx.decode(parse_hex_bytes(item["tx"], f"body[{i}].tx"))
            elif "hash" in item:
                raw = await self.rpc.call("eth_getRawTransactionByHash", [item["hash"]])
                if not raw:
                    raise RPCFailure(
                        INVALID_PARAMS, f"body[{i}].hash {item['hash']} is not a pending transaction"
                    )
                tx = SignedTx.decode(parse_hex_bytes(raw, f"body[{i}]"))
            else:
                raise RPCFailure(
                    INVALID_PARAMS, f"body[{i}] needs tx or hash (nested bundles are not supported)"
                )
            if item.get("canRevert"):
                reverting.append(tx.hash)
            txs.append(tx)
        self._check_chain(txs)
        head = await self._head()
        if last <= head:
            raise RPCFailure(
                INVALID_PARAMS, f"inclusion.maxBlock {last} is not in the future (head is {head})"
            )
        bundle = Bundle(tuple(txs), max(first, head + 1), reverting_tx_hashes=tuple(reverting))
        self._queue(bundle, signer, max(first, head + 1), last)
        return {"bundleHash": bundle.bundle_hash_hex}

    async def _call_bundle(self, params: dict[str, Any]) -> dict[str, Any]:
        raw_txs = params.get("txs")
        if not isinstance(raw_txs, list) or not raw_txs:
            raise RPCFailure(INVALID_PARAMS, "bundle missing txs")
        if "blockNumber" not in params:
            raise RPCFailure(INVALID_PARAMS, "bundle missing blockNumber")
        txs = tuple(SignedTx.decode(parse_hex_bytes(raw, f"txs[{i}]")) for i, raw in enumerate(raw_txs))
        bundle = Bundle(txs, parse_quantity(params["blockNumber"], "blockNumber"))
        state = params.get("stateBlockNumber", "latest")
        state_block = (
            None if state in ("latest", "pending", None) else parse_quantity(state, "stateBlockNumber")
        )
        timestamp = parse_quantity(params["timestamp"], "timestamp") if params.get("timestamp") else None
        coinbase = params.get("coinbase")
        try:
            result = await self.simulator.simulate(
                bundle, state_block=state_block, timestamp=timestamp, coinbase=coinbase if coinbase else None
            )
        except BundleSimulationError as exc:
            raise RPCFailure(SERVER_ERROR, str(exc)) from None
        except RpcReplyError as exc:
            raise RPCFailure(SERVER_ERROR, exc.message) from None
        return result.call_bundle_response()

    # --- block building --------------------------------------------------------------------------------

    async def _slots(self, block_time: float) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time() + block_time
        while True:
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            try:
                await self.build_block()
            except Exception:  # a broken slot must not stop the chain
                log.exception("local relay: building a block failed")
            next_at += block_time
            if next_at < loop.time():
                next_at = loop.time() + block_time

    async def next_timestamp(self) -> int:
        head = await self.rpc.call("eth_getBlockByNumber", ["latest", False])
        return self._slot_time(to_int(head["timestamp"]))

    def _slot_time(self, parent_timestamp: int) -> int:
        if self.slot_seconds is not None:
            return parent_timestamp + self.slot_seconds
        return max(parent_timestamp + 1, int(time.time()))

    async def build_block(self, timestamp: int | None = None) -> BlockReport:
        """Build and mine the next devnet block: accepted bundles on top, then the public mempool."""
        async with self._build_lock:
            head = await self.rpc.call("eth_getBlockByNumber", ["latest", False])
            parent = to_int(head["number"])
            target = parent + 1
            when = timestamp if timestamp is not None else self._slot_time(to_int(head["timestamp"]))
            rejected: dict[str, str] = {}
            for queued in self.bundles:
                if queued.max_block < target:
                    queued.status = "expired"
            self.bundles = [q for q in self.bundles if q.status == "pending"]
            accepted = await self._select(parent, target, when, rejected)
            txs = [tx for queued in accepted for tx in queued.bundle.txs]
            public = await stash_pool(self.rpc)
            for tx in txs:
                try:
                    await self.rpc.call("eth_sendRawTransaction", [tx.raw_hex])
                except RpcReplyError as exc:  # the fork said it was fine; report, don't crash the slot
                    log.error("local relay: devnet refused bundle tx %s: %s", tx.hash_hex, exc.message)
            await restore_pool(self.rpc, public)
            await self.rpc.call("evm_mine", [{"timestamp": when}])
            block = await self.rpc.call("eth_getBlockByNumber", [hex(target), False])
            hashes = list(block["transactions"])
            order_ok = hashes[: len(txs)] == [tx.hash_hex for tx in txs]
            if not order_ok:
                log.error("local relay: block %d does not start with the accepted bundle txs", target)
            report = BlockReport(
                number=target,
                hash=block["hash"],
                timestamp=to_int(block["timestamp"]),
                included=[q.bundle.bundle_hash_hex for q in accepted] if order_ok else [],
                rejected=rejected,
                tx_count=len(hashes),
                order_ok=order_ok,
            )
            for queued in accepted:
                if order_ok:
                    queued.status = "included"
                    queued.included_in = target
            for queued in self.bundles:
                if queued.status == "pending" and queued.max_block <= target:
                    queued.status = "expired"
            self.bundles = [q for q in self.bundles if q.status == "pending"]
            self.blocks.append(report)
            return report

    async def _select(
        self, parent: int, target: int, when: int, rejected: dict[str, str]
    ) -> list[QueuedBundle]:
        """Bundles for this block: each valid alone, best payment first, still valid stacked on the others."""
        scored: list[tuple[int, int, QueuedBundle]] = []
        for queued in self.bundles:
            if not queued.min_block <= target <= queued.max_block:
                continue
            bundle = queued.bundle.for_block(target)
            key = bundle.bundle_hash_hex
            if not bundle.timestamp_ok(when):
                rejected[key] = f"timestamp {when} outside [{bundle.min_timestamp}, {bundle.max_timestamp}]"
                continue
            try:
                result = await self.simulator.simulate(bundle, state_block=parent, timestamp=when)
            except BundleSimulationError as exc:
                rejected[key] = queued.last_error = str(exc)
                continue
            if not result.ok:
                bad = result.failed[0]
                rejected[key] = queued.last_error = (
                    f"tx {bad.tx.hash_hex} reverted: {bad.revert_reason or bad.error}"
                )
                continue
            scored.append((-result.coinbase_diff, queued.seq, queued))
        scored.sort(key=lambda item: (item[0], item[1]))
        accepted: list[QueuedBundle] = []
        stacked: list[SignedTx] = []
        reverting: list[bytes] = []
        for _, _, queued in scored:
            key = queued.bundle.bundle_hash_hex
            if any(tx in stacked for tx in queued.bundle.txs):
                rejected[key] = "shares a transaction with a better-paying bundle in this block"
                continue
            if stacked:
                combined = Bundle(
                    tuple(stacked) + queued.bundle.txs,
                    target,
                    reverting_tx_hashes=tuple(reverting) + queued.bundle.reverting_tx_hashes,
                )
                try:
                    result = await self.simulator.simulate(combined, state_block=parent, timestamp=when)
                except BundleSimulationError as exc:
                    rejected[key] = f"invalid after higher-paying bundles: {exc}"
                    continue
                if any(t.fatal for t in result.txs[len(stacked) :]):
                    rejected[key] = "reverts after higher-paying bundles"
                    continue
            accepted.append(queued)
            stacked.extend(queued.bundle.txs)
            reverting.extend(queued.bundle.reverting_tx_hashes)
        return accepted


def _single(params: list[Any]) -> dict[str, Any]:
    if len(params) != 1 or not isinstance(params[0], dict):
        raise RPCFailure(INVALID_PARAMS, "expected exactly one params object")
    return params[0]


def _request_id(body: bytes) -> Any:
    with contextlib.suppress(ValueError, AttributeError, TypeError):
        payload = json.loads(body)
        if isinstance(payload, dict):
            return payload.get("id")
    return None


def _error(request_id: Any, code: int, message: str, status: int = 200) -> web.Response:
    return web.json_response(
        {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}, status=status
    )
