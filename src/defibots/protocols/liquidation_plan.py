"""Which liquidation of one Aave v3 borrower pays most, and exactly what it pays.

For every (collateral, debt) pair the borrower holds, the Aave model says what `liquidationCall` with "as
much as allowed" repays and seizes (close factor, dust rule, bonus, protocol fee and collateral shortfall
included); the seized collateral is priced back into the debt asset through the exact Uniswap model of
each pool pairing the two; the flash loan that funds the repayment costs its premium; gas and the
builder's share come off last. All in integers of the debt asset, so the executor can guard on the same
numbers the chain will produce. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from defibots.protocols.aave_v3 import AaveV3Revert, EModeCategory, UserReserve, flash_loan_premium
from defibots.protocols.aave_v3.liquidation import liquidation_call
from defibots.protocols.uniswap_quote import quote
from defibots.protocols.uniswap_router import PoolModel
from defibots.protocols.uniswap_v3 import UniswapV3Pool

MAX_UINT256 = 2**256 - 1
BPS = 10_000


@dataclass(frozen=True)
class LiquidationCosts:
    """What a liquidation costs besides the debt it repays."""

    flash_premium_bps: int
    """Aave's FLASHLOAN_PREMIUM_TOTAL (flashLoanSimple charges it, rounded up)."""
    gas: int
    gas_price: int
    """Wei per gas the transaction pays (base fee + tip)."""
    weth_price: int
    """Aave oracle price of WETH (8-decimal USD): gas is converted into the debt asset at the oracle."""
    builder_share_bps: int = 0
    """Of the gross profit, paid to the builder (a bundle's bid)."""


@dataclass(frozen=True)
class LiquidationPlan:
    user: str
    collateral: str
    debt: str
    debt_to_cover: int
    """What liquidationCall repays (the flash loan's amount)."""
    collateral_seized: int
    """Collateral the liquidator receives (the protocol fee already taken out)."""
    protocol_fee: int
    pool: str | None
    """The pool the collateral is sold in; None when collateral and debt are one asset."""
    swap_fee: int
    """V3 fee tier of that pool; 0 for a V2 pair."""
    swap_out: int
    flash_premium: int
    gross_profit: int
    """swap_out - debt_to_cover - flash_premium, in debt-asset units."""
    gas_cost: int
    """In debt-asset units, rounded up."""
    builder_payment: int
    debt_price: int
    """Oracle price of the debt asset (8-decimal USD), to rank plans in different debt assets."""
    debt_unit: int

    @property
    def net_profit(self) -> int:
        return self.gross_profit - self.gas_cost - self.builder_payment

    @property
    def net_profit_base(self) -> int:
        """Net profit in the oracle's base currency (8-decimal USD), rounded down."""
        return self.net_profit * self.debt_price // self.debt_unit


def gas_in(debt: UserReserve, costs: LiquidationCosts) -> int:
    """The gas cost in the debt asset's units at the oracle's prices, rounded up (costs never shrink)."""
    wei = costs.gas * costs.gas_price
    num = wei * costs.weth_price * debt.reserve.configuration.unit
    den = 10**18 * debt.price
    return -(-num // den)


def pair_pools(pools: Iterable[PoolModel], a: str, b: str) -> list[PoolModel]:
    tokens = {a.lower(), b.lower()}
    return [p for p in pools if {p.token0.lower(), p.token1.lower()} == tokens]


def plan_liquidation(
    user: str,
    positions: Sequence[UserReserve],
    timestamp: int,
    pools: Sequence[PoolModel],
    costs: LiquidationCosts,
    *,
    e_mode: EModeCategory | None = None,
) -> LiquidationPlan | None:
    """The most profitable liquidation of `user` at `timestamp`, or None when nothing can be liquidated
    (healthy, or no pair has a pool to sell the collateral in)."""
    best: LiquidationPlan | None = None
    collaterals = [p for p in positions if p.using_as_collateral and p.scaled_a_token_balance > 0]
    debts = [p for p in positions if p.scaled_variable_debt > 0]
    for debt in debts:
        gas_cost = gas_in(debt, costs)
        for coll in collaterals:
            c, d = coll.reserve.asset, debt.reserve.asset
            try:
                result = liquidation_call(positions, c, d, MAX_UINT256, timestamp, e_mode=e_mode)
            except AaveV3Revert:
                continue
            seized, repaid = result.collateral_to_liquidator, result.debt_repaid
            premium = flash_loan_premium(repaid, costs.flash_premium_bps)
            venues: list[tuple[PoolModel | None, int]]
            if c.lower() == d.lower():
                venues = [(None, seized)]
            else:
                venues = [(pool, quote(pool, c, seized)) for pool in pair_pools(pools, c, d)]
            for pool, out in venues:
                gross = out - repaid - premium
                builder = gross * costs.builder_share_bps // BPS if gross > 0 else 0
                plan = LiquidationPlan(
                    user=user, collateral=c, debt=d, debt_to_cover=repaid, collateral_seized=seized,
                    protocol_fee=result.protocol_fee, pool=None if pool is None else pool.address,
                    swap_fee=pool.fee if isinstance(pool, UniswapV3Pool) else 0, swap_out=out,
                    flash_premium=premium, gross_profit=gross, gas_cost=gas_cost, builder_payment=builder,
                    debt_price=debt.price, debt_unit=debt.reserve.configuration.unit,
                )  # fmt: skip
                if best is None or plan.net_profit_base > best.net_profit_base:
                    best = plan
    return best
