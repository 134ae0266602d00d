"""One reserve's state and its two state moves: index accrual to a timestamp (ReserveLogic.updateState)
and the rate refresh that every action ends with (updateInterestRatesAndVirtualBalance)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from defibots.protocols.aave_v3.configuration import ReserveConfiguration
from defibots.protocols.aave_v3.errors import PANIC_OVERFLOW, SAFE_CAST_OVERFLOW, AaveV3Revert
from defibots.protocols.aave_v3.interest import (
    InterestRateData,
    calculate_compounded_interest,
    calculate_interest_rates,
    calculate_linear_interest,
)
from defibots.protocols.aave_v3.math import MAX_UINT128, percent_mul, ray_mul, ray_mul_floor
from defibots.protocols.aave_v3.token_math import a_token_balance, a_token_mint_scaled, debt_balance


def to_uint128(value: int) -> int:
    """SafeCast.toUint128."""
    if value > MAX_UINT128:
        raise AaveV3Revert(SAFE_CAST_OVERFLOW, f"{value} does not fit in uint128")
    return value


def add_uint128(a: int, b: int) -> int:
    """A checked `uint128 += uint128`."""
    if a + b > MAX_UINT128:
        raise AaveV3Revert(PANIC_OVERFLOW, "uint128 overflow")
    return a + b


def sub_uint128(a: int, b: int) -> int:
    """A checked `uint128 -= uint128`."""
    if b > a:
        raise AaveV3Revert(PANIC_OVERFLOW, "uint128 underflow")
    return a - b


@dataclass(frozen=True)
class ReserveState:
    """What the Pool stores for one reserve, plus the two token supplies its logic reads.

    Indexes and rates in ray; `accrued_to_treasury` and both supplies are scaled; the virtual balance,
    deficit and isolation-mode debt (0.01 base units) are unscaled.
    """

    asset: str
    id: int
    configuration: ReserveConfiguration
    rate_strategy: InterestRateData
    liquidity_index: int
    variable_borrow_index: int
    current_liquidity_rate: int
    current_variable_borrow_rate: int
    last_update_timestamp: int
    accrued_to_treasury: int = 0
    virtual_underlying_balance: int = 0
    deficit: int = 0
    isolation_mode_total_debt: int = 0
    scaled_a_token_supply: int = 0
    scaled_variable_debt: int = 0
    liquidation_grace_period_until: int = 0

    def normalized_income(self, timestamp: int) -> int:
        """getReserveNormalizedIncome at `timestamp`: the liquidity index as if accrued now."""
        if self.last_update_timestamp == timestamp:
            return self.liquidity_index
        interest = calculate_linear_interest(
            self.current_liquidity_rate, self.last_update_timestamp, timestamp
        )
        return ray_mul(interest, self.liquidity_index)

    def normalized_debt(self, timestamp: int) -> int:
        """getReserveNormalizedVariableDebt at `timestamp`."""
        if self.last_update_timestamp == timestamp:
            return self.variable_borrow_index
        interest = calculate_compounded_interest(
            self.current_variable_borrow_rate, self.last_update_timestamp, timestamp
        )
        return ray_mul(interest, self.variable_borrow_index)

    def accrue(self, timestamp: int) -> ReserveState:
        """updateState: grow both indexes to `timestamp` and book the reserve factor's share of the new
        interest to the treasury (scaled, rounded down). A no-op within the same second."""
        return accrue_state(self, timestamp, treasury_bookings=1)

    def update_rates(self, liquidity_added: int = 0, liquidity_taken: int = 0) -> ReserveState:
        """updateInterestRatesAndVirtualBalance on an accrued state whose scaled debt is already final."""
        total_debt = debt_balance(self.scaled_variable_debt, self.variable_borrow_index)
        liquidity_rate, variable_rate = calculate_interest_rates(
            self.rate_strategy,
            total_debt=total_debt,
            virtual_underlying_balance=self.virtual_underlying_balance,
            liquidity_added=liquidity_added,
            liquidity_taken=liquidity_taken,
            unbacked=self.deficit,
            reserve_factor=self.configuration.reserve_factor,
        )
        virtual_balance = self.virtual_underlying_balance
        if liquidity_added > 0:
            virtual_balance = add_uint128(virtual_balance, to_uint128(liquidity_added))
        if liquidity_taken > 0:
            virtual_balance = sub_uint128(virtual_balance, to_uint128(liquidity_taken))
        return replace(
            self,
            current_liquidity_rate=to_uint128(liquidity_rate),
            current_variable_borrow_rate=to_uint128(variable_rate),
            virtual_underlying_balance=virtual_balance,
        )

    def total_a_token_supply(self, timestamp: int) -> int:
        """aToken.totalSupply(): the scaled supply at the normalized income (treasury accruals excluded)."""
        return a_token_balance(self.scaled_a_token_supply, self.normalized_income(timestamp))

    def total_variable_debt(self, timestamp: int) -> int:
        """variableDebtToken.totalSupply()."""
        return debt_balance(self.scaled_variable_debt, self.normalized_debt(timestamp))


def accrue_state(reserve: ReserveState, timestamp: int, treasury_bookings: int) -> ReserveState:
    """updateState, with the treasury share booked `treasury_bookings` times.

    The Pool's liquidationCall caches the debt and the collateral reserve before updating either; when
    both are the same asset the second update recomputes the same indexes from the stale cache and
    books the treasury share a second time. `liquidation` passes 2 for that case.
    """
    if reserve.last_update_timestamp == timestamp:
        return reserve
    liquidity_index = reserve.liquidity_index
    if reserve.current_liquidity_rate != 0:
        interest = calculate_linear_interest(
            reserve.current_liquidity_rate, reserve.last_update_timestamp, timestamp
        )
        liquidity_index = to_uint128(ray_mul(interest, reserve.liquidity_index))
    borrow_index = reserve.variable_borrow_index
    if reserve.scaled_variable_debt != 0:
        interest = calculate_compounded_interest(
            reserve.current_variable_borrow_rate, reserve.last_update_timestamp, timestamp
        )
        borrow_index = to_uint128(ray_mul(interest, reserve.variable_borrow_index))
    accrued = reserve.accrued_to_treasury
    reserve_factor = reserve.configuration.reserve_factor
    if reserve_factor != 0:
        debt_accrued = ray_mul_floor(
            reserve.scaled_variable_debt, borrow_index - reserve.variable_borrow_index
        )
        to_mint = percent_mul(debt_accrued, reserve_factor)
        if to_mint != 0:
            for _ in range(treasury_bookings):
                accrued = add_uint128(accrued, to_uint128(a_token_mint_scaled(to_mint, liquidity_index)))
    return replace(
        reserve,
        liquidity_index=liquidity_index,
        variable_borrow_index=borrow_index,
        accrued_to_treasury=accrued,
        last_update_timestamp=timestamp,
    )
