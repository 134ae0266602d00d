"""One hop's exact output on a V2 pair or a V3 pool, for pricing: what strategies and planners size with."""

from __future__ import annotations

from defibots.protocols import ContractRevert
from defibots.protocols.uniswap_router import PoolModel
from defibots.protocols.uniswap_v2 import UniswapV2Pair
from defibots.protocols.uniswap_v3 import UniswapV3Pool
from defibots.protocols.uniswap_v3.tick_math import MAX_SQRT_RATIO, MIN_SQRT_RATIO


def search_limit(pool: UniswapV3Pool, zero_for_one: bool) -> int:
    """A price limit for pricing, not for trading: a size that moves the price more than ~2x is never worth
    pricing, and stopping there spares walking every empty bitmap word to the end of the tick range. Any
    fill that completes inside the limit is identical to the unlimited swap."""
    sqrt_p = pool.sqrt_price_x96
    if zero_for_one:
        return max(sqrt_p * 7 // 10, MIN_SQRT_RATIO + 1)
    return min(sqrt_p * 10 // 7, MAX_SQRT_RATIO - 1)


def quote(pool: PoolModel, token_in: str, amount_in: int) -> int:
    """Exact output of one hop; 0 where the contract would revert or fill nothing."""
    if amount_in <= 0:
        return 0
    try:
        if isinstance(pool, UniswapV2Pair):
            return pool.get_amount_out(token_in, amount_in)
        zero_for_one = pool.zero_for_one(token_in)
        result = pool.swap(zero_for_one, amount_in, search_limit(pool, zero_for_one))
        if result.amount_in != amount_in:  # stopped short: treated as a failed hop
            return 0
        return result.amount_out
    except ContractRevert:
        return 0


def buy_exact(pool: PoolModel, token_in: str, amount_out: int) -> int:
    """Exact input of `token_in` the pool needs to pay out `amount_out`; 0 if it cannot (revert, no depth)."""
    if amount_out <= 0:
        return 0
    try:
        if isinstance(pool, UniswapV2Pair):
            return pool.get_amount_in(token_in, amount_out)
        zero_for_one = pool.zero_for_one(token_in)
        result = pool.swap(zero_for_one, -amount_out, search_limit(pool, zero_for_one))
        return result.amount_in if result.amount_out == amount_out else 0
    except ContractRevert:
        return 0
