"""The journal's record types: one frozen dataclass per table row, plus the report rows (`Trade`, totals).

Amounts on chain are ints in smallest units (they may exceed 64 bits; the tables keep them as decimal
TEXT). Prices and amounts on other venues (CEX books, orders, fills) are Decimals in the venue's own
units, as ccxt gives them. `id` and `created_ms` are filled in by the journal when left at their defaults.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

TRADE_STATUSES = ("included", "reverted", "not_included", "lost", "unknown")
"""P&L outcomes. "unknown": the receipt did not come in time; a later row (the newest wins) resolves it."""


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class OpportunityRecord:
    chain_id: int
    block_number: int
    strategy: str
    route: str  # e.g. "WETH>USDC>WETH v2:0xB4e1..,v3-500:0x88e6.."
    base_token: str
    base_decimals: int
    amount_in: int
    expected_profit: int
    details: Mapping[str, Any] = field(default_factory=dict)
    id: int | None = None
    created_ms: int = 0


@dataclass(frozen=True, slots=True)
class Simulation:
    chain_id: int
    block_number: int
    backend: str  # "eth_call", "eth_simulateV1", "relay", "model"
    success: bool
    gas_used: int
    profit: int
    opportunity_id: int | None = None
    error: str | None = None
    id: int | None = None
    created_ms: int = 0


@dataclass(frozen=True, slots=True)
class Send:
    chain_id: int
    block_number: int  # target block
    kind: str  # "public_tx" | "bundle"
    ident: str  # tx hash or bundle hash
    opportunity_id: int | None = None
    relay: str = ""
    tx_hashes: tuple[str, ...] = ()
    builder_payment: int = 0  # wei promised to the builder (coinbase transfer or priority fees)
    id: int | None = None
    created_ms: int = 0


@dataclass(frozen=True, slots=True)
class Receipt:
    chain_id: int
    block_number: int
    tx_hash: str
    status: int  # 1 success, 0 reverted
    gas_used: int
    effective_gas_price: int
    send_id: int | None = None
    id: int | None = None
    created_ms: int = 0


@dataclass(frozen=True, slots=True)
class Pnl:
    """Realized outcome of one send. gross/net in the base token; gas and builder payment in wei of ETH."""

    chain_id: int
    block_number: int
    status: str  # "included" | "reverted" | "not_included" | "lost" (a rival took it) | "unknown"
    base_token: str
    base_decimals: int
    gross_profit: int
    gas_cost: int
    builder_payment: int
    net_profit: int
    send_id: int | None = None
    id: int | None = None
    created_ms: int = 0


@dataclass(frozen=True, slots=True)
class CexSignal:
    chain_id: int
    block_number: int
    venue: str
    symbol: str
    bid: Decimal
    ask: Decimal
    dex_price: Decimal | None = None
    edge_bps: Decimal | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    id: int | None = None
    created_ms: int = 0


@dataclass(frozen=True, slots=True)
class ErrorRecord:
    """A malformed input or a failed step, kept so it can be counted and inspected later."""

    source: str  # "mempool", "cex:binance", "relay", ...
    kind: str  # "malformed_tx", "bad_log", "timeout", ...
    message: str
    payload: str | None = None
    chain_id: int | None = None
    block_number: int | None = None
    id: int | None = None
    created_ms: int = 0


@dataclass(frozen=True, slots=True)
class Trade:
    """One send joined with its opportunity, receipts and P&L: a row of `defibots history`."""

    send_id: int
    chain_id: int
    block_number: int  # inclusion block if known, else the target block
    strategy: str
    route: str
    kind: str
    status: str  # one of TRADE_STATUSES, or "pending" before the outcome is recorded
    gas_used: int  # sum over the send's receipts
    gas_cost: int  # realized, wei (0 while pending)
    builder_payment: int  # realized, wei (0 while pending or not included)
    promised_payment: int  # what the send offered the builder
    net_profit: int  # realized, base token units (a revert: minus its gas, converted)
    gross_profit: int  # realized token change before gas, base token units
    amount_in: int
    base_token: str
    base_decimals: int
    created_ms: int


@dataclass(frozen=True, slots=True)
class TokenTotals:
    """Totals of the trades whose P&L is in one base token."""

    base_token: str
    base_decimals: int
    trades: int
    included: int
    reverted: int
    gas_cost: int
    builder_payment: int
    gross_profit: int
    net_profit: int
    capital: int  # sum of amount_in over the included trades

    @property
    def fees(self) -> int:
        """Wei paid: gas plus builder payments."""
        return self.gas_cost + self.builder_payment

    @property
    def return_pct(self) -> Decimal | None:
        """Net P&L (reverts' gas included) over the capital the included trades put to work, in percent."""
        if not self.capital:
            return None
        return Decimal(self.net_profit) * 100 / Decimal(self.capital)


POSITION_STATUSES = ("open", "closed", "liquidated")
"""A position's lifecycle; a snapshot with a new status moves the position to it."""


@dataclass(frozen=True, slots=True)
class Position:
    """A leveraged or lending position on a protocol (Aave V3 supply/borrow, a GMX V2 perp), as opened.

    Units are the protocol's own ints: token amounts in smallest units; for GMX, `size` and prices in
    its 1e30 USD units; for Aave, prices in the oracle's 8-decimal USD units. `key` is the protocol's
    identity of the position (GMX position key, the Aave account), used to find it again.
    """

    chain_id: int
    block_number: int  # block it was opened in
    protocol: str  # "aave_v3", "gmx_v2", ...
    market: str  # market token / reserve address, or a market name
    side: str  # "long" | "short" (perps), "supply" | "borrow" | "loop" (lending)
    key: str
    size: int
    collateral_token: str
    collateral: int
    entry_price: int
    debt_token: str = ""
    debt: int = 0
    status: str = "open"  # one of POSITION_STATUSES; the newest snapshot's status
    strategy: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)
    id: int | None = None
    created_ms: int = 0


@dataclass(frozen=True, slots=True)
class PositionSnapshot:
    """A position's state at one block (per-block history). A reorg re-records the block: the newest
    snapshot for a (position, block) replaces the old one."""

    position_id: int
    chain_id: int
    block_number: int
    size: int
    collateral: int
    debt: int
    mark_price: int  # same units as the position's entry_price
    status: str = "open"
    health_factor: int | None = None  # Aave's 1e18-scaled health factor, when it has one
    pnl: int | None = None  # unrealized, in the protocol's units (GMX: 1e30 USD)
    id: int | None = None
    created_ms: int = 0


ORDER_SIDES = ("buy", "sell")
ORDER_STATUSES = ("new", "open", "partially_filled", "filled", "canceled", "rejected", "expired")


@dataclass(frozen=True, slots=True)
class Order:
    """An order on another venue (a CEX through ccxt, or a keeper-executed GMX order). Venue rows may
    have no chain (`chain_id` None for a CEX)."""

    venue: str  # "binance", "bybit", "gmx_v2", ...
    symbol: str  # "ETH/USDT"
    client_order_id: str  # ours, unique per venue: how a restart finds the order again
    side: str  # one of ORDER_SIDES
    type: str  # "limit" | "market" | ...
    amount: Decimal  # base currency, venue units
    price: Decimal | None = None  # None for market orders
    status: str = "new"  # one of ORDER_STATUSES
    venue_order_id: str | None = None
    chain_id: int | None = None
    strategy: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)
    id: int | None = None
    created_ms: int = 0


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution of an order, with its fee in whatever currency the venue charged."""

    order_id: int
    price: Decimal
    amount: Decimal
    fee: Decimal
    fee_currency: str
    venue_trade_id: str | None = None
    chain_id: int | None = None
    id: int | None = None
    created_ms: int = 0


@dataclass(frozen=True, slots=True)
class StrategyPnl:
    """A realized P&L entry of one strategy in any token (funding, interest, a CEX leg's profit, ...),
    as an int in that token's smallest units; `ref` points at what produced it ("send:12", "order:3")."""

    chain_id: int
    strategy: str
    token: str  # symbol, or address where symbols collide
    token_decimals: int
    amount: int  # signed
    kind: str = "realized"  # "realized", "funding", "interest", "fee", ...
    block_number: int | None = None
    ref: str = ""
    id: int | None = None
    created_ms: int = 0


@dataclass(frozen=True, slots=True)
class StrategyTokenTotal:
    """One strategy's summed P&L in one token (ints, exact)."""

    strategy: str
    token: str
    token_decimals: int
    entries: int
    amount: int


ROUND_TRIP_STATUSES = ("pending", "closed", "hedged", "unwound", "chain_failed", "unhedged", "reorged")
"""A hedged trade's outcome. closed: both legs filled as planned; hedged: a residual was hedged by an extra
order within the slippage bound; unwound: the filled leg was reversed; chain_failed: the on-chain leg
reverted or was not included (nothing to hedge); unhedged: exposure left open (an alert was raised);
reorged: the on-chain leg was reorged out and the CEX leg dealt with."""

ROUND_TRIP_DIRECTIONS = ("sell_amm_buy_cex", "buy_amm_sell_cex")


@dataclass(frozen=True, slots=True)
class RoundTrip:
    """One hedged AMM-CEX trade, both legs, P&L in one quote currency (ints in the quote token's units).

    Recorded "pending" when the first leg is sent, then updated as the legs settle. Signed amounts are
    what moved for us (+ received, - paid); the journal checks the two derived fields against them.
    """

    chain_id: int
    block_number: int  # the on-chain leg's inclusion block (its target block before)
    strategy: str
    venue: str  # "binance"
    symbol: str  # "ETH/USDT"
    direction: str  # one of ROUND_TRIP_DIRECTIONS
    status: str  # one of ROUND_TRIP_STATUSES
    base_token: str  # symbol, e.g. "WETH"
    base_decimals: int
    quote_token: str  # e.g. "USDT"
    quote_decimals: int
    chain_base: int  # signed base units the on-chain leg moved for us
    chain_quote: int  # signed quote units of the on-chain leg
    cex_base: int  # signed base units of all CEX fills of this trip, net of fees charged in base
    cex_quote: int  # signed quote units of all CEX fills, net of fees charged in quote
    cex_fee_quote: int  # all venue fees of the trip in quote units (for display; already inside cex_*)
    gas_cost_quote: int  # gas of every on-chain tx of the trip, valued in quote units
    builder_payment_quote: int
    residual_base: int  # chain_base + cex_base: signed base exposure left (0 when flat)
    predicted_net: int  # quote units, what the strategy predicted
    net_pnl: int  # chain_quote + cex_quote - gas_cost_quote - builder_payment_quote
    send_ids: tuple[int, ...] = ()  # journal Send ids of the on-chain txs (leg, unwind)
    order_ids: tuple[int, ...] = ()  # journal Order ids of the CEX orders (leg, hedges, unwinds)
    opportunity_id: int | None = None
    details: Mapping[str, Any] = field(default_factory=dict)  # JSON: policy decisions, reasons
    id: int | None = None
    created_ms: int = 0
    updated_ms: int = 0  # set by the journal on every record/update


@dataclass(frozen=True, slots=True)
class BaseResidual:
    """Summed signed base exposure of settled round trips in one base token."""

    base_token: str
    base_decimals: int
    amount: int


@dataclass(frozen=True, slots=True)
class RoundTripTotals:
    """Round trips of one strategy with P&L in one quote token, summed exactly (ints)."""

    strategy: str
    quote_token: str
    quote_decimals: int
    trips: int
    statuses: Mapping[str, int]  # status -> count, only statuses that occur, in ROUND_TRIP_STATUSES order
    predicted_net: int
    net_pnl: int  # pending trips included as recorded so far
    cex_fee_quote: int
    gas_cost_quote: int
    builder_payment_quote: int
    open_residual: tuple[BaseResidual, ...]  # non-pending trips' residual per base token, nonzero only


@dataclass(frozen=True, slots=True)
class RoundTripLegs:
    """The journal rows a round trip points at: its sends and its CEX orders with their fills."""

    sends: tuple[Send, ...]
    orders: tuple[Order, ...]
    fills: Mapping[int, tuple[Fill, ...]]  # order id -> fills, oldest first
