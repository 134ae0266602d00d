"""Properties of the Aave v3.6 model that need no chain: bitmap round trips, accrual no-ops, rounding
directions of the scaled conversions, and the liquidation helpers' boundaries."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from defibots.protocols.aave_v3 import (
    MIN_BASE_MAX_CLOSE_FACTOR_THRESHOLD,
    RAY,
    AaveV3Revert,
    EModeCategory,
    InterestRateData,
    ReserveConfiguration,
    ReserveState,
    UserReserve,
    calculate_compounded_interest,
    isolated_debt_after_borrow,
    isolation_mode,
    liquidation_call,
    max_liquidatable_debt,
    user_account_data,
    user_reserve_ltv,
)
from defibots.protocols.aave_v3.math import MAX_UINT256
from defibots.protocols.aave_v3.token_math import (
    a_token_balance,
    a_token_burn_scaled,
    a_token_mint_scaled,
    debt_balance,
    debt_burn_scaled,
    debt_mint_scaled,
)

WETH_CONFIG = ReserveConfiguration(
    ltv=8050, liquidation_threshold=8300, liquidation_bonus=10500, decimals=18, reserve_factor=1500
)


def reserve(**changes: object) -> ReserveState:
    base = ReserveState(
        asset="WETH",
        id=0,
        configuration=WETH_CONFIG,
        rate_strategy=InterestRateData(9000, 0, 270, 8000),
        liquidity_index=RAY + 12345,
        variable_borrow_index=RAY + 67890,
        current_liquidity_rate=2 * 10**25,
        current_variable_borrow_rate=3 * 10**25,
        last_update_timestamp=1_000,
        virtual_underlying_balance=10**22,
        scaled_a_token_supply=2 * 10**22,
        scaled_variable_debt=10**22,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_configuration_bitmap_round_trip() -> None:
    rng = random.Random(7)
    for _ in range(200):
        config = ReserveConfiguration(
            ltv=rng.randrange(1 << 16),
            liquidation_threshold=rng.randrange(1 << 16),
            liquidation_bonus=rng.randrange(1 << 16),
            decimals=rng.randrange(256),
            active=rng.random() < 0.5,
            frozen=rng.random() < 0.5,
            paused=rng.random() < 0.5,
            reserve_factor=rng.randrange(1 << 16),
            borrow_cap=rng.randrange(1 << 36),
            supply_cap=rng.randrange(1 << 36),
            liquidation_protocol_fee=rng.randrange(1 << 16),
            debt_ceiling=rng.randrange(1 << 40),
        )
        assert ReserveConfiguration.from_bitmap(config.to_bitmap()) == config
    with pytest.raises(ValueError):
        ReserveConfiguration(
            ltv=1 << 16, liquidation_threshold=0, liquidation_bonus=0, decimals=0
        ).to_bitmap()


def test_accrual_is_a_no_op_in_the_same_second_and_grows_later() -> None:
    r = reserve()
    assert r.accrue(1_000) is r
    later = r.accrue(1_000 + 86_400)
    assert later.liquidity_index == r.normalized_income(1_000 + 86_400) > r.liquidity_index
    assert later.variable_borrow_index == r.normalized_debt(1_000 + 86_400) > r.variable_borrow_index
    assert later.accrued_to_treasury > 0
    assert calculate_compounded_interest(10**27, 5, 5) == RAY
    with pytest.raises(AaveV3Revert) as revert:
        r.accrue(999)
    assert revert.value.reason == "Panic(0x11)"


def test_scaled_conversions_round_for_the_protocol() -> None:
    rng = random.Random(11)
    for _ in range(1_000):
        index, amount = rng.randrange(RAY, 3 * RAY), rng.randrange(1, 10**30)
        assert a_token_balance(a_token_mint_scaled(amount, index), index) <= amount
        assert a_token_burn_scaled(amount, index) >= a_token_mint_scaled(amount, index)
        assert debt_balance(debt_mint_scaled(amount, index), index) >= amount
        assert debt_burn_scaled(amount, index) <= debt_mint_scaled(amount, index)


def test_account_without_positions_and_e_mode_overrides() -> None:
    assert user_account_data([], 0).as_tuple() == (0, 0, 0, 0, 0, MAX_UINT256)
    r = reserve()
    e_mode = EModeCategory(1, 9300, 9500, 10100, collateral_bitmap=1, borrowable_bitmap=1)
    assert user_reserve_ltv(r, e_mode) == 9300
    assert (
        user_reserve_ltv(r, EModeCategory(1, 9300, 9500, 10100, collateral_bitmap=1, ltvzero_bitmap=1)) == 0
    )
    assert user_reserve_ltv(r, EModeCategory(1, 9300, 9500, 10100, collateral_bitmap=2)) == 8050
    position = UserReserve(r, 3_000 * 10**8, scaled_a_token_balance=10**18, using_as_collateral=True)
    account = user_account_data([position], 1_000, e_mode)
    assert (account.ltv, account.current_liquidation_threshold) == (9300, 9500)
    assert not isolation_mode([position]).active
    ceiled = UserReserve(
        reserve(configuration=ReserveConfiguration(7000, 7500, 10500, 18, debt_ceiling=10**8)),
        10**8,
        using_as_collateral=True,
    )
    assert isolation_mode([ceiled]).active and isolation_mode([ceiled, position]).active is False
    usdc = reserve(asset="USDC", id=2, configuration=ReserveConfiguration(7500, 7800, 10450, 6))
    with pytest.raises(AaveV3Revert, match="AssetNotBorrowableInIsolation"):
        isolated_debt_after_borrow([ceiled], usdc, 10**6)
    usdc = replace(usdc, configuration=replace(usdc.configuration, borrowable_in_isolation=True))
    assert isolated_debt_after_borrow([ceiled], usdc, 1_234_567) == 123  # 0.01 units, rounded down
    assert isolated_debt_after_borrow([ceiled, position], usdc, 10**6) is None
    with pytest.raises(AaveV3Revert, match="DebtCeilingExceeded"):
        isolated_debt_after_borrow([ceiled], usdc, 10**6 * 10**6 + 10**4)


def test_close_factor_boundaries() -> None:
    common = {"reserve_debt": 10**12, "debt_price": 10**8, "debt_unit": 10**6, "total_debt_in_base": 10**14}
    big = MIN_BASE_MAX_CLOSE_FACTOR_THRESHOLD
    half = max_liquidatable_debt(
        reserve_debt_in_base=10**14, reserve_collateral_in_base=big, health_factor=95 * 10**16 + 1, **common
    )
    assert half == 10**12 // 2
    for hf, collateral in ((95 * 10**16, big), (96 * 10**16, big - 1)):
        full = max_liquidatable_debt(
            reserve_debt_in_base=10**14, reserve_collateral_in_base=collateral, health_factor=hf, **common
        )
        assert full == 10**12


def test_liquidation_needs_both_positions_and_a_low_health_factor() -> None:
    r = reserve()
    healthy = UserReserve(r, 3_000 * 10**8, scaled_a_token_balance=10**18, using_as_collateral=True)
    with pytest.raises(ValueError):
        liquidation_call([healthy], "WETH", "USDC", 1, 1_000)
    with pytest.raises(AaveV3Revert) as revert:
        liquidation_call([healthy], "WETH", "WETH", 1, 1_000)
    assert revert.value.reason == "HealthFactorNotBelowThreshold"
