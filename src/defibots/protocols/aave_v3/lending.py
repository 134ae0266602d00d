"""supply / withdraw / borrow / repay on one reserve and the acting user's scaled balance (v3.6 logic).

Each function accrues the reserve to `timestamp`, converts the amount to a scaled amount with the
protocol-favouring rounding of TokenMath, runs the reserve-level validations, and refreshes the rates.
Checks that need the whole account (health factor, LTV, isolation, siloed borrowing) are in `account`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from defibots.protocols.aave_v3.caps import check_borrow_cap, check_supply_cap
from defibots.protocols.aave_v3.configuration import EModeCategory
from defibots.protocols.aave_v3.errors import AaveV3Revert
from defibots.protocols.aave_v3.math import MAX_UINT256
from defibots.protocols.aave_v3.reserve import ReserveState
from defibots.protocols.aave_v3.token_math import (
    a_token_balance,
    a_token_burn_scaled,
    a_token_mint_scaled,
    debt_balance,
    debt_burn_scaled,
    debt_mint_scaled,
)


@dataclass(frozen=True)
class ActionResult:
    """The reserve after the action and what it did to the user's scaled balance of the token it touches
    (aToken for supply/withdraw, debt token for borrow/repay)."""

    reserve: ReserveState
    amount: int
    """Underlying supplied, withdrawn, borrowed or repaid."""
    scaled_amount: int
    """Scaled tokens minted or burned."""
    scaled_balance: int
    """The user's scaled balance after."""
    a_token_scaled_burned: int = 0
    """Repay with aTokens only: the scaled aTokens burned."""


def _require_usable(reserve: ReserveState, *, frozen_blocks: bool) -> None:
    config = reserve.configuration
    if not config.active:
        raise AaveV3Revert("ReserveInactive")
    if config.paused:
        raise AaveV3Revert("ReservePaused")
    if frozen_blocks and config.frozen:
        raise AaveV3Revert("ReserveFrozen")


def supply(reserve: ReserveState, amount: int, timestamp: int, scaled_balance: int = 0) -> ActionResult:
    """Pool.supply: mints amount / index scaled aTokens, rounded down."""
    r = reserve.accrue(timestamp)
    scaled = a_token_mint_scaled(amount, r.liquidity_index)
    if scaled == 0:
        raise AaveV3Revert("InvalidAmount")
    _require_usable(r, frozen_blocks=True)
    check_supply_cap(r, scaled)
    r = r.update_rates(liquidity_added=amount)
    r = replace(r, scaled_a_token_supply=r.scaled_a_token_supply + scaled)
    return ActionResult(r, amount, scaled, scaled_balance + scaled)


def withdraw(reserve: ReserveState, amount: int, timestamp: int, scaled_balance: int) -> ActionResult:
    """Pool.withdraw: burns amount / index scaled aTokens, rounded up; MAX_UINT256 withdraws everything."""
    r = reserve.accrue(timestamp)
    if amount == MAX_UINT256:
        scaled = scaled_balance
        amount = a_token_balance(scaled_balance, r.liquidity_index)
    else:
        scaled = a_token_burn_scaled(amount, r.liquidity_index)
    if scaled == 0:
        raise AaveV3Revert("InvalidAmount")
    if scaled > scaled_balance:
        raise AaveV3Revert("NotEnoughAvailableUserBalance")
    _require_usable(r, frozen_blocks=False)
    r = r.update_rates(liquidity_taken=amount)
    r = replace(r, scaled_a_token_supply=r.scaled_a_token_supply - scaled)
    return ActionResult(r, amount, scaled, scaled_balance - scaled)


def borrow(
    reserve: ReserveState,
    amount: int,
    timestamp: int,
    scaled_debt: int = 0,
    e_mode: EModeCategory | None = None,
) -> ActionResult:
    """Pool.borrow (variable rate): mints amount / index scaled debt, rounded up.

    Reserve checks only; the caller checks the account (`account.validate_borrow_health`).
    """
    r = reserve.accrue(timestamp)
    scaled = debt_mint_scaled(amount, r.variable_borrow_index)
    if scaled == 0:
        raise AaveV3Revert("InvalidAmount")
    owed = debt_balance(scaled, r.variable_borrow_index)
    _require_usable(r, frozen_blocks=True)
    if e_mode is not None and e_mode.id != 0:
        if not e_mode.is_borrowable(r.id):
            raise AaveV3Revert("NotBorrowableInEMode")
    elif not r.configuration.borrowing_enabled:
        raise AaveV3Revert("BorrowingNotEnabled")
    if a_token_balance(r.scaled_a_token_supply, r.liquidity_index) < owed:
        raise AaveV3Revert("InvalidAmount")
    check_borrow_cap(r, scaled)
    r = replace(r, scaled_variable_debt=r.scaled_variable_debt + scaled)
    r = r.update_rates(liquidity_taken=amount)
    return ActionResult(r, amount, scaled, scaled_debt + scaled)


def repay(
    reserve: ReserveState,
    amount: int,
    timestamp: int,
    scaled_debt: int,
    *,
    use_a_tokens: bool = False,
    scaled_a_token_balance: int = 0,
) -> ActionResult:
    """Pool.repay / repayWithATokens: repays min(amount, debt), burning repaid / index scaled debt
    rounded down. MAX_UINT256 repays the whole debt (with aTokens: at most the aToken balance)."""
    r = reserve.accrue(timestamp)
    debt = debt_balance(scaled_debt, r.variable_borrow_index)
    if amount == 0:
        raise AaveV3Revert("InvalidAmount")
    _require_usable(r, frozen_blocks=False)
    if scaled_debt == 0:
        raise AaveV3Revert("NoDebtOfSelectedType")
    payback = amount
    if use_a_tokens and amount == MAX_UINT256:
        payback = a_token_balance(scaled_a_token_balance, r.liquidity_index)
    payback = min(payback, debt)
    scaled = debt_burn_scaled(payback, r.variable_borrow_index)
    if scaled == 0:
        raise AaveV3Revert("InvalidBurnAmount")
    r = replace(r, scaled_variable_debt=r.scaled_variable_debt - scaled)
    r = r.update_rates(liquidity_added=0 if use_a_tokens else payback)
    a_burned = 0
    if use_a_tokens:
        a_burned = a_token_burn_scaled(payback, r.liquidity_index)
        if a_burned == 0:
            raise AaveV3Revert("InvalidBurnAmount")
        if a_burned > scaled_a_token_balance:
            raise AaveV3Revert("Panic(0x11)", "aToken burn exceeds the balance")
        r = replace(r, scaled_a_token_supply=r.scaled_a_token_supply - a_burned)
    return ActionResult(r, payback, scaled, scaled_debt - scaled, a_burned)
