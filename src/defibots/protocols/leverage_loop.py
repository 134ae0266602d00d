"""Sizing a leveraged Aave loop's steps (open, adjust, close) for the AaveLoop contract.

Pure: it reads a `LoopMarket` (oracle prices, risk parameters, the flash premium, the swap pool's exact
model) and a position's amounts, and returns the contract call's arguments. The swap is sized on the exact
Uniswap model; what the step does to the position is then read from a simulation of the real transaction,
never from this module.

Leverage is collateral value over equity, both at oracle prices: L = C / (C - D). A loop's health factor
is HF = C * LT / D, so a target health factor means the leverage L = HF / (HF - LT).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from defibots.errors import UserError
from defibots.protocols.aave_v3.math import PERCENTAGE_FACTOR, WAD, percent_mul_ceil
from defibots.protocols.uniswap_quote import quote
from defibots.protocols.uniswap_router import PoolModel
from defibots.protocols.uniswap_v3 import UniswapV3Pool

MAX_UINT256 = 2**256 - 1
LEVERAGE_MARGIN = Decimal("0.25")
"""Kept below the theoretical maximum 1/(1 - LTV): the swap costs and premium must fit under the LTV."""
MIN_TARGET_HF = Decimal("1.05")
CLOSE_INTEREST_BPS = 1
"""Flash-borrowed above the debt when closing: interest accrues between the read and the block."""


@dataclass(frozen=True)
class LoopAsset:
    address: str
    symbol: str
    decimals: int
    price: int
    """Aave oracle price, 8-decimal USD."""
    ltv: int
    """bps, as the reserve (or the account's e-mode) applies it."""
    liquidation_threshold: int


@dataclass(frozen=True)
class LoopMarket:
    collateral: LoopAsset
    debt: LoopAsset
    flash_premium_bps: int
    pool: PoolModel
    """The pool both swaps go through (debt -> collateral to lever up, collateral -> debt to lever down)."""

    @property
    def swap_fee(self) -> int:
        """AaveLoop's Swap.fee: 0 for a V2 pair, else the V3 fee tier."""
        return self.pool.fee if isinstance(self.pool, UniswapV3Pool) else 0


@dataclass(frozen=True)
class Holdings:
    """The loop account's amounts now (aToken balance, variable debt), in token units."""

    collateral: int
    debt: int


@dataclass(frozen=True)
class LoopStep:
    """Arguments of one AaveLoop call (see contracts/AaveLoop.sol `Step`)."""

    kind: str  # "open" | "boost" | "repay" | "close"
    collateral: str
    debt: str
    flash_amount: int
    amount: int
    swap_fee: int
    swap_in: int
    min_out: int
    min_health_factor: int
    deposit: int = 0
    predicted_out: int = 0
    """The exact model's swap output at `swap_in` (the router gives the same in the same pool state)."""

    def step_tuple(self) -> tuple[str, str, int, int, tuple[int, int, int], int]:
        return (
            self.collateral, self.debt, self.flash_amount, self.amount,
            (self.swap_fee, self.swap_in, self.min_out), self.min_health_factor,
        )  # fmt: skip


def max_leverage(ltv_bps: int) -> Decimal:
    """1 / (1 - LTV) less the margin: the most a loop can be levered and still open."""
    ltv = Decimal(ltv_bps) / PERCENTAGE_FACTOR
    return (1 / (1 - ltv) - LEVERAGE_MARGIN).quantize(Decimal("0.01"))


def leverage_for_health_factor(health_factor: Decimal, liquidation_threshold_bps: int) -> Decimal:
    lt = Decimal(liquidation_threshold_bps) / PERCENTAGE_FACTOR
    if health_factor <= lt:
        raise UserError(f"health factor {health_factor} is not above the liquidation threshold {lt}")
    return health_factor / (health_factor - lt)


def check_leverage(market: LoopMarket, leverage: Decimal) -> None:
    top = max_leverage(market.collateral.ltv)
    if leverage > top:
        raise UserError(
            f"leverage {leverage} is above the maximum {top} for {market.collateral.symbol} "
            f"(LTV {market.collateral.ltv / 100:.2f}%: 1/(1-LTV) less {LEVERAGE_MARGIN})"
        )
    if leverage < 1:
        raise UserError(f"leverage {leverage} is below 1")


def check_target_health_factor(health_factor: Decimal) -> None:
    if health_factor < MIN_TARGET_HF:
        raise UserError(f"health factor target {health_factor} is below {MIN_TARGET_HF}")


def value(asset: LoopAsset, amount: int) -> Decimal:
    """8-decimal USD value of a token amount (oracle price)."""
    return Decimal(amount) * asset.price / Decimal(10) ** asset.decimals


def amount_of(asset: LoopAsset, usd: Decimal) -> int:
    return int(usd * Decimal(10) ** asset.decimals / asset.price)


def leverage(market: LoopMarket, holdings: Holdings) -> Decimal:
    collateral = value(market.collateral, holdings.collateral)
    equity = collateral - value(market.debt, holdings.debt)
    return collateral / equity if equity > 0 else Decimal("Infinity")


def flash_owed(market: LoopMarket, amount: int) -> int:
    """Flash amount plus Aave's premium (v3.6: percentMulCeil of FLASHLOAN_PREMIUM_TOTAL)."""
    return amount + percent_mul_ceil(amount, market.flash_premium_bps)


def input_for_output(pool: PoolModel, token_in: str, wanted: int) -> int:
    """The least exact input whose exact output is at least `wanted` (search on the exact model)."""
    hi = 1
    while quote(pool, token_in, hi) < wanted:
        hi *= 2
        if hi > MAX_UINT256 >> 2:
            raise UserError("the swap pool cannot fill this size")
    lo = hi // 2
    while lo + 1 < hi:
        mid = (lo + hi) // 2
        if quote(pool, token_in, mid) >= wanted:
            hi = mid
        else:
            lo = mid
    return hi


def _buy(market: LoopMarket, token_in: str, owed: int, slippage_bps: int) -> tuple[int, int]:
    """Swap input covering `owed` even after the price moves by `slippage_bps`, and the model's output."""
    swap_in = input_for_output(market.pool, token_in, owed * (10_000 + slippage_bps) // 10_000 + 1)
    return swap_in, quote(market.pool, token_in, swap_in)


def plan_boost(
    market: LoopMarket, flash: int, min_hf: Decimal, slippage_bps: int, deposit: int = 0
) -> LoopStep:
    """Flash-borrow `flash` collateral, supply it, borrow the debt asset that buys it back."""
    owed = flash_owed(market, flash)
    borrow, out = _buy(market, market.debt.address, owed, slippage_bps)
    return LoopStep(
        "open" if deposit else "boost", market.collateral.address, market.debt.address, flash, borrow,
        market.swap_fee, borrow, owed, _wad(min_hf), deposit, out,
    )  # fmt: skip


def plan_repay(
    market: LoopMarket, repay: int, min_hf: Decimal, slippage_bps: int, close: bool = False
) -> LoopStep:
    """Flash-borrow `repay` of the debt asset, repay it, withdraw collateral that sells for it."""
    owed = flash_owed(market, repay)
    sell, out = _buy(market, market.collateral.address, owed, slippage_bps)
    return LoopStep(
        "close" if close else "repay", market.collateral.address, market.debt.address, repay,
        MAX_UINT256 if close else sell, market.swap_fee, sell, owed, 0 if close else _wad(min_hf), 0, out,
    )  # fmt: skip


def plan_open(
    market: LoopMarket, deposit: int, target: Decimal, min_hf: Decimal, slippage_bps: int
) -> LoopStep:
    check_leverage(market, target)
    flash = int(deposit * (target - 1))
    if flash <= 0:
        raise UserError(f"leverage {target} needs no loop: supply the collateral instead")
    return plan_boost(market, flash, min_hf, slippage_bps, deposit)


def plan_adjust(
    market: LoopMarket, holdings: Holdings, target: Decimal, min_hf: Decimal, slippage_bps: int
) -> LoopStep:
    """Boost or repay so that the position's leverage at oracle prices becomes `target`.

    The swap trades at the pool's price, not the oracle's: with collateral C, debt D (token units), the
    oracle's q debt units per collateral unit and the swap's r (fee, impact and premium included), moving
    x collateral units gives leverage L when x = (L (C q - D) - C q) / (q - L (q - r)). r depends on the
    size, so the size is solved twice, the second time at the first size's r.
    """
    check_leverage(market, target)
    if holdings.collateral == 0:
        raise UserError("no position to adjust: open one first")
    c, d = holdings.collateral, holdings.debt
    q = value(market.collateral, 10**market.collateral.decimals) / value(
        market.debt, 10**market.debt.decimals
    )
    q = q * Decimal(10) ** (
        market.debt.decimals - market.collateral.decimals
    )  # debt units per collateral unit
    equity = c * q - d
    if equity <= 0:
        raise UserError("the position has no equity left at oracle prices")
    if target > leverage(market, holdings):
        flash = int((target * equity - c * q) / q)
        for _ in range(2):
            step = plan_boost(market, flash, min_hf, slippage_bps)
            r = Decimal(step.amount) / flash  # debt borrowed per collateral unit bought
            flash = int((target * equity - c * q) / (q - target * (q - r)))
        return plan_boost(market, flash, min_hf, slippage_bps)
    repay = min(int(d - (target - 1) * equity), d)
    for _ in range(2):
        step = plan_repay(market, repay, min_hf, slippage_bps)
        r = Decimal(repay) / step.swap_in  # debt repaid per collateral unit sold
        sold = (c * q - target * equity) / (q - target * (q - r))
        repay = min(int(sold * r), d)
    return plan_repay(market, repay, min_hf, slippage_bps)


def plan_close(market: LoopMarket, holdings: Holdings, slippage_bps: int) -> LoopStep:
    if holdings.collateral == 0 and holdings.debt == 0:
        raise UserError("no position to close")
    repay = holdings.debt + holdings.debt * CLOSE_INTEREST_BPS // 10_000 + 1
    return plan_repay(market, repay, Decimal(0), slippage_bps, close=True)


def _wad(x: Decimal) -> int:
    return int(x * WAD)
