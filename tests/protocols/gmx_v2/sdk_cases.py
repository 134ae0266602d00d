"""Seeded random GMX V2 markets and orders for the SDK parity test, each case holding the SDK call
(function name and JSON arguments, BigInts as decimal strings) and the same question put to the model."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from defibots.protocols.gmx_v2 import (
    Market,
    MarketConfig,
    MarketState,
    ReferralInfo,
    Token,
    TokenPrices,
    apply_impact_factor,
    borrowing_factor_per_period,
    borrowing_fee_rate_usd,
    cap_by_impact_pool,
    capped_position_impact_usd,
    entry_price,
    front_end_position_key,
    funding_factor_per_period,
    funding_fee_rate_usd,
    leverage,
    liquidation_price,
    net_price_impact_for_decrease,
    position_fee,
    position_key,
    position_pnl_usd,
    price_impact_for_position,
    proportional_pending_impact,
)
from defibots.protocols.gmx_v2.price_impact import NegativeOpenInterest

ONE = 10**30
USD = 10**30

Json = Any


@dataclass(frozen=True)
class Case:
    """One SDK call and the model's answer to the same question, in the SDK's JSON shape."""

    kind: str
    fn: str
    args: list[Json]
    model: Callable[[], Json]
    tags: frozenset[str] = frozenset()


def s(value: int) -> str:
    return str(value)


def log_int(r: random.Random, lo: float, hi: float, unit: int = 1) -> int:
    """A log-uniform int between 10**lo and 10**hi units, with noise in the low digits."""
    base = int(10 ** r.uniform(lo, hi) * unit)
    return base + r.randrange(max(1, base // 10**12))


def factor(r: random.Random, lo: float, hi: float) -> int:
    return log_int(r, lo, hi, ONE)


def address(r: random.Random) -> str:
    return "0x" + r.randbytes(20).hex()


def prices(r: random.Random, usd_price: float, decimals: int) -> TokenPrices:
    low = int(usd_price * 10 ** (30 - decimals)) + r.randrange(10**6)
    return TokenPrices(low, low + r.randrange(low // 400 + 1) if r.random() < 0.8 else low)


def exponent(r: random.Random) -> int:
    pick = r.random()
    if pick < 0.2:
        return ONE
    if pick < 0.4:
        return 2 * ONE
    if pick < 0.55:
        return 15 * ONE // 10
    if pick < 0.7:
        return r.choice([22, 25, 27, 21]) * ONE // 10
    if pick < 0.9:
        return r.randint(100, 300) * ONE // 100
    return r.randint(1 * ONE, 3 * ONE)  # not a round number: the float conversion rounds it


def random_market(r: random.Random) -> Market:
    index_decimals = r.choice([18, 18, 8, 6])
    index_usd = 10 ** r.uniform(-2, 5)
    index = Token(address(r), index_decimals, prices(r, index_usd, index_decimals), "IDX")
    shape = r.random()
    if shape < 0.45:
        long_token = index
    elif shape < 0.6:  # a synthetic index backed by a token of the same symbol: equivalent collateral
        index = Token(index.address, index.decimals, index.prices, "IDX", is_synthetic=True)
        long_token = Token(address(r), 8, prices(r, index_usd, 8), "IDX")
    else:
        long_token = Token(address(r), 18, prices(r, 10 ** r.uniform(0, 4), 18), "LNG")
    short_token = Token(address(r), 6, prices(r, r.uniform(0.995, 1.005), 6), "USDC")

    def open_interest() -> int:
        pick = r.random()
        if pick < 0.08:
            return 0
        if pick < 0.12:
            return r.randrange(1, 10**6)
        return log_int(r, 2, 9, USD)

    long_oi = open_interest()
    short_oi = long_oi if r.random() < 0.05 else open_interest()

    def in_tokens(oi_usd: int) -> int:
        if oi_usd == 0 and r.random() < 0.7:
            return 0
        tokens = oi_usd * 10**index_decimals // max(index.prices.mid_price, 1)
        return max(0, int(tokens * r.uniform(0.6, 1.5)))

    def pool(token: Token) -> int:
        return log_int(r, 1, 9, USD) * 10**token.decimals // max(token.prices.min_price, 1)

    exp_pos, exp_neg = exponent(r), exponent(r)
    if r.random() < 0.5:
        exp_neg = exp_pos
    typical = 10 ** r.uniform(3, 8)

    def impact_factor(exp: int) -> int:
        e = exp / ONE
        return max(1, int(10 ** (r.uniform(-4.5, -1) + (1 - e) * math.log10(typical)) * ONE))

    factor_pos = impact_factor(exp_pos)
    factor_neg = (
        factor_pos * r.randint(1, 4) if exp_pos == exp_neg and r.random() < 0.6 else impact_factor(exp_neg)
    )
    max_neg = factor(r, -5, -1.3)
    max_pos = factor(r, -5, -1.3) if r.random() < 0.7 else max_neg * r.randint(2, 5)
    config = MarketConfig(
        position_fee_factor_for_balance_was_improved=factor(r, -4.5, -3.3),
        position_fee_factor_for_balance_was_not_improved=factor(r, -4, -3),
        position_impact_factor_positive=factor_pos,
        position_impact_factor_negative=factor_neg,
        position_impact_exponent_factor_positive=exp_pos,
        position_impact_exponent_factor_negative=exp_neg,
        max_position_impact_factor_positive=max_pos,
        max_position_impact_factor_negative=max_neg,
        max_position_impact_factor_for_liquidations=factor(r, -3, -1.5) if r.random() < 0.9 else 0,
        min_collateral_factor_for_liquidation=factor(r, -3, -2),
        max_pnl_factor_for_traders_long=factor(r, -2.5, 0),
        max_pnl_factor_for_traders_short=factor(r, -2.5, 0),
        use_open_interest_in_tokens_for_balance=r.random() < 0.3,
    )
    state = MarketState(
        index_token=index,
        long_token=long_token,
        short_token=short_token,
        long_pool_amount=pool(long_token),
        short_pool_amount=pool(short_token),
        long_interest_usd=long_oi,
        short_interest_usd=short_oi,
        long_interest_in_tokens=in_tokens(long_oi),
        short_interest_in_tokens=in_tokens(short_oi),
        borrowing_factor_per_second_for_longs=0 if r.random() < 0.1 else factor(r, -14, -9),
        borrowing_factor_per_second_for_shorts=0 if r.random() < 0.1 else factor(r, -14, -9),
        funding_factor_per_second=0 if r.random() < 0.1 else factor(r, -14, -9),
        longs_pay_shorts=r.random() < 0.5,
        virtual_inventory_for_positions=0 if r.random() < 0.6 else r.choice([1, -1]) * log_int(r, 3, 9, USD),
        position_impact_pool_amount=0
        if r.random() < 0.1
        else log_int(r, 0, 7, USD) * 10**index_decimals // max(index.prices.min_price, 1),
    )
    return Market(config, state)


def sdk_token(token: Token) -> Json:
    out: dict[str, Json] = {
        "address": token.address,
        "decimals": token.decimals,
        "symbol": token.symbol,
        "isSynthetic": token.is_synthetic,
        "prices": {"minPrice": s(token.prices.min_price), "maxPrice": s(token.prices.max_price)},
    }
    if token.wrapped_address is not None:
        out["wrappedAddress"] = token.wrapped_address
    return out


def sdk_market(market: Market) -> Json:
    """The market as the SDK's MarketInfo (only the fields its math reads)."""
    c, st = market.config, market.state
    return {
        "marketTokenAddress": "0x" + "11" * 20,
        "indexToken": sdk_token(st.index_token),
        "longToken": sdk_token(st.long_token),
        "shortToken": sdk_token(st.short_token),
        "longPoolAmount": s(st.long_pool_amount),
        "shortPoolAmount": s(st.short_pool_amount),
        "longInterestUsd": s(st.long_interest_usd),
        "shortInterestUsd": s(st.short_interest_usd),
        "longInterestInTokens": s(st.long_interest_in_tokens),
        "shortInterestInTokens": s(st.short_interest_in_tokens),
        "useOpenInterestInTokensForBalance": c.use_open_interest_in_tokens_for_balance,
        "positionFeeFactorForBalanceWasImproved": s(c.position_fee_factor_for_balance_was_improved),
        "positionFeeFactorForBalanceWasNotImproved": s(c.position_fee_factor_for_balance_was_not_improved),
        "positionImpactFactorPositive": s(c.position_impact_factor_positive),
        "positionImpactFactorNegative": s(c.position_impact_factor_negative),
        "positionImpactExponentFactorPositive": s(c.position_impact_exponent_factor_positive),
        "positionImpactExponentFactorNegative": s(c.position_impact_exponent_factor_negative),
        "maxPositionImpactFactorPositive": s(c.max_position_impact_factor_positive),
        "maxPositionImpactFactorNegative": s(c.max_position_impact_factor_negative),
        "maxPositionImpactFactorForLiquidations": s(c.max_position_impact_factor_for_liquidations),
        "minCollateralFactorForLiquidation": s(c.min_collateral_factor_for_liquidation),
        "maxPnlFactorForTradersLong": s(c.max_pnl_factor_for_traders_long),
        "maxPnlFactorForTradersShort": s(c.max_pnl_factor_for_traders_short),
        "borrowingFactorPerSecondForLongs": s(st.borrowing_factor_per_second_for_longs),
        "borrowingFactorPerSecondForShorts": s(st.borrowing_factor_per_second_for_shorts),
        "fundingFactorPerSecond": s(st.funding_factor_per_second),
        "longsPayShorts": st.longs_pay_shorts,
        "virtualInventoryForPositions": s(st.virtual_inventory_for_positions),
        "positionImpactPoolAmount": s(st.position_impact_pool_amount),
    }


def _impact_json(call: Callable[[], Any]) -> Callable[[], Json]:
    def run() -> Json:
        try:
            impact = call()
        except NegativeOpenInterest:
            return {"$error": "Negative pool amount"}
        return {"priceImpactDeltaUsd": s(impact.delta_usd), "balanceWasImproved": impact.balance_was_improved}

    return run


def _exponent_tags(market: Market) -> set[str]:
    c = market.config
    tags = set()
    for e in (c.position_impact_exponent_factor_positive, c.position_impact_exponent_factor_negative):
        tags.add(
            "exponent-1"
            if e == ONE
            else "exponent-2"
            if e == 2 * ONE
            else "exponent-1.5"
            if e == 15 * ONE // 10
            else "exponent-2.x"
            if 2 * ONE < e < 3 * ONE
            else "exponent-other"
        )
    return tags


def _impact_tags(market: Market, delta: int, is_long: bool) -> frozenset[str]:
    tags = _exponent_tags(market)
    try:
        impact = price_impact_for_position(market, delta, is_long)
    except NegativeOpenInterest:
        return frozenset(tags | {"negative-oi"})
    tags.add("positive" if impact.delta_usd > 0 else "negative" if impact.delta_usd < 0 else "zero")
    if market.state.virtual_inventory_for_positions and impact.delta_usd <= 0:
        plain = Market(market.config, replace(market.state, virtual_inventory_for_positions=0))
        if price_impact_for_position(plain, delta, is_long).delta_usd != impact.delta_usd:
            tags.add("virtual-inventory")
    before = market.open_interest_for_balance(True) - market.open_interest_for_balance(False)
    after = before + (delta if is_long else -delta)
    if (before < 0) != (after < 0):
        tags.add("crossover")
    return frozenset(tags)


def _capped_tags(
    market: Market, size: int, is_long: bool, is_increase: bool, cap_negative: bool
) -> frozenset[str]:
    signed = size if is_increase else -size
    raw = price_impact_for_position(market, signed, is_long, True).delta_usd
    capped = capped_position_impact_usd(market, size, is_long, is_increase, cap_negative, True).delta_usd
    tags = {"positive" if raw > 0 else "negative" if raw < 0 else "zero"}
    if raw != capped:
        tags.add("capped-positive" if raw > 0 else "capped-negative")
    c = market.config
    if c.max_position_impact_factor_positive > c.max_position_impact_factor_negative:
        tags.add("max-positive-above-negative")
    return frozenset(tags)


def _pnl_tags(
    market: Market, size_in_tokens: int, size_in_usd: int, mark: int, is_long: bool
) -> frozenset[str]:
    pnl = position_pnl_usd(market, size_in_usd, size_in_tokens, mark, is_long)
    tags = {"long" if is_long else "short", "profit" if pnl > 0 else "loss"}
    pool_pnl = market.market_pnl(is_long, maximize=False)
    capped = market.capped_pool_pnl(is_long, market.pool_usd_without_pnl(is_long, "min"), pool_pnl)
    if pnl > 0 and capped != pool_pnl and capped > 0:
        tags.add("pool-capped")
    return frozenset(tags)


def _opt(value: int | None) -> Json:
    return None if value is None else s(value)


def _size_delta(r: random.Random, market: Market) -> int:
    """A trade size: sometimes near the OI imbalance (crossovers), sometimes any size."""
    diff = abs(market.open_interest_for_balance(True) - market.open_interest_for_balance(False))
    if diff and r.random() < 0.4:
        return max(1, int(diff * r.uniform(0.05, 2.5)))
    return log_int(r, 1, 8, USD)


def market_cases(r: random.Random, i: int, market: Market) -> list[Case]:
    """About a dozen SDK calls on market i: fees, impact, funding/borrowing, PnL, liquidation, keys."""
    ref = {"$market": i}
    st = market.state
    cases: list[Case] = []

    size = _size_delta(r, market)
    improved = r.random() < 0.5
    referral = (
        None if r.random() < 0.4 else ReferralInfo(factor(r, -2, -0.3), r.choice([0, factor(r, -1, 0), ONE]))
    )
    ui_fee_factor = 0 if r.random() < 0.5 else factor(r, -5, -3)
    ref_json = (
        None
        if referral is None
        else {
            "totalRebateFactor": s(referral.total_rebate_factor),
            "discountFactor": s(referral.discount_factor),
        }
    )

    def fee_json(m: Market = market, sz: int = size, imp: bool = improved) -> Json:
        fee = position_fee(m.config, sz, imp, referral, ui_fee_factor)
        out = {
            "positionFeeUsd": s(fee.position_fee_usd),
            "discountUsd": s(fee.discount_usd),
            "totalRebateUsd": s(fee.total_rebate_usd),
        }
        if referral is not None:  # the SDK drops uiFeeUsd without referral info
            out["uiFeeUsd"] = s(fee.ui_fee_usd)
        return out

    tags = {"referral" if referral else "no-referral", "improved" if improved else "worsened"}
    cases.append(
        Case(
            "position_fee",
            "getPositionFee",
            [ref, s(size), improved, ref_json, s(ui_fee_factor)],
            fee_json,
            frozenset(tags),
        )
    )

    for is_long in (True, False):
        period = r.choice([0, 1, 3600, 86400, 365 * 86400, r.randrange(1, 10**6)])
        cases.append(
            Case(
                "borrowing",
                "getBorrowingFactorPerPeriod",
                [ref, is_long, period],
                lambda il=is_long, p=period: s(borrowing_factor_per_period(st, il, p)),
                frozenset({"zero-period"} if period == 0 else set()),
            )
        )
        size_in = log_int(r, 1, 8, USD)
        cases.append(
            Case(
                "borrowing",
                "getBorrowingFeeRateUsd",
                [ref, is_long, s(size_in), period],
                lambda il=is_long, sz=size_in, p=period: s(borrowing_fee_rate_usd(st, il, sz, p)),
            )
        )
        paying = is_long == st.longs_pay_shorts
        receiving_oi = market.open_interest_for_balance(not st.longs_pay_shorts)
        ftags = {"paying" if paying else "receiving"}
        if receiving_oi == 0:
            ftags.add("zero-receiving-oi")
        cases.append(
            Case(
                "funding",
                "getFundingFactorPerPeriod",
                [ref, is_long, period],
                lambda il=is_long, p=period: s(funding_factor_per_period(market, il, p)),
                frozenset(ftags),
            )
        )
        cases.append(
            Case(
                "funding",
                "getFundingFeeRateUsd",
                [ref, is_long, s(size_in), period],
                lambda il=is_long, sz=size_in, p=period: s(funding_fee_rate_usd(market, il, sz, p)),
                frozenset(ftags),
            )
        )

    # price impact: increases and decreases, with and without the negative-OI fallback
    for _ in range(2):
        is_long = r.random() < 0.5
        delta = _size_delta(r, market) * (1 if r.random() < 0.6 else -1)
        fallback = r.random() < 0.5
        cases.append(
            Case(
                "impact",
                "getPriceImpactForPosition",
                [ref, s(delta), is_long, {"fallbackToZero": fallback}],
                _impact_json(
                    lambda d=delta, il=is_long, f=fallback: price_impact_for_position(market, d, il, f)
                ),
                _impact_tags(market, delta, is_long),
            )
        )
        is_increase = r.random() < 0.6
        cap_negative = r.random() < 0.5
        sz = _size_delta(r, market)
        opts = {"shouldCapNegativeImpact": cap_negative, "fallbackToZero": True}
        cases.append(
            Case(
                "capped_impact",
                "getCappedPositionImpactUsd",
                [ref, s(sz), is_long, is_increase, opts],
                _impact_json(
                    lambda sz=sz, il=is_long, inc=is_increase, cn=cap_negative: capped_position_impact_usd(
                        market, sz, il, inc, cn, True
                    )
                ),
                _capped_tags(market, sz, is_long, is_increase, cap_negative),
            )
        )
    diff = log_int(r, 0, 9, USD) if r.random() < 0.9 else r.randrange(0, 10**12)
    f, e = (
        market.config.position_impact_factor_negative,
        market.config.position_impact_exponent_factor_negative,
    )
    cases.append(
        Case(
            "apply_impact_factor",
            "applyImpactFactor",
            [s(diff), s(f), s(e)],
            lambda d=diff, f=f, e=e: s(apply_impact_factor(d, f, e)),
        )
    )
    impact = r.choice([-1, 1]) * log_int(r, 0, 7, USD)
    cases.append(
        Case(
            "impact_pool_cap",
            "capPositionImpactUsdByMaxImpactPool",
            [ref, s(impact)],
            lambda x=impact: s(cap_by_impact_pool(market, x)),
        )
    )

    # a position on this market
    index = st.index_token
    is_long = r.random() < 0.5
    size_in_usd = log_int(r, 1, 7.5, USD)
    size_in_tokens = max(
        1, int(size_in_usd * 10**index.decimals // index.prices.mid_price * r.uniform(0.6, 1.6))
    )
    mark = r.choice(
        [index.prices.min_price, index.prices.max_price, int(index.prices.mid_price * r.uniform(0.7, 1.4))]
    )
    cases.append(
        Case(
            "pnl",
            "getPositionPnlUsd",
            [
                {
                    "marketInfo": ref,
                    "sizeInUsd": s(size_in_usd),
                    "sizeInTokens": s(size_in_tokens),
                    "markPrice": s(mark),
                    "isLong": is_long,
                }
            ],
            lambda: s(position_pnl_usd(market, size_in_usd, size_in_tokens, mark, is_long)),
            _pnl_tags(market, size_in_tokens, size_in_usd, mark, is_long),
        )
    )
    cases.append(
        Case(
            "entry_price",
            "getEntryPrice",
            [
                {
                    "sizeInUsd": s(size_in_usd),
                    "sizeInTokens": s(size_in_tokens),
                    "indexToken": {"$marketToken": [i, "indexToken"]},
                }
            ],
            lambda: _opt(entry_price(size_in_usd, size_in_tokens, index)),
        )
    )

    collateral_key = r.choice(["longToken", "shortToken"])
    collateral = st.long_token if collateral_key == "longToken" else st.short_token
    collateral_amount = log_int(r, 0, 7, USD) * 10**collateral.decimals // max(collateral.prices.min_price, 1)
    collateral_usd = collateral_amount * collateral.prices.min_price // 10**collateral.decimals
    borrowing_fees = 0 if r.random() < 0.3 else log_int(r, -2, 4, USD)
    funding_fees = 0 if r.random() < 0.3 else log_int(r, -2, 4, USD)
    pending_impact = (
        0
        if r.random() < 0.3
        else r.choice([-1, 1])
        * (log_int(r, -2, 4, USD) * 10**index.decimals // max(index.prices.mid_price, 1))
    )
    min_collateral_usd = log_int(r, 0, 1.3, USD)
    use_max = r.random() < 0.25
    liq_args = {
        "sizeInUsd": s(size_in_usd),
        "sizeInTokens": s(size_in_tokens),
        "collateralUsd": s(collateral_usd),
        "collateralAmount": s(collateral_amount),
        "marketInfo": ref,
        "collateralToken": {"$marketToken": [i, collateral_key]},
        "pendingFundingFeesUsd": s(funding_fees),
        "pendingBorrowingFeesUsd": s(borrowing_fees),
        "pendingImpactAmount": s(pending_impact),
        "minCollateralUsd": s(min_collateral_usd),
        "isLong": is_long,
        "userReferralInfo": ref_json,
        "useMaxPriceImpact": use_max,
    }
    liq_tags = {
        "equivalent" if collateral.is_equivalent(index) else "other-collateral",
        "long" if is_long else "short",
    }
    cases.append(
        Case(
            "liquidation",
            "getLiquidationPrice",
            [liq_args],
            lambda: _opt(
                liquidation_price(
                    market,
                    collateral,
                    is_long,
                    size_in_usd,
                    size_in_tokens,
                    collateral_usd,
                    collateral_amount,
                    borrowing_fees,
                    funding_fees,
                    pending_impact,
                    min_collateral_usd,
                    referral,
                    use_max,
                )
            ),
            frozenset(liq_tags),
        )
    )
    pnl_guess = r.choice([-1, 1]) * log_int(r, 0, 6, USD)
    cases.append(
        Case(
            "leverage",
            "getLeverage",
            [
                {
                    "pnl": s(pnl_guess),
                    "sizeInUsd": s(size_in_usd),
                    "collateralUsd": s(collateral_usd),
                    "pendingBorrowingFeesUsd": s(borrowing_fees),
                    "pendingFundingFeesUsd": s(funding_fees),
                }
            ],
            lambda: _opt(leverage(size_in_usd, collateral_usd, pnl_guess, borrowing_fees + funding_fees)),
        )
    )

    decrease = max(1, int(size_in_usd * r.uniform(0.01, 1.0)))
    new_impact = r.choice([-1, 1]) * log_int(r, -1, 5, USD)
    cases.append(
        Case(
            "pending_impact",
            "getProportionalPendingImpactValues",
            [
                {
                    "sizeInUsd": s(size_in_usd),
                    "pendingImpactAmount": s(pending_impact),
                    "sizeDeltaUsd": s(decrease),
                    "indexToken": {"$marketToken": [i, "indexToken"]},
                }
            ],
            lambda: (
                lambda p: {
                    "proportionalPendingImpactDeltaAmount": s(p.amount),
                    "proportionalPendingImpactDeltaUsd": s(p.usd),
                }
            )(proportional_pending_impact(market, size_in_usd, pending_impact, decrease)),
        )
    )
    cases.append(
        Case(
            "decrease_impact",
            "getNetPriceImpactDeltaUsdForDecrease",
            [
                {
                    "marketInfo": ref,
                    "sizeInUsd": s(size_in_usd),
                    "pendingImpactAmount": s(pending_impact),
                    "priceImpactDeltaUsd": s(new_impact),
                    "sizeDeltaUsd": s(decrease),
                }
            ],
            lambda: (
                lambda d: {
                    "totalImpactDeltaUsd": s(d.total_usd),
                    "proportionalPendingImpactDeltaUsd": s(d.pending_usd),
                    "priceImpactDiffUsd": s(d.capped_diff_usd),
                }
            )(net_price_impact_for_decrease(market, size_in_usd, pending_impact, new_impact, decrease)),
        )
    )

    account, market_address = address(r), address(r)
    cases.append(
        Case(
            "position_key",
            "hashedPositionKey",
            [account, market_address, collateral.address, is_long],
            lambda: "0x" + position_key(account, market_address, collateral.address, is_long).hex(),
        )
    )
    cases.append(
        Case(
            "position_key",
            "getPositionKey",
            [account, market_address, collateral.address, is_long],
            lambda: front_end_position_key(account, market_address, collateral.address, is_long),
        )
    )
    return cases
