"""Position fees with referral rebates, and the borrowing and funding factors over a period.

The per-second rates are the Reader's current values (`MarketState`); these functions only scale them,
the way the GMX front end shows "fee per hour" style figures.
"""

from __future__ import annotations

from dataclasses import dataclass

from defibots.protocols.gmx_v2.market import Market, MarketConfig, MarketState
from defibots.protocols.gmx_v2.precision import apply_factor, mul_div


@dataclass(frozen=True)
class ReferralInfo:
    """A trader's referral tier: the share of the position fee rebated, and the trader's part of it."""

    total_rebate_factor: int
    discount_factor: int


@dataclass(frozen=True)
class PositionFee:
    """A position fee in USD (1e30) after the referral discount.

    `ui_fee_usd` is always computed here; the SDK's getPositionFee leaves it out of its result when no
    referral info is given.
    """

    position_fee_usd: int
    discount_usd: int
    total_rebate_usd: int
    ui_fee_usd: int


def position_fee(
    config: MarketConfig,
    size_delta_usd: int,
    balance_was_improved: bool,
    referral: ReferralInfo | None = None,
    ui_fee_factor: int = 0,
) -> PositionFee:
    """The fee for opening or closing `size_delta_usd`: the lower factor applies when the trade
    improves the long/short balance; the trader's discount comes off the rebate part."""
    factor = (
        config.position_fee_factor_for_balance_was_improved
        if balance_was_improved
        else config.position_fee_factor_for_balance_was_not_improved
    )
    fee = apply_factor(size_delta_usd, factor)
    ui_fee = apply_factor(size_delta_usd, ui_fee_factor)
    if referral is None:
        return PositionFee(fee, 0, 0, ui_fee)
    total_rebate = apply_factor(fee, referral.total_rebate_factor)
    discount = apply_factor(total_rebate, referral.discount_factor)
    return PositionFee(fee - discount, discount, total_rebate, ui_fee)


def borrowing_factor_per_period(state: MarketState, is_long: bool, period_seconds: int) -> int:
    """The borrowing factor a side accrues over `period_seconds`; a zero period counts as one second
    (the front end's `period || 1`)."""
    per_second = (
        state.borrowing_factor_per_second_for_longs
        if is_long
        else state.borrowing_factor_per_second_for_shorts
    )
    return per_second * (period_seconds or 1)


def borrowing_fee_rate_usd(state: MarketState, is_long: bool, size_in_usd: int, period_seconds: int) -> int:
    """Borrowing fee in USD on `size_in_usd` over the period."""
    return apply_factor(size_in_usd, borrowing_factor_per_period(state, is_long, period_seconds))


def funding_factor_per_period(market: Market, is_long: bool, period_seconds: int) -> int:
    """The funding factor a side gets over the period: negative for the paying (larger) side, which pays
    the Reader's per-second factor; the receiving side gets it scaled by paying OI / receiving OI
    (zero when nobody receives)."""
    state = market.state
    long_oi = market.open_interest_for_balance(True)
    short_oi = market.open_interest_for_balance(False)
    paying_oi, receiving_oi = (long_oi, short_oi) if state.longs_pay_shorts else (short_oi, long_oi)
    paying = state.funding_factor_per_second
    receiving = mul_div(paying, paying_oi, receiving_oi) if receiving_oi != 0 else 0
    if is_long == state.longs_pay_shorts:
        return -paying * period_seconds
    return receiving * period_seconds


def funding_fee_rate_usd(market: Market, is_long: bool, size_in_usd: int, period_seconds: int) -> int:
    """Funding in USD on `size_in_usd` over the period (negative: paid)."""
    return apply_factor(size_in_usd, funding_factor_per_period(market, is_long, period_seconds))
