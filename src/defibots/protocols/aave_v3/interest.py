"""Interest accrual (MathUtils) and the rate curve (DefaultReserveInterestRateStrategyV2) of Aave v3.6.

Rates are rays per year; the curve is stored in bps as the strategy stores it (`getInterestRateDataBps`).
"""

from __future__ import annotations

from dataclasses import dataclass

from defibots.protocols.aave_v3.math import (
    MAX_UINT256,
    PERCENTAGE_FACTOR,
    RAY,
    checked,
    percent_mul,
    ray_div,
    ray_mul,
)

SECONDS_PER_YEAR = 365 * 24 * 3600
"""MathUtils.SECONDS_PER_YEAR: leap years ignored."""
BPS_TO_RAY = 10**23


def calculate_linear_interest(rate: int, last_update_timestamp: int, current_timestamp: int) -> int:
    """RAY + rate * elapsed / SECONDS_PER_YEAR: the supply side's simple interest factor."""
    elapsed = checked(current_timestamp - last_update_timestamp)
    return checked(RAY + checked(rate * elapsed) // SECONDS_PER_YEAR)


def calculate_compounded_interest(rate: int, last_update_timestamp: int, current_timestamp: int) -> int:
    """The borrow side's factor: the 3-term binomial expansion of (1 + rate/year)^elapsed.

    As in the contract the arithmetic is `unchecked` (wraps mod 2**256) except the elapsed-time
    subtraction and the two rayMuls, which revert on overflow.
    """
    elapsed = checked(current_timestamp - last_update_timestamp)
    if elapsed == 0:
        return RAY
    x = (rate * elapsed & MAX_UINT256) // SECONDS_PER_YEAR
    inner = (x // 2 + ray_mul(x, x // 6)) & MAX_UINT256
    return (RAY + x + ray_mul(x, inner)) & MAX_UINT256


@dataclass(frozen=True)
class InterestRateData:
    """One reserve's curve in bps (uint16 optimal point, uint32 rates), as the strategy stores it."""

    optimal_usage_ratio: int
    base_variable_borrow_rate: int
    variable_rate_slope1: int
    variable_rate_slope2: int

    def max_variable_borrow_rate(self) -> int:
        """In ray: base + slope1 + slope2."""
        total = self.base_variable_borrow_rate + self.variable_rate_slope1 + self.variable_rate_slope2
        return total * BPS_TO_RAY


def calculate_interest_rates(
    curve: InterestRateData,
    *,
    total_debt: int,
    virtual_underlying_balance: int,
    liquidity_added: int = 0,
    liquidity_taken: int = 0,
    unbacked: int = 0,
    reserve_factor: int = 0,
) -> tuple[int, int]:
    """(liquidity rate, variable borrow rate) in ray, as `calculateInterestRates` returns them.

    `unbacked` is the reserve's deficit (v3.6 passes `reserve.deficit`): it dilutes the supply usage ratio
    only. Usage is measured on the virtual balance, not the aToken's token balance.
    """
    optimal = curve.optimal_usage_ratio * BPS_TO_RAY
    base = curve.base_variable_borrow_rate * BPS_TO_RAY
    slope1 = curve.variable_rate_slope1 * BPS_TO_RAY
    slope2 = curve.variable_rate_slope2 * BPS_TO_RAY
    if total_debt == 0:
        return 0, base
    available = checked(checked(virtual_underlying_balance + liquidity_added) - liquidity_taken)
    available_plus_debt = checked(available + total_debt)
    borrow_usage = ray_div(total_debt, available_plus_debt)
    supply_usage = ray_div(total_debt, checked(available_plus_debt + unbacked))
    if borrow_usage > optimal:
        excess = ray_div(borrow_usage - optimal, checked(RAY - optimal))
        variable_rate = checked(base + checked(slope1 + ray_mul(slope2, excess)))
    else:
        variable_rate = checked(base + ray_div(ray_mul(slope1, borrow_usage), optimal))
    liquidity_rate = percent_mul(
        ray_mul(variable_rate, supply_usage), checked(PERCENTAGE_FACTOR - reserve_factor)
    )
    return liquidity_rate, variable_rate
