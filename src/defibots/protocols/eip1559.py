"""EIP-1559's base fee rule: the base fee of the block after one with a given base fee, gas used and limit."""

from __future__ import annotations

ELASTICITY = 2
BASE_FEE_CHANGE_DENOMINATOR = 8


def next_base_fee(base_fee: int, gas_used: int, gas_limit: int) -> int:
    """EIP-1559 base fee of the block after one with these fields (unchanged when gas_limit is 0)."""
    target = gas_limit // ELASTICITY
    if target == 0 or gas_used == target:
        return base_fee
    if gas_used > target:
        return base_fee + max(1, base_fee * (gas_used - target) // target // BASE_FEE_CHANGE_DENOMINATOR)
    return base_fee - base_fee * (target - gas_used) // target // BASE_FEE_CHANGE_DENOMINATOR
