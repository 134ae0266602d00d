"""TokenMath (v3.5+): scaled amounts and balances of aTokens and variable debt tokens.

Every rounding favours the protocol, as in ERC-4626: a supplier gets at most what it paid in and a
borrower owes at least what it took out.
"""

from __future__ import annotations

from defibots.protocols.aave_v3.math import ray_div_ceil, ray_div_floor, ray_mul_ceil, ray_mul_floor


def a_token_mint_scaled(amount: int, liquidity_index: int) -> int:
    """Scaled aTokens minted for a supply of `amount`: rounded down."""
    return ray_div_floor(amount, liquidity_index)


def a_token_burn_scaled(amount: int, liquidity_index: int) -> int:
    """Scaled aTokens burned for a withdrawal of `amount`: rounded up."""
    return ray_div_ceil(amount, liquidity_index)


def a_token_transfer_scaled(amount: int, liquidity_index: int) -> int:
    """Scaled aTokens moved by a transfer of `amount` (incl. liquidation transfers): rounded up."""
    return ray_div_ceil(amount, liquidity_index)


def a_token_balance(scaled: int, liquidity_index: int) -> int:
    """The aToken balance of a scaled balance: rounded down."""
    return ray_mul_floor(scaled, liquidity_index)


def debt_mint_scaled(amount: int, variable_borrow_index: int) -> int:
    """Scaled debt minted for a borrow of `amount`: rounded up."""
    return ray_div_ceil(amount, variable_borrow_index)


def debt_burn_scaled(amount: int, variable_borrow_index: int) -> int:
    """Scaled debt burned for a repayment of `amount`: rounded down."""
    return ray_div_floor(amount, variable_borrow_index)


def debt_balance(scaled: int, variable_borrow_index: int) -> int:
    """The debt of a scaled debt balance: rounded up."""
    return ray_mul_ceil(scaled, variable_borrow_index)
