"""What the GMX stand-in's keeper execution does to a position and its market, in exact integers.

A pure model of contracts-gmx: PositionHandler (executeOrder with its cumulative update, _increase,
_decrease, _fees, _settlePartial, liquidate), MarketLogic (nextCumulative, pendingFees,
checkLiquidation, decreaseExecutionPrice, cappedPositionImpactUsd), OrderHandler.validateTriggerPrice
and Reader.getPositionInfo, step for step and with the same rounding (unsigned divisions floor, signed
ones truncate toward zero, `roundUpDivision` where the Solidity rounds up).

Where the stand-in's formula is the front end's, the gmx_v2 model's functions are used: the PnL with
the pool cap, the impact caps, the realized share of the pending impact, a decrease's net impact, the
position fee and the funding per period. The impact curve is the stand-in's own: exponent 1 (d) or 2
(d * d / 1e30, integer), where the front end raises to the exponent in floats.

Prices are the contract's, per smallest token unit (USD * 10**(30 - decimals)), so a token amount's USD
is amount * price. The gmx_v2 functions take whole-token prices with the token's decimals: they are
given the unit prices and 0 decimals, which is the same arithmetic (also for the mid price).

A check that reverts in the Solidity raises `OrderRejected` with the custom error's signature and
arguments: the stand-in's OrderHandler then cancels a market order or freezes a limit order, with that
error as its reason.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from defibots.protocols.gmx_v2.fees import (
    borrowing_factor_per_period,
    funding_factor_per_period,
    position_fee,
)
from defibots.protocols.gmx_v2.market import Market, MarketConfig, MarketState, Token, TokenPrices
from defibots.protocols.gmx_v2.order_types import OrderType
from defibots.protocols.gmx_v2.position import position_pnl_usd
from defibots.protocols.gmx_v2.precision import (
    FLOAT_PRECISION,
    apply_factor,
    div_toward_zero,
    round_up_magnitude_division,
)
from defibots.protocols.gmx_v2.price_impact import (
    PriceImpact,
    cap_by_max_impact_factor,
    net_price_impact_for_decrease,
    proportional_pending_impact,
)

# The order kinds the stand-in executes, by GMX's numbers.
MARKET_INCREASE, LIMIT_INCREASE, STOP_INCREASE = (
    OrderType.MARKET_INCREASE, OrderType.LIMIT_INCREASE, OrderType.STOP_INCREASE,
)  # fmt: skip
MARKET_DECREASE, LIMIT_DECREASE, STOP_LOSS_DECREASE, LIQUIDATION = (
    OrderType.MARKET_DECREASE, OrderType.LIMIT_DECREASE, OrderType.STOP_LOSS_DECREASE, OrderType.LIQUIDATION,
)  # fmt: skip
INCREASE_TYPES = frozenset(t for t in OrderType if t.is_increase)
DECREASE_TYPES = frozenset(t for t in OrderType if t.is_decrease)
MARKET_TYPES = frozenset(t for t in OrderType if t.is_market and not t.is_swap)


class OrderRejected(Exception):
    """A revert inside the stand-in's PositionHandler: `error` is the custom error's signature (e.g.
    "OrderNotFulfillableAtAcceptablePrice(uint256,uint256)", or "Error(string)" for a require message)
    and `values` its arguments, which is what the order's cancel / freeze reason encodes."""

    def __init__(self, error: str, *values: int | str) -> None:
        super().__init__(f"{error.split('(')[0]}{values}")
        self.error = error
        self.values = values

    @property
    def name(self) -> str:
        return self.error.split("(")[0]


# ---- inputs ----


@dataclass(frozen=True)
class OraclePrices:
    """The keeper's min/max prices (per smallest unit x 1e30) of a market's index, long and short token."""

    index: TokenPrices
    long: TokenPrices
    short: TokenPrices


@dataclass(frozen=True)
class MarketParameters:
    """A market's tokens and every DataStore factor the stand-in reads (factors and USD x 1e30).

    `pricing` holds the fee, impact, PnL-cap and liquidation factors the gmx_v2 model's functions read;
    MIN_COLLATERAL_FACTOR (checked after an order) and the rest are here.
    """

    market: str
    index_token: str
    long_token: str
    short_token: str
    pricing: MarketConfig
    min_collateral_factor: int
    min_collateral_usd: int
    min_position_size_usd: int
    max_open_interest_long: int
    max_open_interest_short: int
    reserve_factor_long: int
    reserve_factor_short: int
    borrowing_factor_long: int
    borrowing_factor_short: int
    borrowing_exponent_factor_long: int
    borrowing_exponent_factor_short: int
    funding_factor: int
    funding_exponent_factor: int

    def is_long_token(self, token: str) -> bool:
        """Whether `token` is the long token (the stand-in's collateralPrice test: else the short)."""
        return token.lower() == self.long_token.lower()


@dataclass(frozen=True)
class OpenInterest:
    """One side's open interest, USD and index tokens, per collateral token (GMX keys it per collateral;
    a market whose long and short token are one token books everything under the long token)."""

    usd_long_collateral: int = 0
    usd_short_collateral: int = 0
    tokens_long_collateral: int = 0
    tokens_short_collateral: int = 0

    @property
    def usd(self) -> int:
        return self.usd_long_collateral + self.usd_short_collateral

    @property
    def tokens(self) -> int:
        return self.tokens_long_collateral + self.tokens_short_collateral

    def moved(self, long_collateral: bool, usd: int, tokens: int) -> OpenInterest:
        """The open interest after a signed change (a change below zero reverts, "OI" / "OI_TOKENS")."""
        if long_collateral:
            out = replace(
                self,
                usd_long_collateral=self.usd_long_collateral + usd,
                tokens_long_collateral=self.tokens_long_collateral + tokens,
            )
        else:
            out = replace(
                self,
                usd_short_collateral=self.usd_short_collateral + usd,
                tokens_short_collateral=self.tokens_short_collateral + tokens,
            )
        if min(out.usd_long_collateral, out.usd_short_collateral) < 0:
            raise OrderRejected("Error(string)", "OI")
        if min(out.tokens_long_collateral, out.tokens_short_collateral) < 0:
            raise OrderRejected("Error(string)", "OI_TOKENS")
        return out


@dataclass(frozen=True)
class Cumulative:
    """The cumulative borrowing factor and the stand-in's funding paid / received factors (USD per USD of
    size, x 1e30) of each side."""

    borrowing_long: int = 0
    borrowing_short: int = 0
    funding_paid_long: int = 0
    funding_paid_short: int = 0
    funding_received_long: int = 0
    funding_received_short: int = 0

    def borrowing(self, is_long: bool) -> int:
        return self.borrowing_long if is_long else self.borrowing_short

    def funding_paid(self, is_long: bool) -> int:
        return self.funding_paid_long if is_long else self.funding_paid_short

    def funding_received(self, is_long: bool) -> int:
        return self.funding_received_long if is_long else self.funding_received_short


@dataclass(frozen=True)
class MarketLedger:
    """A market's DataStore state that executions change: pools, open interest, the impact pool and
    the cumulative factors with their update times (0: never updated)."""

    long_pool_amount: int
    short_pool_amount: int
    long_open_interest: OpenInterest
    short_open_interest: OpenInterest
    position_impact_pool_amount: int
    cumulative: Cumulative
    borrowing_updated_at_long: int = 0
    borrowing_updated_at_short: int = 0
    funding_updated_at: int = 0
    virtual_inventory: int = 0
    """VIRTUAL_INVENTORY_FOR_POSITIONS of the index token's virtual id (0 when it has none)."""

    def open_interest(self, is_long: bool) -> OpenInterest:
        return self.long_open_interest if is_long else self.short_open_interest


@dataclass(frozen=True)
class Position:
    """Position.Props of the stand-in, flattened (an empty one has size 0)."""

    account: str
    market: str
    collateral_token: str
    is_long: bool
    size_in_usd: int = 0
    size_in_tokens: int = 0
    collateral_amount: int = 0
    pending_impact_amount: int = 0
    borrowing_factor: int = 0
    funding_fee_amount_per_size: int = 0
    long_token_claimable_funding_amount_per_size: int = 0
    short_token_claimable_funding_amount_per_size: int = 0
    increased_at_time: int = 0
    decreased_at_time: int = 0


@dataclass(frozen=True)
class Order:
    """The order fields the PositionHandler reads. For an increase `initial_collateral_delta_amount` is
    the collateral the OrderVault holds for it; for a decrease the collateral to withdraw."""

    account: str
    order_type: int
    is_long: bool
    collateral_token: str
    size_delta_usd: int
    initial_collateral_delta_amount: int = 0
    acceptable_price: int = 0
    trigger_price: int = 0


# ---- outputs ----


@dataclass(frozen=True)
class PendingFees:
    """A position's accrued borrowing fee, funding paid and funding received (USD) since its snapshot."""

    borrowing_usd: int
    funding_paid_usd: int
    funding_received_usd: int


@dataclass(frozen=True)
class PositionFees:
    """The fees an execution settles, in collateral token units unless named *_usd
    (PositionFeesCollected's items)."""

    collateral_token_price: TokenPrices
    position_fee_factor: int
    position_fee_amount: int
    borrowing_fee_usd: int
    borrowing_fee_amount: int
    funding_fee_amount: int
    funding_received_amount: int
    """Funding received (the event's claimableFundingAmount): the stand-in adds it to the collateral."""

    @property
    def fee_amount_for_pool(self) -> int:
        return self.position_fee_amount + self.borrowing_fee_amount

    @property
    def total_cost_amount(self) -> int:
        return self.position_fee_amount + self.borrowing_fee_amount + self.funding_fee_amount


@dataclass(frozen=True)
class LiquidationCheck:
    liquidatable: bool
    reason: str
    remaining_collateral_usd: int
    min_collateral_usd: int
    min_collateral_usd_for_leverage: int


@dataclass(frozen=True)
class Execution:
    """One executed increase, decrease or liquidation: the position after it (size 0: closed and
    removed), what was settled (PositionIncrease / PositionDecrease and PositionFeesCollected items),
    the collateral paid out to the receiver and the market's ledger after it."""

    order_type: int
    position: Position
    fees: PositionFees
    size_delta_usd: int
    size_delta_in_tokens: int
    collateral_delta_amount: int
    execution_price: int
    price_impact_usd: int
    price_impact_amount: int
    proportional_pending_impact_usd: int
    price_impact_diff_usd: int
    base_pnl_usd: int
    uncapped_base_pnl_usd: int
    balance_was_improved: bool
    output_amount: int
    ledger: MarketLedger

    @property
    def is_increase(self) -> bool:
        return self.order_type in INCREASE_TYPES

    @property
    def closed(self) -> bool:
        return self.position.size_in_usd == 0


@dataclass(frozen=True)
class ExpectedPositionInfo:
    """Reader.getPositionInfo of the stand-in for closing `size_delta_usd`: the fields it fills (the
    rest of ReaderPositionUtils.PositionInfo is always zero)."""

    position: Position
    size_delta_usd: int
    collateral_token_price: TokenPrices
    position_fee_factor: int
    position_fee_amount: int
    borrowing_fee_usd: int
    borrowing_fee_amount: int
    funding_fee_amount: int
    claimable_long_token_amount: int
    claimable_short_token_amount: int
    latest_funding_fee_amount_per_size: int
    latest_long_token_claimable_funding_amount_per_size: int
    price_impact_usd: int
    execution_price: int
    balance_was_improved: bool
    proportional_pending_impact_usd: int
    total_impact_usd: int
    price_impact_diff_usd: int
    base_pnl_usd: int
    uncapped_base_pnl_usd: int
    pnl_after_price_impact_usd: int

    @property
    def fee_amount_for_pool(self) -> int:
        return self.position_fee_amount + self.borrowing_fee_amount

    @property
    def total_cost_amount_excluding_funding(self) -> int:
        return self.position_fee_amount + self.borrowing_fee_amount

    @property
    def total_cost_amount(self) -> int:
        return self.total_cost_amount_excluding_funding + self.funding_fee_amount


# ---- market views ----


def market_view(params: MarketParameters, ledger: MarketLedger, prices: OraclePrices) -> Market:
    """The gmx_v2 model's Market for the ledger at `prices` (unit prices, 0 decimals)."""
    state = MarketState(
        index_token=Token(params.index_token, 0, prices.index),
        long_token=Token(params.long_token, 0, prices.long),
        short_token=Token(params.short_token, 0, prices.short),
        long_pool_amount=ledger.long_pool_amount,
        short_pool_amount=ledger.short_pool_amount,
        long_interest_usd=ledger.long_open_interest.usd,
        short_interest_usd=ledger.short_open_interest.usd,
        long_interest_in_tokens=ledger.long_open_interest.tokens,
        short_interest_in_tokens=ledger.short_open_interest.tokens,
        virtual_inventory_for_positions=ledger.virtual_inventory,
        position_impact_pool_amount=ledger.position_impact_pool_amount,
    )
    return Market(params.pricing, state)


def collateral_price(params: MarketParameters, prices: OraclePrices, collateral_token: str) -> TokenPrices:
    return prices.long if params.is_long_token(collateral_token) else prices.short


def _round_up(a: int, b: int) -> int:
    return round_up_magnitude_division(a, b)


def usd_to_amount_signed(usd: int, price: TokenPrices) -> int:
    """USD -> collateral amount: a gain at the max price (down), a cost at the min price rounded up."""
    if usd >= 0:
        return usd // price.max_price
    return -_round_up(-usd, price.min_price)


# ---- price impact (the stand-in's integer curve) ----


def apply_impact_factor(diff: int, factor: int, exponent: int) -> int:
    """diff ** exponent * factor for exponent 1 or 2 (d * d / 1e30, rounded down); else the stand-in
    reverts UnsupportedImpactExponent."""
    if exponent == FLOAT_PRECISION:
        powered = diff
    elif exponent == 2 * FLOAT_PRECISION:
        powered = diff * diff // FLOAT_PRECISION
    else:
        raise OrderRejected("UnsupportedImpactExponent(uint256)", exponent)
    return powered * factor // FLOAT_PRECISION


def price_impact_usd(
    config: MarketConfig,
    cur_long: int,
    cur_short: int,
    next_long: int,
    next_short: int,
    fallback_to_zero: bool,
) -> PriceImpact:
    """MarketLogic.priceImpactUsd: the gmx_v2 model's price_impact_usd on the integer curve."""
    if next_long < 0 or next_short < 0:
        if fallback_to_zero:
            return PriceImpact(0, False)
        raise OrderRejected("Error(string)", "NegativeOpenInterest")
    cur_diff = abs(cur_long - cur_short)
    next_diff = abs(next_long - next_short)
    improved = next_diff < cur_diff
    if (cur_long < cur_short) == (next_long < next_short):
        if improved:
            factor, exponent = (
                config.position_impact_factor_positive,
                config.position_impact_exponent_factor_positive,
            )
        else:
            factor, exponent = (
                config.position_impact_factor_negative,
                config.position_impact_exponent_factor_negative,
            )
        delta = abs(
            apply_impact_factor(cur_diff, factor, exponent) - apply_impact_factor(next_diff, factor, exponent)
        )
        return PriceImpact(delta if next_diff < cur_diff else -delta, improved)
    positive = apply_impact_factor(
        cur_diff, config.position_impact_factor_positive, config.position_impact_exponent_factor_positive
    )
    negative = apply_impact_factor(
        next_diff, config.position_impact_factor_negative, config.position_impact_exponent_factor_negative
    )
    delta = abs(positive - negative)
    return PriceImpact(delta if positive > negative else -delta, improved)


def _impact_of_delta(
    config: MarketConfig, cur_long: int, cur_short: int, size_delta: int, is_long: bool, fallback: bool
) -> PriceImpact:
    if is_long:
        return price_impact_usd(config, cur_long, cur_short, cur_long + size_delta, cur_short, fallback)
    return price_impact_usd(config, cur_long, cur_short, cur_long, cur_short + size_delta, fallback)


def price_impact_for_position(
    market: Market, size_delta_usd: int, is_long: bool, fallback_to_zero: bool = False
) -> PriceImpact:
    """MarketLogic.priceImpactForPosition: uncapped; a loss is made worse by the virtual inventory."""
    config = market.config
    impact = _impact_of_delta(
        config,
        market.open_interest_for_balance(True),
        market.open_interest_for_balance(False),
        size_delta_usd,
        is_long,
        fallback_to_zero,
    )
    inventory = market.state.virtual_inventory_for_positions
    if impact.delta_usd > 0 or inventory == 0:
        return impact
    virtual_long, virtual_short = (0, inventory) if inventory > 0 else (-inventory, 0)
    if size_delta_usd < 0:
        virtual_long -= size_delta_usd
        virtual_short -= size_delta_usd
    virtual = _impact_of_delta(config, virtual_long, virtual_short, size_delta_usd, is_long, fallback_to_zero)
    return PriceImpact(min(virtual.delta_usd, impact.delta_usd), impact.balance_was_improved)


def capped_increase_impact(market: Market, size_delta_usd: int, is_long: bool) -> PriceImpact:
    """MarketLogic.cappedPositionImpactUsd for an increase: a gain capped by the max positive factor."""
    impact = price_impact_for_position(market, size_delta_usd, is_long)
    if impact.delta_usd < 0:
        return impact
    capped = cap_by_max_impact_factor(market.config, size_delta_usd, impact.delta_usd)
    return PriceImpact(capped, impact.balance_was_improved)


def decrease_execution_price(
    index_price: TokenPrices,
    size_in_usd: int,
    size_in_tokens: int,
    size_delta_usd: int,
    impact_usd: int,
    is_long: bool,
) -> int:
    """GMX's decrease execution price: the PnL-side index price moved by the impact per token."""
    price = index_price.min_price if is_long else index_price.max_price
    if size_delta_usd == 0 or size_in_tokens == 0:
        return price
    adjusted = impact_usd if is_long else -impact_usd
    if adjusted < 0 and -adjusted > size_delta_usd:
        raise OrderRejected("PriceImpactLargerThanOrderSize(int256,uint256)", adjusted, size_delta_usd)
    adjustment = div_toward_zero(div_toward_zero(size_in_usd * adjusted, size_in_tokens), size_delta_usd)
    execution = price + adjustment
    if execution < 0:
        raise OrderRejected(
            "NegativeExecutionPrice(int256,uint256,uint256,int256,uint256)",
            execution,
            price,
            size_in_usd,
            adjusted,
            size_delta_usd,
        )
    return execution


# ---- borrowing and funding ----


def _pow(value: int, exponent: int) -> int:
    if exponent in (0, FLOAT_PRECISION):
        return value
    if exponent == 2 * FLOAT_PRECISION:
        return value * value // FLOAT_PRECISION
    raise OrderRejected("UnsupportedImpactExponent(uint256)", exponent)


def borrowing_factor_per_second(params: MarketParameters, market: Market, is_long: bool) -> int:
    """BORROWING_FACTOR * reserved ** exponent / pool USD (min price); reserved is OI in tokens at the
    index max price for longs, OI in USD for shorts."""
    factor = params.borrowing_factor_long if is_long else params.borrowing_factor_short
    pool_usd = market.pool_usd_without_pnl(is_long, "min")
    if factor == 0 or pool_usd == 0:
        return 0
    index_max = market.state.index_token.prices.max_price
    reserved = (
        market.open_interest_in_tokens(True) * index_max if is_long else market.open_interest_usd(False)
    )
    exponent = params.borrowing_exponent_factor_long if is_long else params.borrowing_exponent_factor_short
    return apply_factor(_pow(reserved, exponent) * FLOAT_PRECISION // pool_usd, factor)


def funding_factor_per_second(params: MarketParameters, market: Market) -> tuple[int, bool]:
    """(FUNDING_FACTOR * |long - short| ** exponent / (long + short), longs pay shorts)."""
    long_oi = market.open_interest_for_balance(True)
    short_oi = market.open_interest_for_balance(False)
    longs_pay = long_oi > short_oi
    total = long_oi + short_oi
    diff = abs(long_oi - short_oi)
    if total == 0 or diff == 0 or params.funding_factor == 0:
        return 0, longs_pay
    return apply_factor(
        _pow(diff, params.funding_exponent_factor) * FLOAT_PRECISION // total, params.funding_factor
    ), longs_pay


def _elapsed(updated_at: int, now: int) -> int:
    return 0 if updated_at == 0 or updated_at >= now else now - updated_at


def next_cumulative(
    params: MarketParameters, ledger: MarketLedger, prices: OraclePrices, now: int
) -> Cumulative:
    """MarketLogic.nextCumulative: the stored factors plus the accrual since their update, at `now`."""
    market = market_view(params, ledger, prices)
    rates = replace(
        market.state,
        borrowing_factor_per_second_for_longs=borrowing_factor_per_second(params, market, True),
        borrowing_factor_per_second_for_shorts=borrowing_factor_per_second(params, market, False),
    )
    cum = ledger.cumulative
    dt_long = _elapsed(ledger.borrowing_updated_at_long, now)
    dt_short = _elapsed(ledger.borrowing_updated_at_short, now)
    # borrowing_factor_per_period counts a zero period as one second: the stand-in accrues nothing then
    out = replace(
        cum,
        borrowing_long=cum.borrowing_long
        + (borrowing_factor_per_period(rates, True, dt_long) if dt_long else 0),
        borrowing_short=cum.borrowing_short
        + (borrowing_factor_per_period(rates, False, dt_short) if dt_short else 0),
    )
    dt = _elapsed(ledger.funding_updated_at, now)
    rate, longs_pay = funding_factor_per_second(params, market)
    if rate == 0 or dt == 0:
        return out
    funded = Market(market.config, replace(rates, funding_factor_per_second=rate, longs_pay_shorts=longs_pay))
    paid = -funding_factor_per_period(funded, longs_pay, dt)
    received = funding_factor_per_period(funded, not longs_pay, dt)
    if longs_pay:
        return replace(
            out,
            funding_paid_long=out.funding_paid_long + paid,
            funding_received_short=out.funding_received_short + received,
        )
    return replace(
        out,
        funding_paid_short=out.funding_paid_short + paid,
        funding_received_long=out.funding_received_long + received,
    )


def updated_ledger(
    params: MarketParameters, ledger: MarketLedger, prices: OraclePrices, now: int
) -> MarketLedger:
    """PositionHandler._updateCumulative: the cumulative factors accrued to `now` and stamped `now`."""
    return replace(
        ledger,
        cumulative=next_cumulative(params, ledger, prices, now),
        borrowing_updated_at_long=now,
        borrowing_updated_at_short=now,
        funding_updated_at=now,
    )


def pending_fees(position: Position, cumulative: Cumulative) -> PendingFees:
    """MarketLogic.pendingFees: borrowing, funding paid and funding received (USD) since the snapshot."""
    if position.size_in_usd == 0:
        return PendingFees(0, 0, 0)
    size, is_long = position.size_in_usd, position.is_long
    return PendingFees(
        apply_factor(size, cumulative.borrowing(is_long) - position.borrowing_factor),
        apply_factor(size, cumulative.funding_paid(is_long) - position.funding_fee_amount_per_size),
        apply_factor(
            size, cumulative.funding_received(is_long) - position.long_token_claimable_funding_amount_per_size
        ),
    )


def _snapshot(position: Position, cumulative: Cumulative) -> Position:
    is_long = position.is_long
    return replace(
        position,
        borrowing_factor=cumulative.borrowing(is_long),
        funding_fee_amount_per_size=cumulative.funding_paid(is_long),
        long_token_claimable_funding_amount_per_size=cumulative.funding_received(is_long),
        short_token_claimable_funding_amount_per_size=0,
    )


def _fees(
    params: MarketParameters,
    prices: OraclePrices,
    position: Position,
    cumulative: Cumulative,
    size_delta_usd: int,
    balance_was_improved: bool,
) -> PositionFees:
    """PositionHandler._fees: the position fee on the size delta, and the pending fees of `position`."""
    cp = collateral_price(params, prices, position.collateral_token)
    pending = pending_fees(position, cumulative)
    pricing = params.pricing
    factor = (
        pricing.position_fee_factor_for_balance_was_improved
        if balance_was_improved
        else pricing.position_fee_factor_for_balance_was_not_improved
    )
    fee_usd = position_fee(pricing, size_delta_usd, balance_was_improved).position_fee_usd
    return PositionFees(
        collateral_token_price=cp,
        position_fee_factor=factor,
        position_fee_amount=fee_usd // cp.min_price,
        borrowing_fee_usd=pending.borrowing_usd,
        borrowing_fee_amount=pending.borrowing_usd // cp.min_price,
        funding_fee_amount=pending.funding_paid_usd // cp.min_price,
        funding_received_amount=pending.funding_received_usd // cp.max_price,
    )


# ---- liquidation ----


def closing_impact_for_liquidation(market: Market, position: Position) -> int:
    """The impact of closing the whole position plus its pending impact, floored at
    -MAX_POSITION_IMPACT_FACTOR_FOR_LIQUIDATIONS * size and at most zero."""
    size = position.size_in_usd
    impact = price_impact_for_position(market, -size, position.is_long, fallback_to_zero=True).delta_usd
    if impact > 0:
        impact = cap_by_max_impact_factor(market.config, size, impact)
    pending = position.pending_impact_amount
    index = market.state.index_token.prices
    impact += pending * (index.min_price if pending > 0 else index.max_price)
    floor = -apply_factor(size, market.config.max_position_impact_factor_for_liquidations)
    return min(max(impact, floor), 0)


def _pnl(market: Market, position: Position) -> tuple[int, int]:
    """(capped, uncapped) PnL of the whole position at the PnL-side index price."""
    index = market.state.index_token.prices
    is_long = position.is_long
    mark = index.min_price if is_long else index.max_price
    value = position.size_in_tokens * mark
    uncapped = value - position.size_in_usd if is_long else position.size_in_usd - value
    capped = position_pnl_usd(market, position.size_in_usd, position.size_in_tokens, mark, is_long)
    return capped, uncapped


def check_liquidation(
    params: MarketParameters,
    market: Market,
    position: Position,
    pending_cost_usd: int,
    pending_received_usd: int,
    min_collateral_factor: int,
) -> LiquidationCheck:
    """MarketLogic.checkLiquidation: remaining collateral (collateral at its min price + capped PnL +
    closing impact - closing fee (balance not improved) - pending costs + pending funding received)
    against max(min_collateral_factor * size, MIN_COLLATERAL_USD)."""
    state = market.state
    cp = (
        state.long_token.prices
        if params.is_long_token(position.collateral_token)
        else state.short_token.prices
    )
    pnl, _ = _pnl(market, position)
    closing_fee = apply_factor(
        position.size_in_usd, params.pricing.position_fee_factor_for_balance_was_not_improved
    )
    remaining = (
        position.collateral_amount * cp.min_price
        + pnl
        + closing_impact_for_liquidation(market, position)
        - closing_fee
        + pending_received_usd
        - pending_cost_usd
    )
    min_usd = params.min_collateral_usd
    for_leverage = apply_factor(position.size_in_usd, min_collateral_factor)
    reason = ""
    if remaining < min_usd:
        reason = "min collateral"
    elif remaining <= 0:
        reason = "< 0"
    elif remaining < for_leverage:
        reason = "min collateral for leverage"
    return LiquidationCheck(reason != "", reason, remaining, min_usd, for_leverage)


def is_liquidatable(
    params: MarketParameters, ledger: MarketLedger, position: Position, prices: OraclePrices, now: int
) -> LiquidationCheck:
    """The check PositionHandler.liquidate makes at `now` (with MIN_COLLATERAL_FACTOR_FOR_LIQUIDATION)."""
    cumulative = next_cumulative(params, ledger, prices, now)
    pending = pending_fees(position, cumulative)
    return check_liquidation(
        params,
        market_view(params, ledger, prices),
        position,
        pending.borrowing_usd + pending.funding_paid_usd,
        pending.funding_received_usd,
        params.pricing.min_collateral_factor_for_liquidation,
    )


def _validate_position(params: MarketParameters, market: Market, position: Position) -> None:
    if position.size_in_usd == 0 or position.size_in_tokens == 0:
        raise OrderRejected(
            "InvalidPositionSizeValues(uint256,uint256)", position.size_in_usd, position.size_in_tokens
        )
    if position.size_in_usd < params.min_position_size_usd:
        raise OrderRejected(
            "MinPositionSize(uint256,uint256)", position.size_in_usd, params.min_position_size_usd
        )
    r = check_liquidation(params, market, position, 0, 0, params.min_collateral_factor)
    if r.liquidatable:
        raise OrderRejected(
            "LiquidatablePosition(string,int256,int256,int256)",
            r.reason,
            r.remaining_collateral_usd,
            r.min_collateral_usd,
            r.min_collateral_usd_for_leverage,
        )


def _with_pool_delta(params: MarketParameters, ledger: MarketLedger, token: str, delta: int) -> MarketLedger:
    """PositionHandler._applyPool (a pool below zero reverts "POOL")."""
    if delta == 0:
        return ledger
    if params.is_long_token(token):
        ledger = replace(ledger, long_pool_amount=ledger.long_pool_amount + delta)
    else:
        ledger = replace(ledger, short_pool_amount=ledger.short_pool_amount + delta)
    if min(ledger.long_pool_amount, ledger.short_pool_amount) < 0:
        raise OrderRejected("Error(string)", "POOL")
    return ledger


def _with_open_interest(
    params: MarketParameters, ledger: MarketLedger, position: Position, usd: int, tokens: int
) -> MarketLedger:
    long_collateral = params.is_long_token(position.collateral_token)
    if position.is_long:
        return replace(
            ledger, long_open_interest=ledger.long_open_interest.moved(long_collateral, usd, tokens)
        )
    return replace(ledger, short_open_interest=ledger.short_open_interest.moved(long_collateral, usd, tokens))


# ---- increase ----


def _increase(
    params: MarketParameters,
    ledger: MarketLedger,
    position: Position,
    order: Order,
    prices: OraclePrices,
    now: int,
) -> Execution:
    market = market_view(params, ledger, prices)
    cum = ledger.cumulative
    is_long = position.is_long
    collateral_before = position.collateral_amount
    collateral_in = order.initial_collateral_delta_amount
    size_delta = order.size_delta_usd
    impact = capped_increase_impact(market, size_delta, is_long)
    impact_usd = 0 if size_delta == 0 else impact.delta_usd
    fees = _fees(params, prices, position, cum, size_delta, impact.balance_was_improved)
    collateral_delta = collateral_in + fees.funding_received_amount - fees.total_cost_amount
    if collateral_before + collateral_delta < 0:
        raise OrderRejected(
            "InsufficientCollateralAmount(uint256,int256)", collateral_before, collateral_delta
        )

    ip = prices.index
    size_delta_in_tokens = size_delta // ip.max_price if is_long else _round_up(size_delta, ip.min_price)
    impact_amount = impact_usd // ip.max_price if impact_usd > 0 else -_round_up(-impact_usd, ip.min_price)
    if size_delta == 0:
        execution_price = ip.max_price if is_long else ip.min_price
    else:
        tokens = size_delta_in_tokens + impact_amount
        if tokens <= 0:
            raise OrderRejected("PriceImpactLargerThanOrderSize(int256,uint256)", impact_usd, size_delta)
        execution_price = size_delta // tokens
        acceptable = order.acceptable_price
        if execution_price > acceptable if is_long else execution_price < acceptable:
            raise OrderRejected(
                "OrderNotFulfillableAtAcceptablePrice(uint256,uint256)", execution_price, acceptable
            )

    after = replace(
        position,
        size_in_usd=position.size_in_usd + size_delta,
        size_in_tokens=position.size_in_tokens + size_delta_in_tokens,
        collateral_amount=collateral_before + collateral_delta,
        pending_impact_amount=position.pending_impact_amount + impact_amount,
        increased_at_time=now,
    )
    after = _snapshot(after, cum)
    moved = _with_open_interest(params, ledger, after, size_delta, size_delta_in_tokens)
    checked = market_view(params, moved, prices)  # the OI moved, the pools not yet (as the Solidity's Ctx)
    _validate_increase(params, checked, after)
    final = _with_pool_delta(
        params, moved, position.collateral_token, collateral_before + collateral_in - after.collateral_amount
    )
    return Execution(
        order_type=order.order_type,
        position=after,
        fees=fees,
        size_delta_usd=size_delta,
        size_delta_in_tokens=size_delta_in_tokens,
        collateral_delta_amount=collateral_delta,
        execution_price=execution_price,
        price_impact_usd=impact_usd,
        price_impact_amount=impact_amount,
        proportional_pending_impact_usd=0,
        price_impact_diff_usd=0,
        base_pnl_usd=0,
        uncapped_base_pnl_usd=0,
        balance_was_improved=impact.balance_was_improved,
        output_amount=0,
        ledger=final,
    )


def _validate_increase(params: MarketParameters, market: Market, position: Position) -> None:
    is_long = position.is_long
    oi = market.open_interest_usd(is_long)
    max_oi = params.max_open_interest_long if is_long else params.max_open_interest_short
    if oi > max_oi:
        raise OrderRejected("MaxOpenInterestExceeded(uint256,uint256)", oi, max_oi)
    index_max = market.state.index_token.prices.max_price
    reserved = (
        market.open_interest_in_tokens(True) * index_max if is_long else market.open_interest_usd(False)
    )
    reserve_factor = params.reserve_factor_long if is_long else params.reserve_factor_short
    max_reserved = apply_factor(market.pool_usd_without_pnl(is_long, "min"), reserve_factor)
    if reserved > max_reserved:
        raise OrderRejected("InsufficientReserve(uint256,uint256)", reserved, max_reserved)
    _validate_position(params, market, position)


# ---- decrease ----


def _close_size(params: MarketParameters, position: Position, requested: int) -> int:
    size = position.size_in_usd
    size_delta = min(requested, size)
    if size_delta < size and size - size_delta < params.min_position_size_usd:
        return size
    return size_delta


def _size_delta_in_tokens(position: Position, size_delta: int) -> int:
    size, tokens = position.size_in_usd, position.size_in_tokens
    if size_delta == size:
        return tokens
    if position.is_long:
        return 0 if size_delta == 0 else _round_up(tokens * size_delta, size)
    return tokens * size_delta // size


def _decrease(
    params: MarketParameters,
    ledger: MarketLedger,
    position: Position,
    order_type: int,
    requested_size_usd: int,
    withdraw: int,
    acceptable_price: int,
    prices: OraclePrices,
    now: int,
) -> Execution:
    if position.size_in_usd == 0:
        raise OrderRejected("EmptyPosition()")
    market = market_view(params, ledger, prices)
    cum = ledger.cumulative
    is_long = position.is_long
    size, tokens = position.size_in_usd, position.size_in_tokens
    collateral_before = position.collateral_amount
    size_delta = _close_size(params, position, requested_size_usd)

    # PositionHandler._decreaseImpact
    impact = price_impact_for_position(market, -size_delta, is_long)
    net = net_price_impact_for_decrease(
        market, size, position.pending_impact_amount, impact.delta_usd, size_delta
    )
    charged = net.total_usd + net.capped_diff_usd  # the loss beyond the max negative factor is not charged
    if order_type == LIQUIDATION:
        charged = max(
            charged, -apply_factor(size_delta, params.pricing.max_position_impact_factor_for_liquidations)
        )
    execution_price = decrease_execution_price(prices.index, size, tokens, size_delta, charged, is_long)
    if order_type != LIQUIDATION and (
        execution_price < acceptable_price if is_long else execution_price > acceptable_price
    ):
        raise OrderRejected(
            "OrderNotFulfillableAtAcceptablePrice(uint256,uint256)", execution_price, acceptable_price
        )

    # PositionHandler._decreasePnl
    pnl, uncapped = _pnl(market, position)
    delta_tokens = _size_delta_in_tokens(position, size_delta)
    base_pnl = div_toward_zero(pnl * delta_tokens, tokens)
    uncapped_pnl = div_toward_zero(uncapped * delta_tokens, tokens)

    fees = _fees(params, prices, position, cum, size_delta, impact.balance_was_improved)
    cp = fees.collateral_token_price
    adjustment = (
        usd_to_amount_signed(base_pnl, cp)
        + usd_to_amount_signed(charged, cp)
        + fees.funding_received_amount
        - fees.total_cost_amount
    )
    share = proportional_pending_impact(market, size, position.pending_impact_amount, size_delta).amount
    after = replace(
        position,
        size_in_usd=size - size_delta,
        size_in_tokens=tokens - delta_tokens,
        pending_impact_amount=position.pending_impact_amount - share,
        decreased_at_time=now,
    )
    after = _snapshot(after, cum)
    moved = _with_open_interest(params, ledger, after, -size_delta, -delta_tokens)
    moved = replace(moved, position_impact_pool_amount=_impact_pool_after(moved, prices, charged))

    if after.size_in_usd == 0:
        output = max(collateral_before + adjustment, 0)
        after = replace(after, collateral_amount=0)
    else:
        after, output = _settle_partial(
            params, market_view(params, moved, prices), after, withdraw, adjustment
        )
    final = _with_pool_delta(
        params, moved, position.collateral_token, collateral_before - after.collateral_amount - output
    )
    return Execution(
        order_type=order_type,
        position=after,
        fees=fees,
        size_delta_usd=size_delta,
        size_delta_in_tokens=delta_tokens,
        collateral_delta_amount=collateral_before - after.collateral_amount,
        execution_price=execution_price,
        price_impact_usd=charged,
        price_impact_amount=0,
        proportional_pending_impact_usd=net.pending_usd,
        price_impact_diff_usd=net.capped_diff_usd,
        base_pnl_usd=base_pnl,
        uncapped_base_pnl_usd=uncapped_pnl,
        balance_was_improved=impact.balance_was_improved,
        output_amount=output,
        ledger=final,
    )


def _impact_pool_after(ledger: MarketLedger, prices: OraclePrices, impact_usd: int) -> int:
    """PositionHandler._applyImpactPool: a charged impact adds |impact| / index max, a paid one takes
    impact / index min rounded up (never below zero)."""
    pool = ledger.position_impact_pool_amount
    if impact_usd < 0:
        return pool + -impact_usd // prices.index.max_price
    if impact_usd > 0:
        out = _round_up(impact_usd, prices.index.min_price)
        return 0 if out > pool else pool - out
    return pool


def _settle_partial(
    params: MarketParameters, market: Market, position: Position, withdraw: int, adjustment: int
) -> tuple[Position, int]:
    """PositionHandler._settlePartial: costs come out of the collateral, gains go out with the withdrawn
    collateral; the withdrawal is dropped if the rest would fail the collateral checks."""
    collateral = position.collateral_amount
    output = 0
    for attempt in range(2):
        remaining = collateral - withdraw + min(adjustment, 0)
        if remaining < 0:
            raise OrderRejected(
                "InsufficientCollateralAmount(uint256,int256)", collateral, adjustment - withdraw
            )
        position = replace(position, collateral_amount=remaining)
        output = withdraw + max(adjustment, 0)
        if attempt == 1 or withdraw == 0:
            break
        if not check_liquidation(params, market, position, 0, 0, params.min_collateral_factor).liquidatable:
            break
        withdraw = 0
    _validate_position(params, market, position)
    return position, output


# ---- entry points ----


def trigger_reached(order_type: int, is_long: bool, trigger_price: int, index_price: TokenPrices) -> bool:
    """OrderHandler.validateTriggerPrice: a limit / stop order executes only at or past its trigger
    (otherwise the keeper's call reverts InvalidOrderPrices and the order stays pending)."""
    low, high = index_price.min_price, index_price.max_price
    if order_type == LIMIT_INCREASE:
        return high <= trigger_price if is_long else low >= trigger_price
    if order_type == STOP_INCREASE:
        return low >= trigger_price if is_long else high <= trigger_price
    if order_type == LIMIT_DECREASE:
        return low >= trigger_price if is_long else high <= trigger_price
    if order_type == STOP_LOSS_DECREASE:
        return low <= trigger_price if is_long else high >= trigger_price
    return True


def execute_order(
    params: MarketParameters,
    ledger: MarketLedger,
    position: Position | None,
    order: Order,
    prices: OraclePrices,
    now: int,
) -> Execution:
    """PositionHandler.executeOrder at block time `now`: the cumulative factors are brought up to date,
    then the increase or decrease runs. `position` is the order's position (None if it has none).
    Raises OrderRejected for what the stand-in reverts (all its changes revert with it)."""
    if position is None:
        position = Position(order.account, params.market, order.collateral_token, order.is_long)
    current = updated_ledger(params, ledger, prices, now)
    if order.order_type in INCREASE_TYPES:
        return _increase(params, current, position, order, prices, now)
    if order.order_type in DECREASE_TYPES:
        return _decrease(
            params,
            current,
            position,
            order.order_type,
            order.size_delta_usd,
            order.initial_collateral_delta_amount,
            order.acceptable_price,
            prices,
            now,
        )
    raise OrderRejected("UnsupportedOrderType(uint256)", order.order_type)


def liquidate(
    params: MarketParameters, ledger: MarketLedger, position: Position | None, prices: OraclePrices, now: int
) -> Execution:
    """PositionHandler.liquidate: closes the whole position if it is below its liquidation minimum;
    raises OrderRejected (PositionShouldNotBeLiquidated, EmptyPosition) otherwise."""
    if position is None or position.size_in_usd == 0:
        raise OrderRejected("EmptyPosition()")
    current = updated_ledger(params, ledger, prices, now)
    pending = pending_fees(position, current.cumulative)
    r = check_liquidation(
        params,
        market_view(params, ledger, prices),
        position,
        pending.borrowing_usd + pending.funding_paid_usd,
        pending.funding_received_usd,
        params.pricing.min_collateral_factor_for_liquidation,
    )
    if not r.liquidatable:
        raise OrderRejected(
            "PositionShouldNotBeLiquidated(string,int256,int256,int256)",
            r.reason,
            r.remaining_collateral_usd,
            r.min_collateral_usd,
            r.min_collateral_usd_for_leverage,
        )
    return _decrease(params, current, position, LIQUIDATION, position.size_in_usd, 0, 0, prices, now)


def position_info(
    params: MarketParameters,
    ledger: MarketLedger,
    position: Position,
    prices: OraclePrices,
    now: int,
    size_delta_usd: int = 0,
    use_position_size_as_size_delta_usd: bool = True,
) -> ExpectedPositionInfo | None:
    """Reader.getPositionInfo at block time `now` (None for an empty position, which the Reader returns
    all zero)."""
    if position.size_in_usd == 0:
        return None
    size = position.size_in_usd
    if use_position_size_as_size_delta_usd or size_delta_usd > size:
        size_delta_usd = size
    market = market_view(params, ledger, prices)
    is_long = position.is_long

    impact = price_impact_for_position(market, -size_delta_usd, is_long, fallback_to_zero=True)
    net = net_price_impact_for_decrease(
        market, size, position.pending_impact_amount, impact.delta_usd, size_delta_usd
    )
    total_impact = net.total_usd + net.capped_diff_usd
    execution_price = decrease_execution_price(
        prices.index, size, position.size_in_tokens, size_delta_usd, total_impact, is_long
    )

    pnl, uncapped = _pnl(market, position)
    delta_tokens = _size_delta_in_tokens(position, size_delta_usd)
    base_pnl = div_toward_zero(pnl * delta_tokens, position.size_in_tokens)

    cumulative = next_cumulative(params, ledger, prices, now)
    fees = _fees(params, prices, position, cumulative, size_delta_usd, impact.balance_was_improved)
    long_collateral = params.is_long_token(position.collateral_token)
    return ExpectedPositionInfo(
        position=position,
        size_delta_usd=size_delta_usd,
        collateral_token_price=fees.collateral_token_price,
        position_fee_factor=fees.position_fee_factor,
        position_fee_amount=fees.position_fee_amount,
        borrowing_fee_usd=fees.borrowing_fee_usd,
        borrowing_fee_amount=fees.borrowing_fee_amount,
        funding_fee_amount=fees.funding_fee_amount,
        claimable_long_token_amount=fees.funding_received_amount if long_collateral else 0,
        claimable_short_token_amount=0 if long_collateral else fees.funding_received_amount,
        latest_funding_fee_amount_per_size=cumulative.funding_paid(is_long),
        latest_long_token_claimable_funding_amount_per_size=cumulative.funding_received(is_long),
        price_impact_usd=impact.delta_usd,
        execution_price=execution_price,
        balance_was_improved=impact.balance_was_improved,
        proportional_pending_impact_usd=net.pending_usd,
        total_impact_usd=total_impact,
        price_impact_diff_usd=net.capped_diff_usd,
        base_pnl_usd=base_pnl,
        uncapped_base_pnl_usd=div_toward_zero(uncapped * delta_tokens, position.size_in_tokens),
        pnl_after_price_impact_usd=base_pnl + total_impact,
    )


__all__ = [
    "DECREASE_TYPES",
    "INCREASE_TYPES",
    "LIMIT_DECREASE",
    "LIMIT_INCREASE",
    "LIQUIDATION",
    "MARKET_DECREASE",
    "MARKET_INCREASE",
    "MARKET_TYPES",
    "STOP_INCREASE",
    "STOP_LOSS_DECREASE",
    "Cumulative",
    "Execution",
    "ExpectedPositionInfo",
    "LiquidationCheck",
    "MarketLedger",
    "MarketParameters",
    "OpenInterest",
    "OraclePrices",
    "Order",
    "OrderRejected",
    "PendingFees",
    "Position",
    "PositionFees",
    "apply_impact_factor",
    "borrowing_factor_per_second",
    "capped_increase_impact",
    "check_liquidation",
    "closing_impact_for_liquidation",
    "collateral_price",
    "decrease_execution_price",
    "execute_order",
    "funding_factor_per_second",
    "is_liquidatable",
    "liquidate",
    "market_view",
    "next_cumulative",
    "pending_fees",
    "position_info",
    "price_impact_for_position",
    "price_impact_usd",
    "trigger_reached",
    "updated_ledger",
    "usd_to_amount_signed",
]
