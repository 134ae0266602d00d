"""The local exchange's one trading account: free balances per asset and the taker fee it pays."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from defibots.cex.book import Fill, Side
from defibots.devnet.exchange.market import MarketSpec


class SpotAccount:
    """Balances move only by taker fills; the fee is paid in the asset received, like Binance spot."""

    def __init__(self, taker_fee_bps: Decimal, balances: Mapping[str, Decimal | int | str] | None) -> None:
        self.taker_fee_bps = taker_fee_bps
        self.balances: dict[str, Decimal] = {k: Decimal(v) for k, v in (balances or {}).items()}

    def open(self, asset: str) -> None:
        """Make sure the account lists `asset` (at zero if it holds none)."""
        self.balances.setdefault(asset, Decimal(0))

    def can_pay(self, spec: MarketSpec, side: Side, fill: Fill) -> bool:
        spend_asset, spend = (spec.quote, fill.quote_qty) if side == "buy" else (spec.base, fill.base_qty)
        return self.balances.get(spend_asset, Decimal(0)) >= spend

    def settle(self, spec: MarketSpec, side: Side, fill: Fill) -> None:
        if not fill.legs:
            return
        if side == "buy":
            self.balances[spec.quote] -= fill.quote_qty
            self.balances[spec.base] += fill.base_qty - fill.fee
        else:
            self.balances[spec.base] -= fill.base_qty
            self.balances[spec.quote] += fill.quote_qty - fill.fee
