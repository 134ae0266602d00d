"""The AAVE_LOOP executor: a `LoopRebalance` becomes one simulated (and, with --execute, sent) loop step.

Planning and sending block on HTTP, so they run in a worker thread: the engine's other tasks keep going.
A step that cannot be planned or whose simulation reverts is journaled as an error and counted; nothing
is sent for it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from decimal import Decimal
from typing import ClassVar

from defibots.actions import LoopRebalance
from defibots.engine import Action, Capability, Executor
from defibots.errors import UserError
from defibots.execution.loop_operator import LoopOperator
from defibots.journal import ErrorRecord, Journal

log = logging.getLogger(__name__)


@dataclass
class RebalanceStats:
    simulated: int = 0
    sent: int = 0
    stale: int = 0
    failed: int = 0
    health_factor: int = 0
    """After the last step (simulated in shadow mode, read from the chain once sent)."""
    recent: list[str] = field(default_factory=list)


class LoopRebalancer(Executor):
    capability: ClassVar[Capability] = Capability.AAVE_LOOP

    def __init__(
        self, operator: LoopOperator, journal: Journal, shadow: bool, slippage_bps: int, min_hf: Decimal
    ) -> None:
        self.operator, self.journal, self.shadow = operator, journal, shadow
        self.slippage_bps, self.min_hf = slippage_bps, min_hf
        self.stats = RebalanceStats()

    @property
    def name(self) -> str:
        return "aave_loop"

    async def execute(self, action: Action) -> None:
        if not isinstance(action, LoopRebalance):
            raise TypeError(f"{type(action).__name__} is not a loop step")
        target = Decimal(action.target_leverage)
        try:
            planned = await asyncio.to_thread(
                self.operator.plan_adjust,
                action.collateral,
                action.debt,
                target,
                self.min_hf,
                self.slippage_bps,
            )
            self.stats.simulated += 1
            hf = planned.simulation.account.health_factor
            if not self.shadow:
                done = await asyncio.to_thread(self.operator.execute, planned)
                self.stats.sent += 1
                hf = done.health_factor
        except UserError as exc:
            self.stats.failed += 1
            self.journal.record_error(
                ErrorRecord(
                    source="strategy:aave_loop", kind="rebalance_failed", message=str(exc),
                    chain_id=self.operator.chain_id, block_number=action.block_number,
                )
            )  # fmt: skip
            log.warning("loop rebalance at block %d failed: %s", action.block_number, exc)
            return
        self.stats.health_factor = hf
        verb = "simulated" if self.shadow else "sent"
        before, after = action.health_factor / 1e18, hf / 1e18
        line = f"{planned.step.kind} to {target}x {verb}: HF {before:.3f} -> {after:.3f}"
        self.stats.recent = [*self.stats.recent[-9:], line]
