"""Supply and borrow caps as ValidationLogic checks them (caps are whole tokens; 0 = no cap)."""

from __future__ import annotations

from defibots.protocols.aave_v3.errors import AaveV3Revert
from defibots.protocols.aave_v3.reserve import ReserveState
from defibots.protocols.aave_v3.token_math import a_token_balance, debt_balance


def supply_cap_exceeded(reserve: ReserveState, scaled_amount: int) -> bool:
    """True when minting `scaled_amount` more aTokens (on an accrued reserve) breaks the supply cap.

    The treasury's unminted accruals count against the cap, as in `validateSupply`.
    """
    cap = reserve.configuration.supply_cap
    if cap == 0:
        return False
    scaled_total = reserve.scaled_a_token_supply + scaled_amount + reserve.accrued_to_treasury
    return a_token_balance(scaled_total, reserve.liquidity_index) > cap * reserve.configuration.unit


def borrow_cap_exceeded(reserve: ReserveState, scaled_amount: int) -> bool:
    """True when minting `scaled_amount` more debt (on an accrued reserve) breaks the borrow cap."""
    cap = reserve.configuration.borrow_cap
    if cap == 0:
        return False
    total = debt_balance(reserve.scaled_variable_debt + scaled_amount, reserve.variable_borrow_index)
    return total > cap * reserve.configuration.unit


def check_supply_cap(reserve: ReserveState, scaled_amount: int) -> None:
    if supply_cap_exceeded(reserve, scaled_amount):
        raise AaveV3Revert("SupplyCapExceeded")


def check_borrow_cap(reserve: ReserveState, scaled_amount: int) -> None:
    if borrow_cap_exceeded(reserve, scaled_amount):
        raise AaveV3Revert("BorrowCapExceeded")
