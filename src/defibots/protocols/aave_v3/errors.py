"""The one exception the Aave v3.6 models raise where the contracts revert."""

from __future__ import annotations

from defibots.protocols import ContractRevert

PANIC_OVERFLOW = "Panic(0x11)"
"""Solidity 0.8 checked arithmetic: an overflow or underflow outside an `unchecked` block."""
PANIC_DIVISION_BY_ZERO = "Panic(0x12)"
"""Solidity 0.8 `/` or `%` by zero."""
SAFE_CAST_OVERFLOW = "SafeCastOverflowedUintDowncast"
"""OpenZeppelin SafeCast (`toUint128`, `toUint120`) on a value that does not fit."""


class AaveV3Revert(ContractRevert):
    """An Aave v3.6 library or Pool call would revert with `reason`.

    Reasons: '' for the assembly math's bare `revert(0, 0)`; `PANIC_OVERFLOW` for checked arithmetic;
    `SAFE_CAST_OVERFLOW`; otherwise the name of the v3.6 custom error (`Errors.sol`), e.g.
    'MustNotLeaveDust', 'HealthFactorNotBelowThreshold', 'SupplyCapExceeded'.
    """
