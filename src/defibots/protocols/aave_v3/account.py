"""A user's account across reserves, as GenericLogic.calculateUserAccountData values it (v3.6).

Collateral in base currency rounds down, debt rounds up; e-mode overrides LTV and liquidation
threshold for the assets in the category's collateral bitmap; zero-LTV collateral still counts for the
health factor but not for borrowing power.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from defibots.protocols.aave_v3.configuration import DEBT_CEILING_DECIMALS, EModeCategory
from defibots.protocols.aave_v3.errors import AaveV3Revert
from defibots.protocols.aave_v3.math import (
    MAX_UINT256,
    WAD,
    checked,
    mul_div_ceil,
    percent_div_ceil,
    percent_mul_floor,
    wad_div,
)
from defibots.protocols.aave_v3.reserve import ReserveState
from defibots.protocols.aave_v3.token_math import a_token_balance, debt_balance

HEALTH_FACTOR_LIQUIDATION_THRESHOLD = WAD


@dataclass(frozen=True)
class UserReserve:
    """The user's position in one reserve: scaled balances, the two user-configuration flags, and the
    oracle price of one whole token in base currency (AaveOracle.getAssetPrice)."""

    reserve: ReserveState
    price: int
    scaled_a_token_balance: int = 0
    scaled_variable_debt: int = 0
    using_as_collateral: bool = False
    borrowing: bool = False

    def a_token_balance(self, timestamp: int) -> int:
        return a_token_balance(self.scaled_a_token_balance, self.reserve.normalized_income(timestamp))

    def debt(self, timestamp: int) -> int:
        return debt_balance(self.scaled_variable_debt, self.reserve.normalized_debt(timestamp))

    def collateral_in_base(self, timestamp: int) -> int:
        """Rounded down."""
        return checked(self.a_token_balance(timestamp) * self.price) // self.reserve.configuration.unit

    def debt_in_base(self, timestamp: int) -> int:
        """Rounded up."""
        return mul_div_ceil(self.debt(timestamp), self.price, self.reserve.configuration.unit)


@dataclass(frozen=True)
class AccountData:
    """Pool.getUserAccountData, plus the zero-LTV-collateral flag GenericLogic also returns."""

    total_collateral_base: int
    total_debt_base: int
    available_borrows_base: int
    current_liquidation_threshold: int
    ltv: int
    health_factor: int
    has_zero_ltv_collateral: bool = False

    def as_tuple(self) -> tuple[int, int, int, int, int, int]:
        """In getUserAccountData's order."""
        return (
            self.total_collateral_base,
            self.total_debt_base,
            self.available_borrows_base,
            self.current_liquidation_threshold,
            self.ltv,
            self.health_factor,
        )

    @property
    def liquidatable(self) -> bool:
        return self.health_factor < HEALTH_FACTOR_LIQUIDATION_THRESHOLD


def user_reserve_ltv(reserve: ReserveState, e_mode: EModeCategory | None) -> int:
    """ValidationLogic.getUserReserveLtv: the category's LTV (or 0 if ltv-zero there) for its collateral."""
    if e_mode is not None and e_mode.is_collateral(reserve.id):
        return 0 if e_mode.is_ltv_zero(reserve.id) else e_mode.ltv
    return reserve.configuration.ltv


def user_reserve_liquidation_threshold(reserve: ReserveState, e_mode: EModeCategory | None) -> int:
    if e_mode is not None and e_mode.is_collateral(reserve.id):
        return e_mode.liquidation_threshold
    return reserve.configuration.liquidation_threshold


def calculate_available_borrows(total_collateral_base: int, total_debt_base: int, ltv: int) -> int:
    """GenericLogic.calculateAvailableBorrows: collateral * ltv (rounded down) minus debt, floored at 0."""
    available = percent_mul_floor(total_collateral_base, ltv)
    return available - total_debt_base if available > total_debt_base else 0


def user_account_data(
    positions: Sequence[UserReserve], timestamp: int, e_mode: EModeCategory | None = None
) -> AccountData:
    """getUserAccountData at `timestamp` (the block's time: balances accrue to it)."""
    active = [p for p in positions if p.using_as_collateral or p.borrowing]
    if not active:
        return AccountData(0, 0, 0, 0, 0, MAX_UINT256)
    collateral = debt = weighted_ltv = weighted_threshold = 0
    has_zero_ltv = False
    for p in active:
        if p.using_as_collateral:
            value = p.collateral_in_base(timestamp)
            collateral = checked(collateral + value)
            ltv = user_reserve_ltv(p.reserve, e_mode)
            if ltv == 0:
                has_zero_ltv = True
            else:
                weighted_ltv = checked(weighted_ltv + checked(value * ltv))
            threshold = user_reserve_liquidation_threshold(p.reserve, e_mode)
            weighted_threshold = checked(weighted_threshold + checked(value * threshold))
        if p.borrowing:
            debt = checked(debt + p.debt_in_base(timestamp))
    health_factor = MAX_UINT256 if debt == 0 else wad_div(weighted_threshold, debt) // 10_000
    avg_ltv = weighted_ltv // collateral if collateral else 0
    avg_threshold = weighted_threshold // collateral if collateral else 0
    available = calculate_available_borrows(collateral, debt, avg_ltv)
    return AccountData(collateral, debt, available, avg_threshold, avg_ltv, health_factor, has_zero_ltv)


def validate_borrow_health(account: AccountData) -> None:
    """ValidationLogic.validateHFAndLtv, run on the account *after* the borrow."""
    if account.ltv == 0:
        raise AaveV3Revert("LtvValidationFailed")
    if account.health_factor < HEALTH_FACTOR_LIQUIDATION_THRESHOLD:
        raise AaveV3Revert("HealthFactorLowerThanLiquidationThreshold")
    if account.total_collateral_base < percent_div_ceil(account.total_debt_base, account.ltv):
        raise AaveV3Revert("CollateralCannotCoverNewBorrow")


@dataclass(frozen=True)
class IsolationMode:
    """The user's isolation state: active when its only collateral has a debt ceiling."""

    active: bool
    collateral_asset: str | None = None
    debt_ceiling: int = 0


def isolation_mode(positions: Sequence[UserReserve]) -> IsolationMode:
    """UserConfiguration.getIsolationModeState."""
    collaterals = [p for p in positions if p.using_as_collateral]
    if len(collaterals) == 1:
        (only,) = collaterals
        ceiling = only.reserve.configuration.debt_ceiling
        if ceiling != 0:
            return IsolationMode(True, only.reserve.asset, ceiling)
    return IsolationMode(False)


def isolated_debt_units(amount: int, debt_decimals: int) -> int:
    """An amount of the borrowed asset in isolation-debt units (0.01 of a whole token, rounded down)."""
    unit: int = 10 ** (debt_decimals - DEBT_CEILING_DECIMALS)
    return amount // unit


def isolated_debt_after_borrow(
    positions: Sequence[UserReserve], borrowed: ReserveState, amount: int
) -> int | None:
    """IsolationModeLogic.increaseIsolatedDebtIfIsolated: the isolated collateral's new total debt after
    borrowing `amount` of `borrowed`, or None when the user is not in isolation mode."""
    state = isolation_mode(positions)
    if not state.active:
        return None
    if not borrowed.configuration.borrowable_in_isolation:
        raise AaveV3Revert("AssetNotBorrowableInIsolation")
    (collateral,) = [p.reserve for p in positions if p.reserve.asset == state.collateral_asset]
    total = collateral.isolation_mode_total_debt + isolated_debt_units(
        amount, borrowed.configuration.decimals
    )
    if total > (1 << 128) - 1:
        raise AaveV3Revert("Panic(0x11)", "uint128 overflow")
    if total > state.debt_ceiling:
        raise AaveV3Revert("DebtCeilingExceeded")
    return total
