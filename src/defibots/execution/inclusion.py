"""Did the bundle land? Watch the target blocks and classify each: included, not_included, conflicted.

Relays no longer answer bundle-stats queries, so inclusion is read from the chain: a bundle is included
when all its transactions sit in the target block, contiguous and in order. It is *conflicted* when it
can no longer land as sent: one of our nonces was used by another transaction (or by our own transaction
outside the bundle), or someone else's transaction from the bundle (the victim of a backrun) landed
without us. Otherwise the block simply did not take it: not_included.

Per-stage wall-clock times (trigger, decided, simulated, signed, sent, included) are kept with the
result, and expressed as milliseconds into the slot, the slot starting at the parent block's timestamp.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from eth_utils import to_checksum_address

from defibots.chain.async_rpc import HttpRpc, RpcReplyError, to_int
from defibots.execution.bundles import Bundle

STAGES = ("trigger", "decided", "simulated", "signed", "sent", "included")


class InclusionStatus(StrEnum):
    PENDING = "pending"
    INCLUDED = "included"
    NOT_INCLUDED = "not_included"
    CONFLICTED = "conflicted"


@dataclass
class StageTimes:
    """Wall-clock times (time.time()) at which the bundle passed each stage; None = not reached."""

    trigger: float | None = None
    decided: float | None = None
    simulated: float | None = None
    signed: float | None = None
    sent: float | None = None
    included: float | None = None

    def mark(self, stage: str, at: float | None = None) -> None:
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage}")
        setattr(self, stage, at if at is not None else time.time())

    def ms_into_slot(self, slot_start: float) -> dict[str, float | None]:
        """Each stage as milliseconds after the slot started (negative: before it)."""
        out: dict[str, float | None] = {}
        for stage in STAGES:
            value = getattr(self, stage)
            out[stage] = None if value is None else round((value - slot_start) * 1000.0, 3)
        return out


@dataclass(frozen=True)
class BlockOutcome:
    block_number: int
    status: InclusionStatus
    block_hash: str | None = None
    block_timestamp: int | None = None
    tx_indexes: tuple[int, ...] = ()
    """Positions of the bundle's transactions in the block (when included)."""
    reason: str = ""


@dataclass
class InclusionResult:
    bundle_hash: str
    target_blocks: tuple[int, ...]
    outcomes: dict[int, BlockOutcome] = field(default_factory=dict)
    stages: StageTimes = field(default_factory=StageTimes)
    slot_start: int | None = None
    """Timestamp of the block before the first target: the start of the slot the bundle was sent in."""

    @property
    def status(self) -> InclusionStatus:
        statuses = [o.status for o in self.outcomes.values()]
        if InclusionStatus.INCLUDED in statuses:
            return InclusionStatus.INCLUDED
        if InclusionStatus.CONFLICTED in statuses:
            return InclusionStatus.CONFLICTED
        if len(self.outcomes) == len(self.target_blocks) and statuses:
            return InclusionStatus.NOT_INCLUDED
        return InclusionStatus.PENDING

    @property
    def included_block(self) -> int | None:
        for number, outcome in sorted(self.outcomes.items()):
            if outcome.status is InclusionStatus.INCLUDED:
                return number
        return None

    def stage_ms_into_slot(self) -> dict[str, float | None]:
        if self.slot_start is None:
            return dict.fromkeys(STAGES)
        return self.stages.ms_into_slot(float(self.slot_start))

    def as_record(self) -> dict[str, Any]:
        """A flat, JSON-able record for the journal."""
        return {
            "bundle_hash": self.bundle_hash,
            "status": self.status.value,
            "included_block": self.included_block,
            "target_blocks": list(self.target_blocks),
            "outcomes": {
                str(n): {
                    "status": o.status.value,
                    "block_hash": o.block_hash,
                    "reason": o.reason,
                    "tx_indexes": list(o.tx_indexes),
                }
                for n, o in sorted(self.outcomes.items())
            },
            "stages": {s: getattr(self.stages, s) for s in STAGES},
            "ms_into_slot": self.stage_ms_into_slot(),
        }


class InclusionTracker:
    """Reads target blocks from a node (polling; cheap on a local node, fine at 12 s slots)."""

    def __init__(self, rpc: HttpRpc, poll_interval: float = 0.25) -> None:
        self.rpc = rpc
        self.poll_interval = poll_interval

    async def check_block(
        self, bundle: Bundle, block_number: int, our_senders: Iterable[str] | None = None
    ) -> BlockOutcome | None:
        """The outcome in one block, or None when that block does not exist yet."""
        block = await self.rpc.call("eth_getBlockByNumber", [hex(block_number), True])
        if block is None:
            return None
        ours = _ours(bundle, our_senders)
        block_txs: list[dict[str, Any]] = list(block["transactions"])
        position = {tx["hash"].lower(): i for i, tx in enumerate(block_txs)}
        wanted = [tx.hash_hex for tx in bundle.txs]
        where = [position.get(h) for h in wanted]
        common = {"block_hash": block["hash"], "block_timestamp": to_int(block["timestamp"])}
        if all(p is not None for p in where):
            indexes = tuple(p for p in where if p is not None)
            if list(indexes) == list(range(indexes[0], indexes[0] + len(indexes))):
                return BlockOutcome(block_number, InclusionStatus.INCLUDED, tx_indexes=indexes, **common)
            return BlockOutcome(
                block_number,
                InclusionStatus.CONFLICTED,
                reason="bundle txs landed split apart",
                tx_indexes=indexes,
                **common,
            )
        reason = await self._conflict(bundle, block_number, block_txs, position, ours)
        if reason:
            return BlockOutcome(block_number, InclusionStatus.CONFLICTED, reason=reason, **common)
        return BlockOutcome(block_number, InclusionStatus.NOT_INCLUDED, **common)

    async def _conflict(
        self,
        bundle: Bundle,
        block_number: int,
        block_txs: Sequence[dict[str, Any]],
        position: dict[str, int],
        ours: set[str],
    ) -> str:
        by_nonce = {(str(to_checksum_address(t["from"])), to_int(t["nonce"])): t["hash"] for t in block_txs}
        for tx in bundle.txs:
            if tx.sender not in ours:
                continue
            other = by_nonce.get((tx.sender, tx.nonce))
            if other is not None and other.lower() != tx.hash_hex:
                return f"nonce {tx.nonce} of {tx.sender} used by {other}"
            if tx.hash_hex in position:
                return f"our tx {tx.hash_hex} landed outside the bundle"
        senders = sorted({tx.sender for tx in bundle.txs if tx.sender in ours})
        counts = await self.rpc.batch_replies(
            [("eth_getTransactionCount", [s, hex(block_number)]) for s in senders]
        )
        next_nonce = {
            s: to_int(c) for s, c in zip(senders, counts, strict=True) if not isinstance(c, RpcReplyError)
        }
        for tx in bundle.txs:
            if tx.sender in next_nonce and next_nonce[tx.sender] > tx.nonce:
                return f"nonce {tx.nonce} of {tx.sender} was used before block {block_number}"
        for tx in bundle.txs:
            if tx.sender in ours:
                continue
            if tx.hash_hex in position:
                return f"victim tx {tx.hash_hex} landed without the bundle"
            receipt = await self.rpc.call("eth_getTransactionReceipt", [tx.hash_hex])
            if receipt is not None and to_int(receipt["blockNumber"]) <= block_number:
                landed = to_int(receipt["blockNumber"])
                return f"victim tx {tx.hash_hex} landed in block {landed} without the bundle"
        return ""

    async def track(
        self,
        bundle: Bundle,
        target_blocks: Sequence[int],
        our_senders: Iterable[str] | None = None,
        stages: StageTimes | None = None,
        timeout: float | None = None,
    ) -> InclusionResult:
        """Wait for each target block and classify it; stops at inclusion or at a conflict."""
        targets = tuple(sorted(set(target_blocks)))
        result = InclusionResult(bundle.bundle_hash_hex, targets, stages=stages or StageTimes())
        senders = list(our_senders) if our_senders is not None else None
        if targets and targets[0] > 0:
            parent = await self.rpc.call("eth_getBlockByNumber", [hex(targets[0] - 1), False])
            if parent is not None:
                result.slot_start = to_int(parent["timestamp"])
        deadline = None if timeout is None else time.monotonic() + timeout
        for number in targets:
            outcome = None
            while outcome is None:
                outcome = await self.check_block(bundle, number, senders)
                if outcome is None:
                    if deadline is not None and time.monotonic() > deadline:
                        return result
                    await asyncio.sleep(self.poll_interval)
                elif result.slot_start is None and number > 0:
                    parent = await self.rpc.call("eth_getBlockByNumber", [hex(number - 1), False])
                    result.slot_start = to_int(parent["timestamp"]) if parent else None
            result.outcomes[number] = outcome
            if outcome.status is InclusionStatus.INCLUDED:
                result.stages.mark("included")
                break
            if outcome.status is InclusionStatus.CONFLICTED:
                for later in targets:
                    if later > number:
                        result.outcomes[later] = BlockOutcome(
                            later, InclusionStatus.CONFLICTED, reason=f"after conflict in block {number}"
                        )
                break
        return result


def _ours(bundle: Bundle, our_senders: Iterable[str] | None) -> set[str]:
    if our_senders is None:
        return {tx.sender for tx in bundle.txs}
    return {str(to_checksum_address(s)) for s in our_senders}
