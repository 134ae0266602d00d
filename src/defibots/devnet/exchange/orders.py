"""What the local venues trade: an order's request and its life (status, fills), and one trade of one side.

Venue-neutral: the Binance and Bybit APIs translate their parameters into an `OrderRequest`, read `Order`
and `Trade` back, and map an `OrderRejected` reason to their own error code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from defibots.cex.book import Side

OrderType = Literal["LIMIT", "MARKET"]
TimeInForce = Literal["GTC", "IOC", "FOK", "POST_ONLY"]
# Binance's status names; the Bybit API renames them
OrderStatus = Literal["NEW", "PARTIALLY_FILLED", "FILLED", "CANCELED", "EXPIRED", "REJECTED"]
Execution = Literal["NEW", "TRADE", "CANCELED", "EXPIRED"]
RejectReason = Literal["insufficient_balance", "would_take", "duplicate", "unknown_order"]
OPEN_STATUSES = ("NEW", "PARTIALLY_FILLED")


class OrderRejected(Exception):
    """The engine refused an order or a cancel; nothing changed."""

    def __init__(self, reason: RejectReason) -> None:
        super().__init__(reason)
        self.reason: RejectReason = reason


@dataclass(frozen=True)
class OrderRequest:
    """A new order: by base `qty`, or (market only) by `quote_qty` to spend or raise."""

    side: Side
    order_type: OrderType
    qty: Decimal | None = None
    quote_qty: Decimal | None = None
    price: Decimal | None = None  # the limit price; None for a market order
    time_in_force: TimeInForce = "GTC"
    client_id: str = ""


@dataclass(frozen=True)
class Trade:
    """One fill of one order; the maker's and the taker's trades of a match share `trade_id`."""

    trade_id: int
    order_id: int
    market_id: str
    side: Side
    price: Decimal
    qty: Decimal
    commission: Decimal
    commission_asset: str  # the asset received, as Binance spot charges it
    is_maker: bool
    time_ms: int

    @property
    def quote_qty(self) -> Decimal:
        return self.price * self.qty


@dataclass(eq=False)
class Order:
    """An order's state; `locked` is what the account still holds back for it (quote to buy, base to sell)."""

    order_id: int
    account_id: str
    market_id: str
    request: OrderRequest
    client_id: str
    created_ms: int
    updated_ms: int
    status: OrderStatus = "NEW"
    executed: Decimal = Decimal(0)
    cum_quote: Decimal = Decimal(0)
    locked: Decimal = Decimal(0)
    trades: list[Trade] = field(default_factory=list)
    on_book: bool = False
    sequence: int = 0  # arrival order within a price level (time priority)

    @property
    def side(self) -> Side:
        return self.request.side

    @property
    def price(self) -> Decimal:
        return self.request.price or Decimal(0)

    @property
    def qty(self) -> Decimal:
        """The ordered base quantity; for an order by quote, what it ended up buying or selling."""
        return self.request.qty if self.request.qty is not None else self.executed

    @property
    def remaining(self) -> Decimal:
        return self.qty - self.executed

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def fees(self) -> Decimal:
        return sum((t.commission for t in self.trades), Decimal(0))


@dataclass(frozen=True)
class OrderUpdate:
    """An order's state right after one event of its life (what an executionReport reports)."""

    order: Order  # the live order, for what never changes (ids, side, price, request)
    execution: Execution
    status: OrderStatus
    executed: Decimal
    cum_quote: Decimal
    on_book: bool
    time_ms: int
    trade: Trade | None = None
