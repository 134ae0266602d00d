"""The GMX_ORDER executor: `GmxPerpOrder`s carried out by the GmxTrader (plan with its checks, simulate,
then, unless shadow, send and follow to the keeper's outcome, journaled by the trader).

It sizes an open at the portfolio cap: the collateral is at most `max_portfolio_share` of what the
account holds on this market (its wallet's long and short tokens at the oracle's prices, plus the
collateral and PnL of its open positions). It is idempotent per side: an open when a position on that
side exists, or a close when none does, is skipped and counted, never sent.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from decimal import Decimal
from typing import ClassVar

from defibots.actions import GmxPerpOrder
from defibots.engine import Action, Capability, Executor
from defibots.errors import UserError
from defibots.execution.gmx_trader import GmxMarket, GmxTrader, OpenRequest, PositionView
from defibots.protocols.gmx_v2.market import TokenPrices
from defibots.protocols.gmx_v2.precision import FLOAT_PRECISION, usd_price


@dataclass
class GmxOrderStats:
    simulated: int = 0
    sent: int = 0
    shadow: int = 0
    skipped: int = 0
    failed: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    recent: list[str] = field(default_factory=list)


def portfolio_usd(wallet: list[tuple[int, TokenPrices]], positions: list[PositionView]) -> Decimal:
    """USD of wallet amounts (smallest units, valued at the min price) plus open positions' collateral
    and PnL (GMX prices are per smallest unit x 1e30, so amount x price / 1e30 is USD)."""
    held = sum((Decimal(a) * p.min_price / FLOAT_PRECISION for a, p in wallet), Decimal(0))
    open_value = sum((Decimal(p.collateral_usd + p.pnl_usd) / FLOAT_PRECISION for p in positions), Decimal(0))
    return held + open_value


class GmxOrderExecutor(Executor):
    capability: ClassVar[Capability] = Capability.GMX_ORDER

    def __init__(self, trader: GmxTrader, shadow: bool = True, slippage_bps: int = 30) -> None:
        self.trader = trader
        self.shadow = shadow
        self.slippage_bps = slippage_bps
        self.stats = GmxOrderStats()

    async def execute(self, action: Action) -> None:
        if not isinstance(action, GmxPerpOrder):
            return
        try:
            line = await asyncio.to_thread(self._carry_out, action)
        except UserError as exc:  # a check failed: nothing was sent; the journal has the trader's records
            self.stats.failed += 1
            line = f"{action.intent} {action.market} refused: {exc}"
        self.stats.recent.append(line)
        del self.stats.recent[:-20]

    def _carry_out(self, a: GmxPerpOrder) -> str:
        t = self.trader
        market = t.market(a.market)
        side = "long" if a.is_long else "short"
        mine = [p for p in t.positions() if p.market.name == market.name and p.is_long == a.is_long]
        if a.intent == "close":
            if not mine:
                self.stats.skipped += 1
                return f"close {side} {market.name}: no position"
            plan = t.plan_close(market.name, a.is_long, None, self.slippage_bps)
        else:
            if mine:
                self.stats.skipped += 1
                return f"open {side} {market.name}: already {side}"
            plan = t.plan_open(self._open_request(a, market))
        self.stats.simulated += 1
        if self.shadow:
            self.stats.shadow += 1
            return f"{a.intent} {side} {market.name} simulated ({a.reason}); shadow: not sent"
        done = t.execute(plan)
        self.stats.sent += 1
        self.stats.by_status[done.status] = self.stats.by_status.get(done.status, 0) + 1
        why = f": {done.outcome.reason}" if done.outcome is not None and done.outcome.reason else ""
        return f"{a.intent} {side} {market.name} {done.status}{why} ({a.reason})"

    def _open_request(self, a: GmxPerpOrder, market: GmxMarket) -> OpenRequest:
        t = self.trader
        collateral = market.collateral(a.collateral_token)
        if collateral is None:
            raise UserError(f"{a.collateral_token} is not collateral of {market.name}")
        prices = t.prices(market)
        by_token = {
            market.long.address: prices.long_token_price,
            market.short.address: prices.short_token_price,
        }
        wallet = [(t.balance(tok.address), by_token[tok.address]) for tok in (market.long, market.short)]
        cap = a.max_portfolio_share * portfolio_usd(wallet, [p for p in t.positions() if p.market == market])
        usd = min(a.collateral_usd, cap)
        unit = by_token[collateral.address]
        amount = (usd / usd_price(unit.min_price, collateral.decimals)).quantize(
            Decimal(1).scaleb(-collateral.decimals)
        )
        mark = usd_price(prices.index_token_price.mid_price, market.index.decimals)
        up, down = (a.take_profit_pct, a.stop_loss_pct) if a.is_long else (a.stop_loss_pct, a.take_profit_pct)
        above = mark * (1 + up / 100) if up is not None else None
        below = mark * (1 - down / 100) if down is not None else None
        tp, sl = (above, below) if a.is_long else (below, above)
        return OpenRequest(
            market.name, a.is_long, collateral.name, amount, a.leverage, tp, sl, self.slippage_bps
        )
