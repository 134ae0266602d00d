"""The CEX feed's events on the engine's bus (produced by defibots.cex.feed)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from defibots.cex.book import Depth
from defibots.events import Event


@dataclass(frozen=True, slots=True)
class BookTop(Event):
    """Best bid and ask of one CEX symbol; prices and sizes exact Decimals (see defibots.cex.book)."""

    venue: str
    symbol: str
    bid: Decimal
    bid_qty: Decimal
    ask: Decimal
    ask_qty: Decimal
    timestamp_ms: int
    depth: Depth | None = field(default=None, compare=False)

    @property
    def mid(self) -> Decimal:
        return (self.bid + self.ask) / 2
