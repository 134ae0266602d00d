"""`gmx_perp`: a leveraged GMX V2 long or short, entered on a signal, with its take profit and stop loss
placed on GMX in the same transaction, and never more than a share of the portfolio (default 25%: the
riskier strategy of the family).

Signals: "ma_cross" (the fast simple moving average of closed CEX candles crossing the slow one: up goes
long, down goes short or, long-only, flat) or "manual" (open `manual_side` once, at the first candle).
A crossing asks for the side; the executor does nothing when the position is already there, so a position
that its take profit closed is re-entered only on the next crossing.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from defibots.actions import GmxPerpOrder
from defibots.cex.candles import CandlesClosed
from defibots.engine import Action, Capability, Strategy
from defibots.events import Event
from defibots.strategies.registry import StrategyContext, StrategySpec

Side = Literal["long", "short"]


class GmxPerpSettings(BaseModel):
    """`[strategies.gmx_perp]`."""

    model_config = ConfigDict(extra="forbid")

    market: str = "ETH"
    collateral_token: str = "USDC"
    collateral_usd: Decimal = Field(default=Decimal(1000), gt=0)
    leverage: Decimal = Field(default=Decimal(3), gt=1)
    max_portfolio_share: Decimal = Field(default=Decimal("0.25"), gt=0, le=1)
    take_profit_pct: Decimal | None = Field(default=Decimal(4), gt=0)
    stop_loss_pct: Decimal | None = Field(default=Decimal(2), gt=0, lt=100)
    sides: Literal["both", "long", "short"] = "both"
    signal: Literal["ma_cross", "manual"] = "ma_cross"
    manual_side: Side = "long"
    fast: int = Field(default=5, ge=1)
    slow: int = Field(default=20, ge=2)
    # the candles (ccxt fetch_ohlcv)
    exchange: str = "binance"
    url: str | None = None
    """The venue's REST base (the local exchange's URL on the devnet); default the venue's own."""
    symbol: str = "ETH/USDT"
    timeframe: str = "1m"
    poll_interval_s: float = Field(default=5.0, gt=0)
    tokens: list[str] = Field(default_factory=lambda: ["WETH", "USDC"])
    """The pools the job follows (its block clock); GMX itself is read by the executor."""

    @property
    def candles_needed(self) -> int:
        """Closes per event: the slow window and the candle before it, to see a crossing."""
        return self.slow + 1

    @model_validator(mode="after")
    def _windows(self) -> GmxPerpSettings:
        if self.fast >= self.slow:
            raise ValueError("fast must be shorter than slow")
        return self


def sma(values: Sequence[Decimal], n: int) -> Decimal:
    return sum(values[-n:], Decimal(0)) / n


def crossing(closes: Sequence[Decimal], fast: int, slow: int) -> Side | None:
    """ "long" when the fast average crossed above the slow one at the last close, "short" below."""
    if len(closes) < slow + 1:
        return None
    before = sma(closes[:-1], fast) - sma(closes[:-1], slow)
    now = sma(closes, fast) - sma(closes, slow)
    if before <= 0 < now:
        return "long"
    if before >= 0 > now:
        return "short"
    return None


class GmxPerpStrategy(Strategy):
    def __init__(self, settings: GmxPerpSettings) -> None:
        self.settings = settings
        self.wanted: Side | None = None
        self.last: CandlesClosed | None = None
        self.signals = 0

    @property
    def name(self) -> str:
        return "gmx_perp"

    async def process_event(self, event: Event) -> Sequence[Action]:
        s = self.settings
        if not isinstance(event, CandlesClosed) or event.symbol != s.symbol:
            return ()
        self.last = event
        if s.signal == "manual":
            side: Side | None = s.manual_side if self.signals == 0 else None
            why = f"manual {s.manual_side}"
        else:
            side = crossing(event.closes, s.fast, s.slow)
            where = "above" if side == "long" else "below"
            why = f"SMA{s.fast} crossed {where} SMA{s.slow} at {event.closes[-1]}"
        if side is None:
            return ()
        self.signals += 1
        actions: list[Action] = []
        opposite: Side = "short" if side == "long" else "long"
        if self.wanted == opposite:
            actions.append(self._order("close", opposite, why))
            self.wanted = None
        if s.sides in ("both", side):
            actions.append(self._order("open", side, why))
            self.wanted = side
        return actions

    def _order(self, intent: Literal["open", "close"], side: Side, reason: str) -> GmxPerpOrder:
        s = self.settings
        return GmxPerpOrder(
            intent=intent, market=s.market, is_long=side == "long", collateral_token=s.collateral_token,
            collateral_usd=s.collateral_usd, leverage=s.leverage, max_portfolio_share=s.max_portfolio_share,
            take_profit_pct=s.take_profit_pct, stop_loss_pct=s.stop_loss_pct, reason=reason,
        )  # fmt: skip


def _rows(strategy: GmxPerpStrategy) -> list[list[str]]:
    s, last = strategy.settings, strategy.last
    if last is None:
        return []
    closes = last.closes
    fast = f"{sma(closes, s.fast):.2f}" if len(closes) >= s.fast else "-"
    slow = f"{sma(closes, s.slow):.2f}" if len(closes) >= s.slow else "-"
    return [
        [s.market, s.signal, f"{closes[-1]}", fast, slow, strategy.wanted or "flat", str(strategy.signals)]
    ]


def _build(ctx: StrategyContext, settings: GmxPerpSettings) -> GmxPerpStrategy:
    return GmxPerpStrategy(settings)


STRATEGY = StrategySpec(
    name="gmx_perp",
    summary="a GMX V2 long/short on an SMA crossover or by hand, TP/SL on GMX, at most 25% of the book",
    settings=GmxPerpSettings,
    build=_build,
    columns=("market", "signal", "close", "fast", "slow", "side", "signals"),
    rows=_rows,
    state=("candles",),
    events=(CandlesClosed,),
    executors=(Capability.GMX_ORDER,),
)
