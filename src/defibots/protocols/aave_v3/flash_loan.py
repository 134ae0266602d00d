"""Flash-loan premium and its effect on the reserve (FlashLoanLogic, v3.6).

Since v3.4 the whole premium goes to the protocol: FLASHLOAN_PREMIUM_TO_PROTOCOL is a constant 100%,
booked to the treasury's scaled accruals, and the premium is rounded up.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from defibots.protocols.aave_v3.errors import AaveV3Revert
from defibots.protocols.aave_v3.math import PERCENTAGE_FACTOR, percent_mul_ceil
from defibots.protocols.aave_v3.reserve import ReserveState, add_uint128, sub_uint128, to_uint128
from defibots.protocols.aave_v3.token_math import a_token_mint_scaled

FLASHLOAN_PREMIUM_TO_PROTOCOL = PERCENTAGE_FACTOR


def flash_loan_premium(amount: int, premium_total: int, *, authorized_flash_borrower: bool = False) -> int:
    """amount * FLASHLOAN_PREMIUM_TOTAL (bps), rounded up. `flashLoan` (not `flashLoanSimple`) waives it
    for ACL flash borrowers."""
    return 0 if authorized_flash_borrower else percent_mul_ceil(amount, premium_total)


@dataclass(frozen=True)
class FlashLoanResult:
    premium: int
    """What the receiver pays on top of the amount."""
    premium_to_protocol: int
    reserve: ReserveState


def flash_loan_simple(
    reserve: ReserveState, amount: int, premium_total: int, timestamp: int
) -> FlashLoanResult:
    """Pool.flashLoanSimple repaid in full: the reserve ends with the premium as extra virtual balance,
    the premium's scaled value (rounded down) in the treasury accruals, and refreshed rates."""
    config = reserve.configuration
    if config.paused:
        raise AaveV3Revert("ReservePaused")
    if not config.active:
        raise AaveV3Revert("ReserveInactive")
    if not config.flash_loan_enabled:
        raise AaveV3Revert("FlashloanDisabled")
    if reserve.total_a_token_supply(timestamp) < amount:
        raise AaveV3Revert("InvalidAmount")
    premium = flash_loan_premium(amount, premium_total)
    lent = replace(
        reserve,
        virtual_underlying_balance=sub_uint128(reserve.virtual_underlying_balance, to_uint128(amount)),
    )
    r = lent.accrue(timestamp)
    accrued = add_uint128(r.accrued_to_treasury, to_uint128(a_token_mint_scaled(premium, r.liquidity_index)))
    r = replace(r, accrued_to_treasury=accrued).update_rates(liquidity_added=amount + premium)
    return FlashLoanResult(premium, premium, r)
