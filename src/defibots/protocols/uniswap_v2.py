"""Uniswap V2 pair model: UniswapV2Library quotes and UniswapV2Pair.swap, exact to the wei.

The quote functions are plain functions on ints because strategies call them millions of times;
the pair state is a frozen dataclass so a prediction never mutates the state it was made from.
Forks that only change the fee (SushiSwap 997/1000, PancakeSwap V2 9975/10000) are covered by the
fee numerator/denominator.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from defibots.protocols import ContractRevert

MAX_UINT256 = (1 << 256) - 1
MAX_UINT112 = (1 << 112) - 1
FEE_NUMERATOR = 997
FEE_DENOMINATOR = 1000


class UniswapV2Revert(ContractRevert):
    """UniswapV2Library or UniswapV2Pair would revert with `reason`."""


def get_amount_out(
    amount_in: int,
    reserve_in: int,
    reserve_out: int,
    fee_numerator: int = FEE_NUMERATOR,
    fee_denominator: int = FEE_DENOMINATOR,
) -> int:
    """UniswapV2Library.getAmountOut: output for an exact input, rounded down."""
    if amount_in <= 0:
        raise UniswapV2Revert("UniswapV2Library: INSUFFICIENT_INPUT_AMOUNT")
    if reserve_in <= 0 or reserve_out <= 0:
        raise UniswapV2Revert("UniswapV2Library: INSUFFICIENT_LIQUIDITY")
    amount_in_with_fee = amount_in * fee_numerator
    numerator = amount_in_with_fee * reserve_out
    denominator = reserve_in * fee_denominator + amount_in_with_fee
    if numerator > MAX_UINT256 or denominator > MAX_UINT256:
        _raise_overflow_out(amount_in, reserve_in, reserve_out, fee_numerator, fee_denominator)
    return numerator // denominator


def _raise_overflow_out(
    amount_in: int, reserve_in: int, reserve_out: int, fee_numerator: int, fee_denominator: int
) -> None:
    """SafeMath order of checks in getAmountOut: mul, mul, mul, add."""
    amount_in_with_fee = amount_in * fee_numerator
    if amount_in_with_fee > MAX_UINT256 or amount_in_with_fee * reserve_out > MAX_UINT256:
        raise UniswapV2Revert("ds-math-mul-overflow")
    if reserve_in * fee_denominator > MAX_UINT256:
        raise UniswapV2Revert("ds-math-mul-overflow")
    raise UniswapV2Revert("ds-math-add-overflow")


def get_amount_in(
    amount_out: int,
    reserve_in: int,
    reserve_out: int,
    fee_numerator: int = FEE_NUMERATOR,
    fee_denominator: int = FEE_DENOMINATOR,
) -> int:
    """UniswapV2Library.getAmountIn: input needed for an exact output, including the library's `+ 1`."""
    if amount_out <= 0:
        raise UniswapV2Revert("UniswapV2Library: INSUFFICIENT_OUTPUT_AMOUNT")
    if reserve_in <= 0 or reserve_out <= 0:
        raise UniswapV2Revert("UniswapV2Library: INSUFFICIENT_LIQUIDITY")
    if reserve_in * amount_out > MAX_UINT256 or reserve_in * amount_out * fee_denominator > MAX_UINT256:
        raise UniswapV2Revert("ds-math-mul-overflow")
    numerator = reserve_in * amount_out * fee_denominator
    if amount_out > reserve_out:
        raise UniswapV2Revert("ds-math-sub-underflow")
    denominator = (reserve_out - amount_out) * fee_numerator
    if denominator > MAX_UINT256:
        raise UniswapV2Revert("ds-math-mul-overflow")
    if denominator == 0:
        # Solidity 0.6 division by zero: an `invalid` opcode, no reason string.
        raise UniswapV2Revert("", "division by zero: amount_out equals the output reserve")
    return numerator // denominator + 1


@dataclass(frozen=True, slots=True)
class V2SwapResult:
    """What a swap through the router would pay and receive, and the pair state after it."""

    amount_in: int
    amount_out: int
    pair_after: UniswapV2Pair


@dataclass(frozen=True, slots=True)
class UniswapV2Pair:
    """Reserves of one pair as of (block_number, log_index); updates only move forward."""

    address: str
    token0: str
    token1: str
    reserve0: int
    reserve1: int
    fee_numerator: int = FEE_NUMERATOR
    fee_denominator: int = FEE_DENOMINATOR
    block_number: int = 0
    log_index: int = 0

    def is_token0(self, token: str) -> bool:
        """True for token0, False for token1; anything else is a caller error."""
        if token == self.token0:
            return True
        if token == self.token1:
            return False
        lowered = token.lower()
        if lowered == self.token0.lower():
            return True
        if lowered == self.token1.lower():
            return False
        raise ValueError(f"token {token} is not in pair {self.address}")

    def reserves_for(self, token_in: str) -> tuple[int, int]:
        """(reserve_in, reserve_out) for a swap paying `token_in`."""
        if self.is_token0(token_in):
            return self.reserve0, self.reserve1
        return self.reserve1, self.reserve0

    def get_amount_out(self, token_in: str, amount_in: int) -> int:
        reserve_in, reserve_out = self.reserves_for(token_in)
        return get_amount_out(amount_in, reserve_in, reserve_out, self.fee_numerator, self.fee_denominator)

    def get_amount_in(self, token_in: str, amount_out: int) -> int:
        """Input of `token_in` needed to receive `amount_out` of the other token."""
        reserve_in, reserve_out = self.reserves_for(token_in)
        return get_amount_in(amount_out, reserve_in, reserve_out, self.fee_numerator, self.fee_denominator)

    def swap_exact_in(self, token_in: str, amount_in: int) -> V2SwapResult:
        """Router swapExactTokensForTokens over this one pair."""
        zero_in = self.is_token0(token_in)
        reserve_in, reserve_out = (
            (self.reserve0, self.reserve1) if zero_in else (self.reserve1, self.reserve0)
        )
        amount_out = get_amount_out(
            amount_in, reserve_in, reserve_out, self.fee_numerator, self.fee_denominator
        )
        return V2SwapResult(amount_in, amount_out, self._after_router_swap(zero_in, amount_in, amount_out))

    def swap_exact_out(self, token_in: str, amount_out: int) -> V2SwapResult:
        """Router swapTokensForExactTokens over this one pair."""
        zero_in = self.is_token0(token_in)
        reserve_in, reserve_out = (
            (self.reserve0, self.reserve1) if zero_in else (self.reserve1, self.reserve0)
        )
        amount_in = get_amount_in(
            amount_out, reserve_in, reserve_out, self.fee_numerator, self.fee_denominator
        )
        return V2SwapResult(amount_in, amount_out, self._after_router_swap(zero_in, amount_in, amount_out))

    def _after_router_swap(self, zero_in: bool, amount_in: int, amount_out: int) -> UniswapV2Pair:
        if zero_in:
            return self.swap(0, amount_out, amount_in, 0)
        return self.swap(amount_out, 0, 0, amount_in)

    def swap(self, amount0_out: int, amount1_out: int, amount0_in: int, amount1_in: int) -> UniswapV2Pair:
        """UniswapV2Pair.swap given what was sent in: the checks, the K test with the fee, new reserves."""
        reserve0, reserve1 = self.reserve0, self.reserve1
        if amount0_out <= 0 and amount1_out <= 0:
            raise UniswapV2Revert("UniswapV2: INSUFFICIENT_OUTPUT_AMOUNT")
        if amount0_out >= reserve0 or amount1_out >= reserve1:
            raise UniswapV2Revert("UniswapV2: INSUFFICIENT_LIQUIDITY")
        balance0 = reserve0 - amount0_out + amount0_in
        balance1 = reserve1 - amount1_out + amount1_in
        if amount0_in <= 0 and amount1_in <= 0:
            raise UniswapV2Revert("UniswapV2: INSUFFICIENT_INPUT_AMOUNT")
        den = self.fee_denominator
        fee_part = den - self.fee_numerator
        adjusted0 = balance0 * den - amount0_in * fee_part
        adjusted1 = balance1 * den - amount1_in * fee_part
        if adjusted0 * adjusted1 < reserve0 * reserve1 * den * den:
            raise UniswapV2Revert("UniswapV2: K")
        if balance0 > MAX_UINT112 or balance1 > MAX_UINT112:
            raise UniswapV2Revert("UniswapV2: OVERFLOW")
        return replace(self, reserve0=balance0, reserve1=balance1)

    def with_reserves(self, reserve0: int, reserve1: int, block_number: int, log_index: int) -> UniswapV2Pair:
        """Apply a Sync event; an update older than the current state is a bug (or a missed reorg)."""
        if (block_number, log_index) < (self.block_number, self.log_index):
            raise ValueError(
                f"stale update for pair {self.address}: ({block_number}, {log_index}) is before "
                f"({self.block_number}, {self.log_index})"
            )
        return replace(
            self, reserve0=reserve0, reserve1=reserve1, block_number=block_number, log_index=log_index
        )
