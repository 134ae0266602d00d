"""The outbound-order cache: every order we sent, keyed by our client order id, kept until the venue has
given a confirmed answer and the order is closed, so a time-out or a websocket drop never loses one.

An order is `pending` from the moment it is sent until the venue answers (a create reply, a fetch by
client id, or a stream update); `confirmed` while it can still change (resting, or filled but not yet
reconciled against the trade list); `closed` once it is final and every trade is journaled. The cache
is pure bookkeeping: the executor (cex.orders) does the I/O.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from defibots.cex.book import Side

OrderType = Literal["limit", "market"]
TimeInForce = Literal["GTC", "IOC", "FOK"]
CacheState = Literal["pending", "confirmed", "closed"]
FINAL_STATUSES = frozenset({"filled", "canceled", "rejected", "expired"})
_CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,36}$")


def client_order_id(prefix: str, key: str) -> str:
    """A deterministic client order id for `key` (e.g. "opp:12:cex"): the same intent always gets the same
    id, so a retried create is recognised by the venue as the same order. At most 36 characters (Binance's
    and Bybit's limit)."""
    if not re.fullmatch(r"[A-Za-z0-9]{1,8}", prefix):
        raise ValueError(f"client order id prefix {prefix!r} must be 1-8 letters or digits")
    digest = hashlib.sha256(key.encode()).hexdigest()[: 35 - len(prefix)]
    return f"{prefix}-{digest}"


@dataclass(frozen=True)
class OrderIntent:
    """What a caller wants on a venue; amounts in venue units (base currency)."""

    symbol: str
    side: Side
    type: OrderType
    amount: Decimal
    price: Decimal | None = None
    time_in_force: TimeInForce | None = None

    def __post_init__(self) -> None:
        if self.amount <= 0:
            raise ValueError(f"order amount must be positive, got {self.amount}")
        if self.type == "limit" and (self.price is None or self.price <= 0):
            raise ValueError("a limit order needs a positive price")


@dataclass(frozen=True)
class VenueFill:
    """One trade of one of our orders, as the venue reports it (fee in the venue's fee currency)."""

    trade_id: str
    price: Decimal
    amount: Decimal
    fee: Decimal
    fee_currency: str


@dataclass
class TrackedOrder:
    """One outbound order and everything known about it so far."""

    client_order_id: str
    intent: OrderIntent
    journal_id: int | None = None
    state: CacheState = "pending"
    status: str = "new"  # journal vocabulary (records.ORDER_STATUSES)
    venue_order_id: str | None = None
    filled: Decimal = Decimal(0)
    fills: dict[str, VenueFill] = field(default_factory=dict)
    attempts: int = 0
    error: str | None = None

    @property
    def filled_by_trades(self) -> Decimal:
        return sum((f.amount for f in self.fills.values()), Decimal(0))

    @property
    def fees(self) -> dict[str, Decimal]:
        """Total fee per currency over the journaled trades."""
        totals: dict[str, Decimal] = {}
        for fill in self.fills.values():
            totals[fill.fee_currency] = totals.get(fill.fee_currency, Decimal(0)) + fill.fee
        return totals

    @property
    def needs_trades(self) -> bool:
        """The venue reports more filled than the trades we have journaled."""
        return self.filled > self.filled_by_trades


class OrderCache:
    """Outbound orders by client order id, in the order they were sent."""

    def __init__(self) -> None:
        self._orders: dict[str, TrackedOrder] = {}
        self._by_venue_id: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self._orders)

    def __contains__(self, client_id: object) -> bool:
        return client_id in self._orders

    def add(self, order: TrackedOrder) -> TrackedOrder:
        if not _CLIENT_ID.match(order.client_order_id):
            raise ValueError(f"client order id {order.client_order_id!r} is not valid on the venues")
        return self._orders.setdefault(order.client_order_id, order)

    def get(self, client_id: str) -> TrackedOrder | None:
        return self._orders.get(client_id)

    def by_venue_id(self, venue_order_id: str) -> TrackedOrder | None:
        client_id = self._by_venue_id.get(venue_order_id)
        return None if client_id is None else self._orders.get(client_id)

    def confirm(self, order: TrackedOrder, venue_order_id: str, status: str, filled: Decimal) -> None:
        """The venue's answer; status and fill only move forward (a late, stale message cannot undo one)."""
        if venue_order_id:
            order.venue_order_id = venue_order_id
            self._by_venue_id[venue_order_id] = order.client_order_id
        order.filled = max(order.filled, filled)
        if order.status not in FINAL_STATUSES:
            order.status = status
        if order.state == "pending":
            order.state = "confirmed"
        self.settle(order)

    def settle(self, order: TrackedOrder) -> None:
        """Close an order once it is final and every trade is in."""
        if order.state == "confirmed" and order.status in FINAL_STATUSES and not order.needs_trades:
            order.state = "closed"

    def unsettled(self) -> list[TrackedOrder]:
        """Orders not closed yet: pending (no answer) or confirmed but still live or missing trades."""
        return [o for o in self._orders.values() if o.state != "closed"]

    def pending(self) -> list[TrackedOrder]:
        return [o for o in self._orders.values() if o.state == "pending"]

    def all(self) -> list[TrackedOrder]:
        return list(self._orders.values())
