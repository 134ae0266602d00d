"""Aave v3.6: the Pool's math, reserve accrual, account valuation and liquidation, exact to the wei.

Pure integer models of npm @aave-dao/aave-v3-origin@3.6.0 (PoolInstance revision 10): every rounding
direction and revert follows the Solidity, so a bot can size a liquidation or a borrow off-chain.
"""

from defibots.protocols.aave_v3.account import (
    AccountData,
    IsolationMode,
    UserReserve,
    calculate_available_borrows,
    isolated_debt_after_borrow,
    isolated_debt_units,
    isolation_mode,
    user_account_data,
    user_reserve_liquidation_threshold,
    user_reserve_ltv,
    validate_borrow_health,
)
from defibots.protocols.aave_v3.caps import (
    borrow_cap_exceeded,
    check_borrow_cap,
    check_supply_cap,
    supply_cap_exceeded,
)
from defibots.protocols.aave_v3.configuration import EModeCategory, ReserveConfiguration
from defibots.protocols.aave_v3.errors import AaveV3Revert
from defibots.protocols.aave_v3.flash_loan import (
    FLASHLOAN_PREMIUM_TO_PROTOCOL,
    FlashLoanResult,
    flash_loan_premium,
    flash_loan_simple,
)
from defibots.protocols.aave_v3.interest import (
    SECONDS_PER_YEAR,
    InterestRateData,
    calculate_compounded_interest,
    calculate_interest_rates,
    calculate_linear_interest,
)
from defibots.protocols.aave_v3.lending import ActionResult, borrow, repay, supply, withdraw
from defibots.protocols.aave_v3.liquidation import (
    CLOSE_FACTOR_HF_THRESHOLD,
    DEFAULT_LIQUIDATION_CLOSE_FACTOR,
    MIN_BASE_MAX_CLOSE_FACTOR_THRESHOLD,
    MIN_LEFTOVER_BASE,
    CollateralToLiquidate,
    LiquidationResult,
    calculate_available_collateral_to_liquidate,
    liquidation_call,
    max_liquidatable_debt,
)
from defibots.protocols.aave_v3.math import PERCENTAGE_FACTOR, RAY, WAD
from defibots.protocols.aave_v3.reserve import ReserveState

__all__ = [
    "CLOSE_FACTOR_HF_THRESHOLD",
    "DEFAULT_LIQUIDATION_CLOSE_FACTOR",
    "FLASHLOAN_PREMIUM_TO_PROTOCOL",
    "MIN_BASE_MAX_CLOSE_FACTOR_THRESHOLD",
    "MIN_LEFTOVER_BASE",
    "PERCENTAGE_FACTOR",
    "RAY",
    "SECONDS_PER_YEAR",
    "WAD",
    "AaveV3Revert",
    "AccountData",
    "ActionResult",
    "CollateralToLiquidate",
    "EModeCategory",
    "FlashLoanResult",
    "InterestRateData",
    "IsolationMode",
    "LiquidationResult",
    "ReserveConfiguration",
    "ReserveState",
    "UserReserve",
    "borrow",
    "borrow_cap_exceeded",
    "calculate_available_borrows",
    "calculate_available_collateral_to_liquidate",
    "calculate_compounded_interest",
    "calculate_interest_rates",
    "calculate_linear_interest",
    "check_borrow_cap",
    "check_supply_cap",
    "flash_loan_premium",
    "flash_loan_simple",
    "isolated_debt_after_borrow",
    "isolated_debt_units",
    "isolation_mode",
    "liquidation_call",
    "max_liquidatable_debt",
    "repay",
    "supply",
    "supply_cap_exceeded",
    "user_account_data",
    "user_reserve_liquidation_threshold",
    "user_reserve_ltv",
    "validate_borrow_health",
    "withdraw",
]
