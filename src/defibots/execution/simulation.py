"""Bundle simulation by really mining the block on an anvil node, then reverting it.

Why mine instead of eth_call: a mined block is the ground truth a relay produces — same base fee,
coinbase, gas accounting, refunds and logs. The procedure, on a node we may mine on:
evm_snapshot, send the raw transactions one by one (the node must order its pool first-in-first-out,
`anvil --order fifo`, so the block holds them in bundle order), evm_mine_detailed with the target
timestamp, read receipts, a prestate diff trace (per-transaction coinbase and ETH changes) and balances,
then evm_revert. By default the node is a private fork of the user's RPC (or of the devnet) that this
module starts, so simulations never show other clients a block that later disappears.

The answer has exactly the eth_callBundle shape (`SimulationResult.call_bundle_response()`), plus what a
searcher needs besides: decoded revert reasons, logs, and balance changes of watched addresses.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import keccak, to_checksum_address

from defibots.chain.addresses import TOKENS
from defibots.chain.async_rpc import HttpRpc, RpcReplyError, to_int
from defibots.devnet.anvil import AnvilConfig, AnvilNode
from defibots.errors import UserError
from defibots.execution.bundles import Bundle, SignedTx

BUILDER_COINBASE = str(to_checksum_address("0x0000000000000000000000000000000000c0ffee"))
"""Fee recipient of simulated blocks and of the local relay's blocks, so coinbase diffs are measurable."""

TRANSFER_TOPIC = keccak(text="Transfer(address,address,uint256)")
WETH_DEPOSIT_TOPIC = keccak(text="Deposit(address,uint256)")
WETH_WITHDRAWAL_TOPIC = keccak(text="Withdrawal(address,uint256)")
ERROR_SELECTOR = keccak(text="Error(string)")[:4]
PANIC_SELECTOR = keccak(text="Panic(uint256)")[:4]
PANIC_CODES = {
    0x00: "generic panic",
    0x01: "assert failed",
    0x11: "arithmetic overflow or underflow",
    0x12: "division or modulo by zero",
    0x21: "invalid enum value",
    0x22: "bad storage byte array encoding",
    0x31: "pop on empty array",
    0x32: "array index out of bounds",
    0x41: "out of memory",
    0x51: "call to a zero-initialized internal function",
}
_PRESTATE_DIFF = {
    "tracer": "prestateTracer",
    "tracerConfig": {"diffMode": True, "disableCode": True, "disableStorage": True},
}


class BundleSimulationError(Exception):
    """The bundle could not be executed at all (bad nonce, fee cap below base fee, no funds for gas...).

    A transaction that runs and reverts is not this: it is a result with success False.
    """


def decode_revert_reason(data: bytes) -> str | None:
    """Error(string) -> the string, Panic(uint256) -> 'panic 0x11: ...', a custom error -> its selector."""
    if not data:
        return None
    if data[:4] == ERROR_SELECTOR:
        try:
            (reason,) = abi_decode(["string"], data[4:])
            return str(reason)
        except Exception:
            return f"malformed Error(string): 0x{data.hex()}"
    if data[:4] == PANIC_SELECTOR and len(data) >= 36:
        code = int.from_bytes(data[4:36], "big")
        return f"panic 0x{code:02x}: {PANIC_CODES.get(code, 'unknown panic code')}"
    return f"custom error 0x{data[:4].hex()}" if len(data) >= 4 else f"revert data 0x{data.hex()}"


@dataclass(frozen=True)
class LogEntry:
    address: str
    topics: tuple[bytes, ...]
    data: bytes


@dataclass(frozen=True)
class TxSimulation:
    """One transaction's outcome in the simulated block."""

    tx: SignedTx
    index: int
    success: bool
    gas_used: int
    gas_fees: int
    """gasUsed * priority fee actually paid (effective gas price - base fee)."""
    coinbase_diff: int
    output: bytes
    """Return data on success, revert data on failure."""
    error: str | None
    revert_reason: str | None
    allowed_to_revert: bool
    logs: tuple[LogEntry, ...]
    eth_changes: dict[str, int]
    """ETH balance change of every account this transaction touched (gas included)."""

    @property
    def eth_sent_to_coinbase(self) -> int:
        return self.coinbase_diff - self.gas_fees

    @property
    def fatal(self) -> bool:
        """Failed and not listed in revertingTxHashes: the relay would drop the whole bundle."""
        return not self.success and not self.allowed_to_revert

    def call_bundle_entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "coinbaseDiff": str(self.coinbase_diff),
            "ethSentToCoinbase": str(self.eth_sent_to_coinbase),
            "fromAddress": self.tx.sender,
            "gasFees": str(self.gas_fees),
            "gasPrice": str(self.coinbase_diff // self.gas_used),
            "gasUsed": self.gas_used,
            "toAddress": self.tx.to if self.tx.to is not None else "0x",
            "txHash": self.tx.hash_hex,
        }
        if self.success:
            entry["value"] = "0x" + self.output.hex()
        else:
            entry["error"] = self.error or "execution reverted"
            if self.output:
                entry["revert"] = self.revert_reason or ""
        return entry


@dataclass
class SimulationResult:
    bundle: Bundle
    state_block: int
    block_number: int
    timestamp: int
    base_fee: int
    coinbase: str
    txs: list[TxSimulation]
    eth_changes: dict[str, int] = field(default_factory=dict)
    """Block-level ETH balance change per watched address (exact: read before and after)."""
    token_changes: dict[str, dict[str, int]] = field(default_factory=dict)
    """Watched address -> token address -> change, from ERC-20 Transfer (and WETH Deposit/Withdrawal) logs."""
    backend: str = "anvil"

    @property
    def total_gas_used(self) -> int:
        return sum(t.gas_used for t in self.txs)

    @property
    def coinbase_diff(self) -> int:
        return sum(t.coinbase_diff for t in self.txs)

    @property
    def gas_fees(self) -> int:
        return sum(t.gas_fees for t in self.txs)

    @property
    def eth_sent_to_coinbase(self) -> int:
        return self.coinbase_diff - self.gas_fees

    @property
    def bundle_gas_price(self) -> int:
        return self.coinbase_diff // self.total_gas_used

    @property
    def failed(self) -> list[TxSimulation]:
        """Transactions that reverted although the bundle does not allow it."""
        return [t for t in self.txs if t.fatal]

    @property
    def ok(self) -> bool:
        return not self.failed

    def profit(self, addresses: Iterable[str] | None = None) -> int:
        """Net wei gained by the given (default: watched) addresses: ETH plus WETH, after gas and tips."""
        weth = TOKENS["WETH"].address
        who = list(addresses) if addresses is not None else list(self.eth_changes)
        return sum(self.eth_changes.get(a, 0) + self.token_changes.get(a, {}).get(weth, 0) for a in who)

    def call_bundle_response(self) -> dict[str, Any]:
        """Exactly what eth_callBundle answers (wei amounts as decimal strings)."""
        return {
            "bundleGasPrice": str(self.bundle_gas_price),
            "bundleHash": self.bundle.bundle_hash_hex,
            "coinbaseDiff": str(self.coinbase_diff),
            "ethSentToCoinbase": str(self.eth_sent_to_coinbase),
            "gasFees": str(self.gas_fees),
            "results": [t.call_bundle_entry() for t in self.txs],
            "stateBlockNumber": self.state_block,
            "totalGasUsed": self.total_gas_used,
        }


class AnvilSimulator:
    """Simulates bundles on an anvil node it may mine on and revert.

    fork=True (default): start a private `anvil --fork-url <upstream> --order fifo --no-mining` and
    re-point it (anvil_reset) whenever the state block changes. fork=False: use the upstream node itself,
    which must be an anvil ordering its pool FIFO; its pending pool is set aside and restored.
    """

    def __init__(
        self,
        upstream_url: str,
        fork: bool = True,
        coinbase: str = BUILDER_COINBASE,
        log_path: Path | None = None,
    ) -> None:
        self.upstream_url = upstream_url
        self.fork = fork
        self.coinbase = str(to_checksum_address(coinbase))
        self.log_path = log_path
        self.upstream = HttpRpc(upstream_url)
        self._node: AnvilNode | None = None
        self._rpc: HttpRpc | None = None
        self._lock = asyncio.Lock()
        self._fork_at: tuple[int, str] | None = None

    @property
    def node_url(self) -> str:
        if self._node is not None:
            return self._node.http_url
        return self.upstream_url

    async def start(self) -> AnvilSimulator:
        if self._rpc is not None:
            return self
        if self.fork:
            head = to_int(await self.upstream.call("eth_blockNumber"))
            config = AnvilConfig(fork_url=self.upstream_url, fork_block=head, extra_args=["--no-mining"])
            node = AnvilNode(config, self.log_path)
            await asyncio.to_thread(node.start, 60.0)
            self._node = node
            self._rpc = HttpRpc(node.http_url)
            block = await self._rpc.call("eth_getBlockByNumber", ["latest", False])
            self._fork_at = (to_int(block["number"]), block["hash"])
        else:
            self._rpc = HttpRpc(self.upstream_url)
            await check_fifo_anvil(self._rpc, self.upstream_url)
        if self.fork:
            await self._rpc.call("anvil_setCoinbase", [self.coinbase])
        return self

    async def close(self) -> None:
        if self._rpc is not None:
            await self._rpc.close()
            self._rpc = None
        await self.upstream.close()
        if self._node is not None:
            await asyncio.to_thread(self._node.stop)
            self._node = None

    async def __aenter__(self) -> AnvilSimulator:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _prepare_fork(self, rpc: HttpRpc, state_block: int | None) -> int | None:
        """Point the private fork at the wanted upstream block unless it is there already.

        Returns the upstream's own base fee for the next block when simulating on its head: anvil's
        next base fee is not always the EIP-1559 formula (right after genesis, or after
        anvil_setNextBlockBaseFeePerGas), and the fork must use the value the upstream will use.
        """
        latest, pending = await self.upstream.batch(
            [("eth_getBlockByNumber", ["latest", False]), ("eth_getBlockByNumber", ["pending", False])]
        )
        head = to_int(latest["number"])
        number = state_block if state_block is not None else head
        block = (
            latest
            if number == head
            else await self.upstream.call("eth_getBlockByNumber", [hex(number), False])
        )
        if block is None:
            raise BundleSimulationError(f"state block {number} not found at {self.upstream_url}")
        if self._fork_at != (number, block["hash"]):
            await rpc.call(
                "anvil_reset", [{"forking": {"jsonRpcUrl": self.upstream_url, "blockNumber": number}}]
            )
            await rpc.call("evm_setAutomine", [False])
            await rpc.call("anvil_setCoinbase", [self.coinbase])
            self._fork_at = (number, block["hash"])
        if number == head and isinstance(pending, dict) and pending.get("baseFeePerGas"):
            return to_int(pending["baseFeePerGas"])
        return None

    async def prepare(self, state_block: int | None = None) -> None:
        """Point the private fork at `state_block` (default: the upstream head) now, so the next simulate
        on that block does not pay for the reset. A no-op for in-place simulation."""
        await self.start()
        if not self.fork or self._rpc is None:
            return
        async with self._lock:
            await self._prepare_fork(self._rpc, state_block)

    async def simulate(
        self,
        bundle: Bundle,
        state_block: int | None = None,
        timestamp: int | None = None,
        watch: Sequence[str] = (),
        coinbase: str | None = None,
    ) -> SimulationResult:
        """Run the bundle at the top of the block after `state_block` (default: the latest block).

        timestamp defaults to the parent's + 1 (as eth_callBundle). Raises BundleSimulationError when a
        transaction cannot be executed at all; reverts are results.
        """
        await self.start()
        rpc = self._rpc
        assert rpc is not None
        async with self._lock:
            next_base_fee = None
            if self.fork:
                next_base_fee = await self._prepare_fork(rpc, state_block)
                parent = await rpc.call("eth_getBlockByNumber", ["latest", False])
                restore = self.coinbase if coinbase else None
            else:
                parent, node_coinbase = await rpc.batch(
                    [("eth_getBlockByNumber", ["latest", False]), ("eth_coinbase", [])]
                )
                restore = str(node_coinbase)  # leave the node's own fee recipient as it was
                if state_block is not None and to_int(parent["number"]) != state_block:
                    raise BundleSimulationError(
                        f"node head is {to_int(parent['number'])}; in-place simulation runs on the head"
                    )
            return await _mine_and_revert(
                rpc,
                bundle,
                parent,
                timestamp,
                watch,
                coinbase or self.coinbase,
                restore_coinbase=restore,
                stash_pool=not self.fork,
                next_base_fee=next_base_fee,
            )


async def check_fifo_anvil(rpc: HttpRpc, url: str) -> None:
    """In-place simulation and the local relay need an anvil that keeps arrival order in blocks."""
    try:
        info = await rpc.call("anvil_nodeInfo")
    except RpcReplyError:
        raise UserError(f"{url} is not an anvil node; simulate on a fork instead") from None
    order = str(info.get("transactionOrder", "")).lower()
    if order != "fifo":
        raise UserError(
            f"anvil at {url} orders its pool by {order or 'fees'}; bundles need FIFO order "
            "(start it with `--order fifo`, or simulate on a fork)"
        )


async def stash_pool(rpc: HttpRpc) -> list[str]:
    """Raw bytes of every pending and queued pool tx (nonce order per sender); then empty the pool."""
    content = await rpc.call("txpool_content")
    hashes: list[tuple[int, str, str]] = []
    for section in ("pending", "queued"):
        for sender, by_nonce in (content.get(section) or {}).items():
            for nonce, tx in by_nonce.items():
                hashes.append((int(nonce), sender, tx["hash"]))
    if not hashes:
        return []
    hashes.sort(key=lambda item: (item[1], item[0]))
    raws = await rpc.batch_replies([("eth_getRawTransactionByHash", [h]) for _, _, h in hashes])
    await rpc.call("anvil_dropAllTransactions")
    return [raw for raw in raws if isinstance(raw, str)]


async def restore_pool(rpc: HttpRpc, raws: Sequence[str]) -> None:
    for raw in raws:
        with contextlib.suppress(RpcReplyError):
            await rpc.call("eth_sendRawTransaction", [raw])


async def _mine_and_revert(
    rpc: HttpRpc,
    bundle: Bundle,
    parent: dict[str, Any],
    timestamp: int | None,
    watch: Sequence[str],
    coinbase: str,
    restore_coinbase: str | None,
    stash_pool: bool,
    next_base_fee: int | None = None,
) -> SimulationResult:
    parent_number = to_int(parent["number"])
    parent_time = to_int(parent["timestamp"])
    when = timestamp if timestamp is not None else parent_time + 1
    if when < parent_time:
        raise BundleSimulationError(f"timestamp {when} is before the state block's timestamp {parent_time}")
    watched = list(dict.fromkeys(str(to_checksum_address(a)) for a in watch))
    snapshot = await rpc.call("evm_snapshot")
    stashed: list[str] = []
    try:
        if stash_pool:
            stashed = await _stash(rpc)
        if restore_coinbase is not None:
            await rpc.call("anvil_setCoinbase", [coinbase])
        if next_base_fee is not None:
            await rpc.call("anvil_setNextBlockBaseFeePerGas", [hex(next_base_fee)])
        before = await rpc.batch([("eth_getBalance", [a, "latest"]) for a in watched])
        for i, tx in enumerate(bundle.txs):
            try:
                await rpc.call("eth_sendRawTransaction", [tx.raw_hex])
            except RpcReplyError as exc:
                raise BundleSimulationError(f"tx {i} {tx.hash_hex}: {exc.message}") from None
        mined = await rpc.call("evm_mine_detailed", [{"timestamp": when}])
        block = mined[0]
        block_hashes = [t["hash"] if isinstance(t, dict) else t for t in block["transactions"]]
        for i, tx in enumerate(bundle.txs):
            if i >= len(block_hashes) or block_hashes[i] != tx.hash_hex:
                raise BundleSimulationError(
                    f"tx {i} {tx.hash_hex} could not be executed at its position (nonce, balance or fee cap)"
                )
        number = block["number"]
        calls: list[tuple[str, list[Any]]] = [
            ("eth_getBlockReceipts", [number]),
            ("debug_traceBlockByNumber", [number, _PRESTATE_DIFF]),
        ]
        calls += [("eth_getBalance", [a, number]) for a in watched]
        receipts, traces, *after = await rpc.batch(calls)
        outputs = {t["hash"]: t for t in block["transactions"] if isinstance(t, dict)}
        failed = [r["transactionHash"] for r in receipts[: len(bundle.txs)] if to_int(r["status"]) == 0]
        errors: dict[str, str] = {}
        if failed:
            call_traces = await rpc.batch_replies(
                [("debug_traceTransaction", [h, {"tracer": "callTracer"}]) for h in failed]
            )
            for tx_hash, trace in zip(failed, call_traces, strict=True):
                if isinstance(trace, dict) and trace.get("error"):
                    errors[tx_hash] = str(trace["error"])
        base_fee = to_int(block.get("baseFeePerGas") or 0)
        miner = str(to_checksum_address(block["miner"]))
        sims = [
            _tx_result(
                i, tx, bundle, receipts[i], traces[i], outputs.get(tx.hash_hex, {}), errors, base_fee, miner
            )
            for i, tx in enumerate(bundle.txs)
        ]
        eth_changes = {
            a: to_int(post) - to_int(pre) for a, pre, post in zip(watched, before, after, strict=True)
        }
        token_changes = _token_changes(sims, watched)
        return SimulationResult(
            bundle=bundle,
            state_block=parent_number,
            block_number=to_int(number),
            timestamp=to_int(block["timestamp"]),
            base_fee=base_fee,
            coinbase=miner,
            txs=sims,
            eth_changes=eth_changes,
            token_changes=token_changes,
        )
    finally:
        await rpc.call("evm_revert", [snapshot])
        if restore_coinbase is not None:
            await rpc.call("anvil_setCoinbase", [restore_coinbase])
        if stashed:
            await restore_pool(rpc, stashed)


async def _stash(rpc: HttpRpc) -> list[str]:
    status = await rpc.call("txpool_status")
    if to_int(status.get("pending", 0)) == 0 and to_int(status.get("queued", 0)) == 0:
        return []
    return await stash_pool(rpc)


def _tx_result(
    index: int,
    tx: SignedTx,
    bundle: Bundle,
    receipt: dict[str, Any],
    trace: dict[str, Any],
    mined_tx: dict[str, Any],
    errors: dict[str, str],
    base_fee: int,
    coinbase: str,
) -> TxSimulation:
    if receipt["transactionHash"] != tx.hash_hex:
        raise BundleSimulationError(f"receipt order mismatch at tx {index}")
    diff = trace.get("result", trace)
    eth_changes = balance_changes_from_prestate_diff(diff)
    gas_used = to_int(receipt["gasUsed"])
    success = to_int(receipt["status"]) == 1
    output = bytes.fromhex(str(mined_tx.get("output") or "0x")[2:])
    logs = tuple(
        LogEntry(
            address=str(to_checksum_address(log["address"])),
            topics=tuple(bytes.fromhex(t[2:]) for t in log["topics"]),
            data=bytes.fromhex(log["data"][2:]),
        )
        for log in receipt.get("logs", [])
    )
    return TxSimulation(
        tx=tx,
        index=index,
        success=success,
        gas_used=gas_used,
        gas_fees=gas_used * tx.effective_tip(base_fee),
        coinbase_diff=eth_changes.get(coinbase, 0),
        output=output,
        error=None if success else errors.get(tx.hash_hex, "execution reverted"),
        revert_reason=None if success else decode_revert_reason(output),
        allowed_to_revert=bundle.may_revert(tx.hash),
        logs=logs,
        eth_changes=eth_changes,
    )


def balance_changes_from_prestate_diff(diff: dict[str, Any]) -> dict[str, int]:
    """Per-account ETH change from a prestateTracer diffMode result (post omits unchanged fields)."""
    pre = {str(to_checksum_address(a)): v for a, v in (diff.get("pre") or {}).items()}
    post = {str(to_checksum_address(a)): v for a, v in (diff.get("post") or {}).items()}
    changes: dict[str, int] = {}
    for address in set(pre) | set(post):
        before = to_int(pre.get(address, {}).get("balance", "0x0"))
        if address in post:
            if "balance" not in post[address]:
                continue
            after = to_int(post[address]["balance"])
        else:
            after = 0  # in pre only: the account was deleted
        if after != before:
            changes[address] = after - before
    return changes


def token_transfers(logs: Iterable[LogEntry]) -> list[tuple[str, str, str, int]]:
    """(token, from, to, amount) for ERC-20 Transfer logs and WETH Deposit (mint) / Withdrawal (burn)."""
    weth = TOKENS["WETH"].address
    zero = "0x0000000000000000000000000000000000000000"
    out = []
    for log in logs:
        if not log.topics or len(log.data) != 32:
            continue
        amount = int.from_bytes(log.data, "big")
        if log.topics[0] == TRANSFER_TOPIC and len(log.topics) == 3:
            out.append((log.address, _topic_address(log.topics[1]), _topic_address(log.topics[2]), amount))
        elif log.address == weth and len(log.topics) == 2 and log.topics[0] == WETH_DEPOSIT_TOPIC:
            out.append((log.address, zero, _topic_address(log.topics[1]), amount))
        elif log.address == weth and len(log.topics) == 2 and log.topics[0] == WETH_WITHDRAWAL_TOPIC:
            out.append((log.address, _topic_address(log.topics[1]), zero, amount))
    return out


def _topic_address(topic: bytes) -> str:
    return str(to_checksum_address(topic[-20:]))


def _token_changes(sims: Sequence[TxSimulation], watched: Sequence[str]) -> dict[str, dict[str, int]]:
    changes: dict[str, dict[str, int]] = {a: {} for a in watched}
    for sim in sims:
        for token, sender, receiver, amount in token_transfers(sim.logs):
            if sender in changes:
                changes[sender][token] = changes[sender].get(token, 0) - amount
            if receiver in changes:
                changes[receiver][token] = changes[receiver].get(token, 0) + amount
    return {a: {t: v for t, v in per.items() if v} for a, per in changes.items()}
