"""Order-book snapshots and what a taker order of a given size would really pay (pure, no I/O).

CEX amounts are `Decimal`s parsed from the exchange's decimal strings, not token-unit ints: an exchange
quotes in its own tick and lot sizes, and Decimal keeps those exact. `to_units` converts to the smallest
token unit where a CEX amount meets on-chain math.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_FLOOR, ROUND_UP, Decimal
from typing import Literal

Side = Literal["buy", "sell"]
BPS = Decimal(10_000)


class InsufficientDepth(ValueError):
    """The visible book cannot fill the requested size."""


def parse_decimal(value: object) -> Decimal:
    """An exchange number as an exact Decimal; floats go through their shortest repr (see cex.feed)."""
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, float):
        number = Decimal(repr(value))
    elif isinstance(value, int | str):
        number = Decimal(value)
    else:
        raise ValueError(f"not a number: {value!r}")
    if not number.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return number


def to_units(amount: Decimal, decimals: int, rounding: str = ROUND_DOWN) -> int:
    """A token amount in its smallest unit (10**decimals), rounded toward zero unless told otherwise."""
    return int((amount.scaleb(decimals)).to_integral_value(rounding=rounding))


def floor_to_step(value: Decimal, step: Decimal) -> Decimal:
    """The largest multiple of `step` not above `value` (lot sizes, tick sizes)."""
    if step <= 0:
        return value
    return (value / step).to_integral_value(rounding=ROUND_FLOOR) * step


@dataclass(frozen=True, slots=True)
class Level:
    price: Decimal
    qty: Decimal


@dataclass(frozen=True, slots=True)
class Depth:
    """Visible book of one symbol: bids best (highest) first, asks best (lowest) first."""

    venue: str
    symbol: str
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    timestamp_ms: int
    nonce: int | None = None

    def __post_init__(self) -> None:
        for name, levels, descending in (("bids", self.bids, True), ("asks", self.asks, False)):
            for i, level in enumerate(levels):
                if level.price <= 0 or level.qty <= 0:
                    raise ValueError(f"{self.symbol} {name}[{i}] has a non-positive price or quantity")
                previous = levels[i - 1].price if i else None
                if previous is not None and (
                    level.price >= previous if descending else level.price <= previous
                ):
                    raise ValueError(f"{self.symbol} {name} are not sorted best first")

    @property
    def best_bid(self) -> Level | None:
        return self.bids[0] if self.bids else None

    @property
    def best_ask(self) -> Level | None:
        return self.asks[0] if self.asks else None

    def levels_for(self, side: Side) -> tuple[Level, ...]:
        """The side a taker order walks: a buy takes asks, a sell takes bids."""
        return self.asks if side == "buy" else self.bids


@dataclass(frozen=True, slots=True)
class Fill:
    """A taker order walked through the book. The fee is charged in the asset received (Binance spot)."""

    side: Side
    requested_qty: Decimal
    base_qty: Decimal  # base actually taken from the book
    quote_qty: Decimal  # quote paid (buy) or received (sell), before the fee
    fee: Decimal  # in base for a buy, in quote for a sell
    legs: tuple[Level, ...]  # (price, qty) taken at each level, best first

    @property
    def complete(self) -> bool:
        return self.base_qty == self.requested_qty

    @property
    def fee_asset(self) -> Literal["base", "quote"]:
        return "base" if self.side == "buy" else "quote"

    @property
    def average_price(self) -> Decimal:
        """Volume-weighted price before the fee."""
        if not self.base_qty:
            raise InsufficientDepth("nothing filled")
        return self.quote_qty / self.base_qty

    @property
    def net_base(self) -> Decimal:
        """Base received (buy, after fee) or given (sell)."""
        return self.base_qty - self.fee if self.side == "buy" else self.base_qty

    @property
    def net_quote(self) -> Decimal:
        """Quote paid (buy) or received after the fee (sell)."""
        return self.quote_qty if self.side == "buy" else self.quote_qty - self.fee

    @property
    def effective_price(self) -> Decimal:
        """Quote per base all-in: what the fee-inclusive trade really cost or earned per unit of base."""
        if not self.net_base:
            raise InsufficientDepth("nothing filled")
        return self.net_quote / self.net_base


def fee_for(received: Decimal, taker_fee_bps: Decimal | int, fee_quantum: Decimal | None) -> Decimal:
    """Taker fee on the amount received; rounded up to `fee_quantum` (exchange precision) if given."""
    fee = received * Decimal(taker_fee_bps) / BPS
    if fee_quantum is not None:
        fee = fee.quantize(fee_quantum, rounding=ROUND_UP)
    return fee


def _within_limit(side: Side, price: Decimal, limit_price: Decimal) -> bool:
    return price <= limit_price if side == "buy" else price >= limit_price


def walk(
    depth: Depth,
    side: Side,
    base_qty: Decimal,
    *,
    taker_fee_bps: Decimal | int = 0,
    limit_price: Decimal | None = None,
    fee_quantum: Decimal | None = None,
) -> Fill:
    """Take `base_qty` from the book, best level first, stopping at `limit_price` if given.

    The fee is computed per level (as an exchange reports one commission per trade), each rounded up to
    `fee_quantum` when given; with `fee_quantum=None` it is exact.
    """
    if base_qty <= 0:
        raise ValueError("quantity must be positive")
    remaining = base_qty
    legs: list[Level] = []
    quote = Decimal(0)
    fee = Decimal(0)
    for level in depth.levels_for(side):
        if remaining <= 0:
            break
        if limit_price is not None and not _within_limit(side, level.price, limit_price):
            break
        take = min(remaining, level.qty)
        cost = take * level.price
        legs.append(Level(level.price, take))
        quote += cost
        fee += fee_for(take if side == "buy" else cost, taker_fee_bps, fee_quantum)
        remaining -= take
    return Fill(side, base_qty, base_qty - remaining, quote, fee, tuple(legs))


def walk_quote(
    depth: Depth,
    side: Side,
    quote_qty: Decimal,
    lot_step: Decimal,
    *,
    taker_fee_bps: Decimal | int = 0,
    fee_quantum: Decimal | None = None,
) -> Fill:
    """Spend (buy) or raise (sell) about `quote_qty` of quote, taking whole lots at each level."""
    if quote_qty <= 0:
        raise ValueError("quote quantity must be positive")
    remaining = quote_qty
    legs: list[Level] = []
    base = quote = fee = Decimal(0)
    for level in depth.levels_for(side):
        take = floor_to_step(min(level.qty, remaining / level.price), lot_step)
        if take <= 0:
            break
        cost = take * level.price
        legs.append(Level(level.price, take))
        base += take
        quote += cost
        fee += fee_for(take if side == "buy" else cost, taker_fee_bps, fee_quantum)
        remaining -= cost
    return Fill(side, base, base, quote, fee, tuple(legs))


def executable_price(
    depth: Depth, side: Side, base_qty: Decimal, taker_fee_bps: Decimal | int = 0
) -> Decimal:
    """All-in quote-per-base price of a taker order for `base_qty` base; raises if the book is too thin."""
    fill = walk(depth, side, base_qty, taker_fee_bps=taker_fee_bps)
    if not fill.complete:
        raise InsufficientDepth(
            f"{depth.symbol}: visible {side} depth {fill.base_qty} is less than the requested {base_qty}"
        )
    return fill.effective_price
