"""The simulation procedure both backends share: mine the bundle's block for real, read it, revert it.

Why mine instead of eth_call: a mined block is the ground truth a relay produces — same base fee,
coinbase, gas accounting, refunds and logs. On a node we may mine on: evm_snapshot, send the raw
transactions one by one (the node must order its pool first-in-first-out, `anvil --order fifo`, so the
block holds them in bundle order), evm_mine_detailed with the target timestamp, read receipts, a prestate
diff trace (per-transaction coinbase and ETH changes) and balances, then evm_revert.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_utils import to_checksum_address

from defibots.chain.async_rpc import HttpRpc, RpcReplyError, to_int
from defibots.execution.bundles import Bundle, SignedTx
from defibots.execution.simulation.result import (
    BundleSimulationError,
    LogEntry,
    SimulationResult,
    TxSimulation,
    decode_revert_reason,
    token_changes,
)
from defibots.execution.simulation.txpool import restore_pool, stash_pool_if_any

BUILDER_COINBASE = str(to_checksum_address("0x0000000000000000000000000000000000c0ffee"))
"""Fee recipient of simulated blocks and of the local relay's blocks, so coinbase diffs are measurable."""

_PRESTATE_DIFF = {
    "tracer": "prestateTracer",
    "tracerConfig": {"diffMode": True, "disableCode": True, "disableStorage": True},
}


@dataclass(frozen=True)
class BlockSetup:
    """How a backend wants the block mined: on top of `parent`, and what to put back afterwards."""

    parent: dict[str, Any]
    restore_coinbase: str | None
    """The node's fee recipient to restore after the block (None: leave it as set)."""
    stash_pool: bool
    """Set the node's pending pool aside during the block and resend it after (in-place simulation)."""
    next_base_fee: int | None = None
    """Base fee to force on the block (the upstream's own value when simulating on its head)."""


async def mine_and_revert(
    rpc: HttpRpc,
    bundle: Bundle,
    setup: BlockSetup,
    timestamp: int | None,
    watch: Sequence[str],
    coinbase: str,
    trace: bool = True,
) -> SimulationResult:
    """Mine `bundle` as the block after `setup.parent` with fee recipient `coinbase`, read it, revert it.

    trace=False skips the prestate trace: each transaction's coinbase_diff and eth_changes then read 0,
    while the watched balances stay exact (for callers that check payments through them)."""
    parent, restore_coinbase, next_base_fee = setup.parent, setup.restore_coinbase, setup.next_base_fee
    parent_number = to_int(parent["number"])
    parent_time = to_int(parent["timestamp"])
    when = timestamp if timestamp is not None else parent_time + 1
    if when < parent_time:
        raise BundleSimulationError(f"timestamp {when} is before the state block's timestamp {parent_time}")
    watched = list(dict.fromkeys(str(to_checksum_address(a)) for a in watch))
    snapshot = await rpc.call("evm_snapshot")
    stashed: list[str] = []
    try:
        if setup.stash_pool:
            stashed = await stash_pool_if_any(rpc)
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
        calls: list[tuple[str, list[Any]]] = [("eth_getBlockReceipts", [number])]
        if trace:
            calls.append(("debug_traceBlockByNumber", [number, _PRESTATE_DIFF]))
        calls += [("eth_getBalance", [a, number]) for a in watched]
        receipts, *rest = await rpc.batch(calls)
        traces = rest.pop(0) if trace else [{}] * len(bundle.txs)
        after = rest
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
        changes = token_changes(sims, watched)
        return SimulationResult(
            bundle=bundle,
            state_block=parent_number,
            block_number=to_int(number),
            timestamp=to_int(block["timestamp"]),
            base_fee=base_fee,
            coinbase=miner,
            txs=sims,
            eth_changes=eth_changes,
            token_changes=changes,
        )
    finally:
        await rpc.call("evm_revert", [snapshot])
        if restore_coinbase is not None:
            await rpc.call("anvil_setCoinbase", [restore_coinbase])
        if stashed:
            await restore_pool(rpc, stashed)


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
