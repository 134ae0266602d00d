"""liquidationCall of Aave v3.6: close factor, dust rule, bonus and protocol fee, and bad debt.

`liquidation_call` returns what the real call transfers (debt repaid by the liquidator, collateral to
the liquidator, the protocol fee to the treasury, deficits booked) and the reserves and borrower
positions after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from defibots.protocols.aave_v3.account import (
    HEALTH_FACTOR_LIQUIDATION_THRESHOLD,
    UserReserve,
    isolated_debt_units,
    user_account_data,
)
from defibots.protocols.aave_v3.configuration import EModeCategory
from defibots.protocols.aave_v3.errors import AaveV3Revert
from defibots.protocols.aave_v3.math import (
    checked,
    div,
    mul_div_ceil,
    percent_div,
    percent_div_ceil,
    percent_mul,
)
from defibots.protocols.aave_v3.reserve import ReserveState, accrue_state, add_uint128, to_uint128
from defibots.protocols.aave_v3.token_math import (
    a_token_balance,
    a_token_burn_scaled,
    a_token_transfer_scaled,
    debt_balance,
    debt_burn_scaled,
)

DEFAULT_LIQUIDATION_CLOSE_FACTOR = 5_000
CLOSE_FACTOR_HF_THRESHOLD = 95 * 10**16
MIN_BASE_MAX_CLOSE_FACTOR_THRESHOLD = 2_000 * 10**8
"""$2,000 in the USD base currency (8 decimals): smaller positions can be closed in full."""
MIN_LEFTOVER_BASE = MIN_BASE_MAX_CLOSE_FACTOR_THRESHOLD // 2


@dataclass(frozen=True)
class CollateralToLiquidate:
    """_calculateAvailableCollateralToLiquidate's four results."""

    collateral_amount: int
    """Collateral to the liquidator (the protocol fee already taken out)."""
    debt_amount_needed: int
    protocol_fee: int
    collateral_in_base: int
    """Collateral leaving the borrower (liquidator's part plus fee), in base, rounded down."""


def calculate_available_collateral_to_liquidate(
    *,
    collateral_price: int,
    collateral_unit: int,
    debt_price: int,
    debt_unit: int,
    debt_to_cover: int,
    collateral_balance: int,
    liquidation_bonus: int,
    liquidation_protocol_fee: int,
) -> CollateralToLiquidate:
    """Collateral worth `debt_to_cover` plus the bonus; when the borrower has less, all of it and the debt
    that buys it (rounded up). The protocol fee is its share of the bonus part."""
    base_collateral = div(
        checked(checked(debt_price * debt_to_cover) * collateral_unit), checked(collateral_price * debt_unit)
    )
    max_collateral = percent_mul(base_collateral, liquidation_bonus)
    if max_collateral > collateral_balance:
        collateral_amount = collateral_balance
        debt_value = div(
            checked(checked(collateral_price * collateral_amount) * debt_unit),
            checked(debt_price * collateral_unit),
        )
        debt_needed = percent_div_ceil(debt_value, liquidation_bonus)
    else:
        collateral_amount = max_collateral
        debt_needed = debt_to_cover
    in_base = div(checked(collateral_amount * collateral_price), collateral_unit)
    fee = 0
    if liquidation_protocol_fee != 0:
        bonus_collateral = checked(collateral_amount - percent_div(collateral_amount, liquidation_bonus))
        fee = percent_mul(bonus_collateral, liquidation_protocol_fee)
        collateral_amount = checked(collateral_amount - fee)
    return CollateralToLiquidate(collateral_amount, debt_needed, fee, in_base)


def max_liquidatable_debt(
    *,
    reserve_debt: int,
    reserve_debt_in_base: int,
    reserve_collateral_in_base: int,
    total_debt_in_base: int,
    health_factor: int,
    debt_price: int,
    debt_unit: int,
) -> int:
    """The close factor: all of the reserve's debt, unless both positions are at least $2,000 and
    HF > 0.95, when the debt repaid may not exceed 50% of the account's total debt."""
    if (
        reserve_collateral_in_base >= MIN_BASE_MAX_CLOSE_FACTOR_THRESHOLD
        and reserve_debt_in_base >= MIN_BASE_MAX_CLOSE_FACTOR_THRESHOLD
        and health_factor > CLOSE_FACTOR_HF_THRESHOLD
    ):
        half_in_base = percent_mul(total_debt_in_base, DEFAULT_LIQUIDATION_CLOSE_FACTOR)
        if reserve_debt_in_base > half_in_base:
            return div(checked(half_in_base * debt_unit), debt_price)
    return reserve_debt


@dataclass(frozen=True)
class LiquidationResult:
    debt_repaid: int
    """Debt asset the liquidator pays in."""
    collateral_to_liquidator: int
    """Collateral underlying (or aTokens with receive_a_token) the liquidator gets."""
    collateral_scaled_to_liquidator: int
    """Scaled aTokens burned from the borrower for it (or moved to the liquidator)."""
    protocol_fee: int
    """aTokens of the collateral moved to the treasury."""
    protocol_fee_scaled: int
    deficits: dict[str, int]
    """Bad debt booked to each reserve's deficit (asset -> amount), empty when none."""
    reserves: dict[str, ReserveState]
    """The reserves of all the given positions, after the call."""
    borrower: tuple[UserReserve, ...]
    """The borrower's positions after the call (same order as given)."""


def _burn_debt(
    reserve: ReserveState, position: UserReserve, reserve_debt: int, repaid: int, no_collateral_left: bool
) -> tuple[ReserveState, UserReserve, int]:
    """_burnDebtTokens: burn the repaid debt (all of it when no collateral is left) and book the rest as
    deficit. Returns the reserve after its rate refresh, the position, and the deficit created."""
    scaled = position.scaled_variable_debt
    if reserve_debt != 0:
        burned = debt_burn_scaled(
            reserve_debt if no_collateral_left else repaid, reserve.variable_borrow_index
        )
        if burned == 0:
            raise AaveV3Revert("InvalidBurnAmount")
        scaled -= burned
        reserve = replace(reserve, scaled_variable_debt=reserve.scaled_variable_debt - burned)
    deficit = reserve_debt - repaid if no_collateral_left else 0
    if deficit:
        reserve = replace(reserve, deficit=add_uint128(reserve.deficit, to_uint128(deficit)))
    reserve = reserve.update_rates(liquidity_added=repaid)
    borrowing = position.borrowing and scaled != 0
    return reserve, replace(position, scaled_variable_debt=scaled, borrowing=borrowing), deficit


def liquidation_call(
    positions: Sequence[UserReserve],
    collateral_asset: str,
    debt_asset: str,
    debt_to_cover: int,
    timestamp: int,
    *,
    e_mode: EModeCategory | None = None,
    receive_a_token: bool = False,
) -> LiquidationResult:
    """Pool.liquidationCall(collateral, debt, borrower, debtToCover, receiveAToken) at `timestamp`.

    `positions` are the borrower's positions in every reserve it uses, each with the reserve's stored
    state and the oracle price. Pass MAX_UINT256 as `debt_to_cover` for "as much as allowed". Not
    modelled: the price-oracle sentinel (none on Ethereum) and the self-liquidation check.
    """
    by_asset = {p.reserve.asset: i for i, p in enumerate(positions)}
    if collateral_asset not in by_asset or debt_asset not in by_asset:
        raise ValueError("the borrower's positions must include the collateral and the debt reserve")
    borrower = list(positions)
    coll_i, debt_i = by_asset[collateral_asset], by_asset[debt_asset]

    # Both reserves accrue first (the same asset books its treasury share twice, as the Pool does).
    same = coll_i == debt_i
    reserves = {p.reserve.asset: p.reserve for p in borrower}
    reserves[debt_asset] = accrue_state(reserves[debt_asset], timestamp, treasury_bookings=2 if same else 1)
    reserves[collateral_asset] = accrue_state(reserves[collateral_asset], timestamp, treasury_bookings=1)
    borrower = [replace(p, reserve=reserves[p.reserve.asset]) for p in borrower]
    account = user_account_data(borrower, timestamp, e_mode)

    coll_pos, debt_pos = borrower[coll_i], borrower[debt_i]
    coll_reserve, debt_reserve = coll_pos.reserve, debt_pos.reserve
    coll_index = coll_reserve.liquidity_index
    collateral_balance = a_token_balance(coll_pos.scaled_a_token_balance, coll_index)
    reserve_debt = debt_balance(debt_pos.scaled_variable_debt, debt_reserve.variable_borrow_index)
    _validate(coll_reserve, debt_reserve, coll_pos, account.health_factor, reserve_debt, timestamp)

    bonus = (
        e_mode.liquidation_bonus
        if e_mode is not None and e_mode.is_collateral(coll_reserve.id)
        else coll_reserve.configuration.liquidation_bonus
    )
    coll_price, debt_price = coll_pos.price, debt_pos.price
    coll_unit, debt_unit = coll_reserve.configuration.unit, debt_reserve.configuration.unit
    reserve_debt_in_base = mul_div_ceil(reserve_debt, debt_price, debt_unit)
    reserve_collateral_in_base = div(checked(collateral_balance * coll_price), coll_unit)
    max_debt = max_liquidatable_debt(
        reserve_debt=reserve_debt,
        reserve_debt_in_base=reserve_debt_in_base,
        reserve_collateral_in_base=reserve_collateral_in_base,
        total_debt_in_base=account.total_debt_base,
        health_factor=account.health_factor,
        debt_price=debt_price,
        debt_unit=debt_unit,
    )
    amounts = calculate_available_collateral_to_liquidate(
        collateral_price=coll_price,
        collateral_unit=coll_unit,
        debt_price=debt_price,
        debt_unit=debt_unit,
        debt_to_cover=min(debt_to_cover, max_debt),
        collateral_balance=collateral_balance,
        liquidation_bonus=bonus,
        liquidation_protocol_fee=coll_reserve.configuration.liquidation_protocol_fee,
    )
    repaid, seized, fee = amounts.debt_amount_needed, amounts.collateral_amount, amounts.protocol_fee
    _check_dust(repaid, reserve_debt, seized + fee, collateral_balance, debt_pos, coll_pos)

    # Debt side: burn, deficit, rates.
    if seized + fee == collateral_balance:
        borrower[coll_i] = replace(borrower[coll_i], using_as_collateral=False)
    no_collateral_left = account.total_collateral_base == amounts.collateral_in_base
    deficits: dict[str, int] = {}
    reserve, borrower[debt_i], deficit = _burn_debt(
        reserves[debt_asset], borrower[debt_i], reserve_debt, repaid, no_collateral_left
    )
    reserves[debt_asset] = reserve
    if deficit:
        deficits[debt_asset] = deficit
    if coll_reserve.configuration.debt_ceiling != 0:
        units = isolated_debt_units(repaid, debt_reserve.configuration.decimals)
        r = reserves[collateral_asset]
        reserves[collateral_asset] = replace(
            r, isolation_mode_total_debt=max(r.isolation_mode_total_debt - to_uint128(units), 0)
        )

    # Collateral side: the liquidator's part, then the protocol fee (capped at what is left).
    coll_scaled = borrower[coll_i].scaled_a_token_balance
    if receive_a_token:
        moved = a_token_transfer_scaled(seized, coll_index)
    else:
        reserve = reserves[collateral_asset].update_rates(liquidity_taken=seized)
        moved = a_token_burn_scaled(seized, coll_index)
        if moved == 0:
            raise AaveV3Revert("InvalidBurnAmount")
        reserves[collateral_asset] = replace(
            reserve, scaled_a_token_supply=reserve.scaled_a_token_supply - moved
        )
    coll_scaled -= moved
    fee_scaled = 0
    if fee != 0:
        fee_scaled = a_token_transfer_scaled(fee, coll_index)
        if fee_scaled > coll_scaled:
            fee_scaled = coll_scaled
            fee = a_token_balance(coll_scaled, coll_index)
        coll_scaled -= fee_scaled
    borrower[coll_i] = replace(borrower[coll_i], scaled_a_token_balance=coll_scaled)

    # Bad debt: with no collateral left, every other debt of the borrower becomes deficit.
    if no_collateral_left:
        for i in sorted(range(len(borrower)), key=lambda k: borrower[k].reserve.id):
            p = borrower[i]
            r = reserves[p.reserve.asset]
            if not p.borrowing or not r.configuration.active:
                continue
            r = r.accrue(timestamp)
            debt = debt_balance(p.scaled_variable_debt, r.variable_borrow_index)
            r, borrower[i], deficit = _burn_debt(r, p, debt, 0, True)
            reserves[p.reserve.asset] = r
            if deficit:
                deficits[p.reserve.asset] = deficits.get(p.reserve.asset, 0) + deficit

    final = tuple(replace(p, reserve=reserves[p.reserve.asset]) for p in borrower)
    return LiquidationResult(repaid, seized, moved, fee, fee_scaled, deficits, reserves, final)


def _validate(
    coll: ReserveState,
    debt: ReserveState,
    coll_pos: UserReserve,
    health_factor: int,
    reserve_debt: int,
    timestamp: int,
) -> None:
    """ValidationLogic.validateLiquidationCall (sentinel and self-liquidation left out)."""
    if not (coll.configuration.active and debt.configuration.active):
        raise AaveV3Revert("ReserveInactive")
    if coll.configuration.paused or debt.configuration.paused:
        raise AaveV3Revert("ReservePaused")
    if not (
        coll.liquidation_grace_period_until < timestamp and debt.liquidation_grace_period_until < timestamp
    ):
        raise AaveV3Revert("LiquidationGraceSentinelCheckFailed")
    if health_factor >= HEALTH_FACTOR_LIQUIDATION_THRESHOLD:
        raise AaveV3Revert("HealthFactorNotBelowThreshold")
    if not coll_pos.using_as_collateral:
        raise AaveV3Revert("CollateralCannotBeLiquidated")
    if reserve_debt == 0:
        raise AaveV3Revert("SpecifiedCurrencyNotBorrowedByUser")


def _check_dust(
    repaid: int,
    reserve_debt: int,
    collateral_out: int,
    collateral_balance: int,
    debt_pos: UserReserve,
    coll_pos: UserReserve,
) -> None:
    """Either all the debt, or all the collateral, or at least MIN_LEFTOVER_BASE of both must remain."""
    if repaid < reserve_debt and collateral_out < collateral_balance:
        debt_left = mul_div_ceil(reserve_debt - repaid, debt_pos.price, debt_pos.reserve.configuration.unit)
        coll_left = (
            (collateral_balance - collateral_out) * coll_pos.price // coll_pos.reserve.configuration.unit
        )
        if not (debt_left >= MIN_LEFTOVER_BASE and coll_left >= MIN_LEFTOVER_BASE):
            raise AaveV3Revert("MustNotLeaveDust")
