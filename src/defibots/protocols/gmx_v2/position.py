"""A GMX V2 position's key, value, PnL (with the pool's PnL cap) and liquidation price, as the front end
computes them."""

from __future__ import annotations

from eth_abi import encode
from eth_utils import keccak

from defibots.protocols.gmx_v2.fees import ReferralInfo, position_fee
from defibots.protocols.gmx_v2.market import Market, Token
from defibots.protocols.gmx_v2.precision import (
    WEI_PRECISION,
    apply_factor,
    convert_to_usd,
    div_toward_zero,
    expand_decimals,
    mul_div,
)
from defibots.protocols.gmx_v2.price_impact import cap_by_max_impact_factor, price_impact_for_position


def position_key(account: str, market: str, collateral_token: str, is_long: bool) -> bytes:
    """The on-chain key: keccak256(abi.encode(account, market, collateralToken, isLong))."""
    return keccak(
        encode(["address", "address", "address", "bool"], [account, market, collateral_token, is_long])
    )


def front_end_position_key(account: str, market: str, collateral_token: str, is_long: bool) -> str:
    """The SDK's map key for a position, "account:market:collateral:isLong" (not the on-chain key)."""
    return f"{account}:{market}:{collateral_token}:{'true' if is_long else 'false'}"


def entry_price(size_in_usd: int, size_in_tokens: int, index_token: Token) -> int | None:
    """The average entry price (size USD per index token unit), None for an empty position."""
    if size_in_tokens <= 0:
        return None
    return mul_div(size_in_usd, expand_decimals(1, index_token.decimals), size_in_tokens)


def position_value_usd(index_token: Token, size_in_tokens: int, mark_price: int) -> int:
    """The position's index tokens valued at `mark_price`."""
    return convert_to_usd(size_in_tokens, index_token.decimals, mark_price)


def position_pnl_usd(
    market: Market, size_in_usd: int, size_in_tokens: int, mark_price: int, is_long: bool
) -> int:
    """The position's PnL at `mark_price`. A profit is scaled down in proportion when the side's total
    trader profit exceeds max_pnl_factor_for_traders of its pool (both sides' totals at the prices that
    minimize them); the ratio is taken on both values cut to 1e-12 USD (divided by 1e18)."""
    value = position_value_usd(market.state.index_token, size_in_tokens, mark_price)
    pnl = value - size_in_usd if is_long else size_in_usd - value
    if pnl <= 0:
        return pnl
    pool_pnl = market.market_pnl(is_long, maximize=False)
    pool_usd = market.pool_usd_without_pnl(is_long, "min")
    capped = market.capped_pool_pnl(is_long, pool_usd, pool_pnl)
    if capped != pool_pnl and capped > 0 and pool_pnl > 0:
        pnl = mul_div(pnl, div_toward_zero(capped, WEI_PRECISION), div_toward_zero(pool_pnl, WEI_PRECISION))
    return pnl


def leverage(size_in_usd: int, collateral_usd: int, pnl_usd: int, pending_fees_usd: int) -> int | None:
    """Leverage in basis points (10_000 = 1x) on collateral + PnL - pending fees; None if that is <= 0."""
    remaining = collateral_usd + pnl_usd - pending_fees_usd
    if remaining <= 0:
        return None
    return mul_div(size_in_usd, 10_000, remaining)


def liquidation_price(
    market: Market,
    collateral_token: Token,
    is_long: bool,
    size_in_usd: int,
    size_in_tokens: int,
    collateral_usd: int,
    collateral_amount: int,
    pending_borrowing_fees_usd: int,
    pending_funding_fees_usd: int,
    pending_impact_amount: int,
    min_collateral_usd: int,
    referral: ReferralInfo | None = None,
    use_max_price_impact: bool = False,
) -> int | None:
    """The index price at which the position would be liquidated, None when there is none (empty
    position, zero denominator, or a price at or below zero).

    Closing costs counted: the closing position fee (balance not improved), pending borrowing and
    funding fees, and the price impact of closing the whole position plus its pending impact, floored
    at -max_position_impact_factor_for_liquidations * size and never counted as a gain (or, with
    `use_max_price_impact`, that floor itself). The collateral needed is the larger of
    min_collateral_factor_for_liquidation * size and `min_collateral_usd`. Each price is divided by
    the token count before being scaled to the index token's decimals, so it moves in steps of
    10**decimals.
    """
    if size_in_usd <= 0 or size_in_tokens <= 0:
        return None
    config = market.config
    index = market.state.index_token
    closing_fee = position_fee(config, size_in_usd, False, referral).position_fee_usd
    pending_fees = pending_borrowing_fees_usd + pending_funding_fees_usd
    total_fees = pending_fees + closing_fee
    max_negative_impact = -apply_factor(size_in_usd, config.max_position_impact_factor_for_liquidations)
    if use_max_price_impact:
        impact = max_negative_impact
    else:
        impact = price_impact_for_position(market, -size_in_usd, is_long, fallback_to_zero=True).delta_usd
        if impact > 0:
            impact = cap_by_max_impact_factor(config, size_in_usd, impact)
        pending_price = index.prices.min_price if pending_impact_amount > 0 else index.prices.max_price
        impact += convert_to_usd(pending_impact_amount, index.decimals, pending_price)
        impact = min(max(impact, max_negative_impact), 0)
    needed_collateral = max(
        apply_factor(size_in_usd, config.min_collateral_factor_for_liquidation), min_collateral_usd
    )
    unit = expand_decimals(1, index.decimals)
    if collateral_token.is_equivalent(index):
        if is_long:
            denominator = size_in_tokens + collateral_amount
            numerator = size_in_usd + needed_collateral - impact + total_fees
        else:
            denominator = size_in_tokens - collateral_amount
            numerator = size_in_usd - needed_collateral + impact - total_fees
        if denominator == 0:
            return None
        price = div_toward_zero(numerator, denominator) * unit
    else:
        remaining_collateral = collateral_usd + impact - pending_fees - closing_fee
        if is_long:
            price = (
                div_toward_zero(needed_collateral - remaining_collateral + size_in_usd, size_in_tokens) * unit
            )
        else:
            price = (
                div_toward_zero(needed_collateral - remaining_collateral - size_in_usd, -size_in_tokens)
                * unit
            )
    return price if price > 0 else None
