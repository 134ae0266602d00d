"""`aave_loop`: keep a leveraged Aave loop's health factor inside a band by boosting or repaying.

A loop's health factor is HF = C * LT / D and its leverage L = C / (C - D), so the target health factor
fixes the leverage: L = HF / (HF - LT). When a block's read leaves the band (prices moved), the strategy
asks for that leverage; the executor sizes the step on the current pools, simulates it and sends it.
One step in flight at a time: the next read after it decides again.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from defibots.actions import LoopRebalance
from defibots.chain.aave_account import AaveAccountRead
from defibots.engine import Action, Capability, Strategy
from defibots.events import Event
from defibots.protocols.aave_v3.math import WAD
from defibots.protocols.leverage_loop import leverage_for_health_factor
from defibots.strategies.registry import StrategyContext, StrategySpec


class AaveLoopSettings(BaseModel):
    """`[strategies.aave_loop]`: which loop, and the band its health factor is kept in."""

    model_config = ConfigDict(extra="forbid")

    account: str = ""
    """The AaveLoop contract (default: the signer's, from the state dir)."""
    collateral: str = "WETH"
    debt: str = "USDC"
    target_health_factor: Decimal = Field(default=Decimal("1.6"), ge=Decimal("1.05"))
    band: Decimal = Field(default=Decimal("0.1"), gt=0)
    max_slippage_bps: int = Field(default=30, ge=0, le=1000)


class AaveLoopStrategy(Strategy):
    def __init__(self, settings: AaveLoopSettings, account: str) -> None:
        self.settings = settings
        self.account = account
        self.last: AaveAccountRead | None = None
        self.asked = 0
        self.in_flight_until = 0
        """Block of the last request: reads up to it predate that step, so they are not acted on."""

    @property
    def name(self) -> str:
        return "aave_loop"

    def band(self) -> tuple[Decimal, Decimal]:
        s = self.settings
        return s.target_health_factor - s.band, s.target_health_factor + s.band

    async def process_event(self, event: Event) -> Sequence[Action]:
        if not isinstance(event, AaveAccountRead) or event.account.lower() != self.account.lower():
            return ()
        self.last = event
        if event.debt_base == 0 or event.block_number <= self.in_flight_until:
            return ()
        hf = Decimal(event.health_factor) / WAD
        low, high = self.band()
        if low <= hf <= high:
            return ()
        target = leverage_for_health_factor(self.settings.target_health_factor, event.liquidation_threshold)
        self.asked += 1
        self.in_flight_until = event.block_number + 1
        return [
            LoopRebalance(
                account=self.account, collateral=self.settings.collateral, debt=self.settings.debt,
                target_leverage=str(target.quantize(Decimal("0.0001"))), health_factor=event.health_factor,
                block_number=event.block_number,
            )
        ]  # fmt: skip


def _rows(strategy: AaveLoopStrategy) -> list[list[str]]:
    read = strategy.last
    if read is None:
        return []
    low, high = strategy.band()
    hf = Decimal(read.health_factor) / WAD
    leverage = (
        Decimal(read.collateral_base) / (read.collateral_base - read.debt_base) if read.debt_base else 1
    )
    return [
        [
            read.account[:10], f"{hf:.4f}", f"{low}-{high}", f"{leverage:.3f}",
            f"${Decimal(read.collateral_base) / 10**8:,.0f}", f"${Decimal(read.debt_base) / 10**8:,.0f}",
            str(strategy.asked), str(read.block_number),
        ]
    ]  # fmt: skip


def _build(ctx: StrategyContext, settings: AaveLoopSettings) -> AaveLoopStrategy:
    return AaveLoopStrategy(settings, settings.account)


STRATEGY = StrategySpec(
    name="aave_loop",
    summary="keep a leveraged Aave loop's health factor in a band (boost or repay in one transaction)",
    settings=AaveLoopSettings,
    build=_build,
    columns=("loop", "HF", "band", "leverage", "collateral", "debt", "rebalances asked", "block"),
    rows=_rows,
    state=("aave_loop",),
    events=(AaveAccountRead,),
    executors=(Capability.AAVE_LOOP,),
)
