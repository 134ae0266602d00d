"""What a pending Uniswap router call will do to the pools: V2 Router02, V3 SwapRouter and SwapRouter02
semantics (amount chaining, slippage checks, deadline, exact-output resolution) on the exact models.

A router call either applies all of its swaps or reverts as a whole, so a prediction is all-or-nothing.
Pure: the caller resolves each hop to its pool model (by CREATE2 address) and owns all I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from defibots.protocols import ContractRevert
from defibots.protocols.uniswap_v2 import UniswapV2Pair, get_amount_in, get_amount_out
from defibots.protocols.uniswap_v3 import UniswapV3Pool

PoolModel = UniswapV2Pair | UniswapV3Pool
"""A Uniswap pool of either kind: the one definition every layer above uses."""


class RouterHop(Protocol):
    """One pool a router swap leg crosses (what `chain.router_calls.SwapHop` provides)."""

    @property
    def protocol(self) -> str: ...
    @property
    def token_in(self) -> str: ...
    @property
    def token_out(self) -> str: ...
    @property
    def fee(self) -> int | None: ...


class Leg(Protocol):
    @property
    def exact_input(self) -> bool: ...
    @property
    def hops(self) -> Sequence[RouterHop]: ...
    @property
    def amount_specified(self) -> int | None: ...
    @property
    def amount_limit(self) -> int: ...
    @property
    def deadline(self) -> int | None: ...
    @property
    def sqrt_price_limit_x96(self) -> int: ...


Resolver = Callable[[RouterHop], PoolModel | None]


class Unpredictable(Exception):
    """The call depends on state the models do not hold (an untracked pool, the router's own balance)."""


@dataclass
class RouterPrediction:
    """Pool states after the call (empty if it reverts) and each leg's (amount in, amount out)."""

    states: dict[str, PoolModel] = field(default_factory=dict)
    legs: list[tuple[int, int]] = field(default_factory=list)
    revert_reason: str | None = None

    @property
    def reverted(self) -> bool:
        return self.revert_reason is not None


def predict(
    legs: Sequence[Leg], resolve: Resolver, timestamp: int | None = None, v2_output_from_balance: bool = False
) -> RouterPrediction:
    """Apply the legs in order on copies of the models; raises Unpredictable when a model is missing.

    `v2_output_from_balance`: SwapRouter02's V2 swaps price each hop from the pair's balance increase,
    so an exact-output V2 call receives getAmountOut(getAmountsIn(out)) >= out (the +1 of getAmountIn
    flows through). Router02 pays exactly the amounts getAmountsIn computed.
    """
    overlay: dict[str, PoolModel] = {}

    def pool_for(hop: RouterHop) -> PoolModel:
        base = resolve(hop)
        if base is None:
            raise Unpredictable(f"untracked pool for {hop.token_in}->{hop.token_out} ({hop.protocol})")
        return overlay.get(base.address, base)

    out = RouterPrediction()
    try:
        for leg in legs:
            if leg.amount_specified is None:
                raise Unpredictable("amount is the router's balance (CONTRACT_BALANCE)")
            if timestamp is not None and leg.deadline is not None and timestamp > leg.deadline:
                raise ContractRevert("Transaction too old")
            if leg.exact_input:
                out.legs.append(_exact_in(leg, leg.amount_specified, pool_for, overlay))
            elif v2_output_from_balance and leg.hops[0].protocol == "v2":
                out.legs.append(_v2_exact_out_from_balance(leg, leg.amount_specified, pool_for, overlay))
            else:
                out.legs.append(_exact_out(leg, leg.amount_specified, pool_for, overlay))
    except ContractRevert as revert:
        return RouterPrediction(revert_reason=revert.reason or str(revert))
    out.states = overlay
    return out


def pool_after_swap(pool: PoolModel, token_in: str, amount_in: int) -> PoolModel:
    """The pool after an exact-input swap with no price limit (as a router's single swap), for planning
    several trades through one pool in one block."""
    return _swap(pool, token_in, amount_in, True, 0)[2]


def _swap(
    pool: PoolModel, token_in: str, amount: int, exact_in: bool, limit: int
) -> tuple[int, int, PoolModel]:
    """(amount in, amount out, pool after) for one hop."""
    if isinstance(pool, UniswapV2Pair):
        r_in, r_out = pool.reserves_for(token_in)
        f, d = pool.fee_numerator, pool.fee_denominator
        if exact_in:
            a_in, a_out = amount, get_amount_out(amount, r_in, r_out, f, d)
        else:
            a_in, a_out = get_amount_in(amount, r_in, r_out, f, d), amount
        if pool.is_token0(token_in):
            after = UniswapV2Pair(pool.address, pool.token0, pool.token1, r_in + a_in, r_out - a_out, f, d,
                                  pool.block_number, pool.log_index)  # fmt: skip
        else:
            after = UniswapV2Pair(pool.address, pool.token0, pool.token1, r_out - a_out, r_in + a_in, f, d,
                                  pool.block_number, pool.log_index)  # fmt: skip
        return a_in, a_out, after
    result = pool.swap(pool.zero_for_one(token_in), amount if exact_in else -amount, limit or None)
    if not exact_in and limit == 0 and result.amount_out != amount:
        raise ContractRevert("", "exact output not filled (router requires the full amount without a limit)")
    return result.amount_in, result.amount_out, result.pool_after


def _exact_in(
    leg: Leg,
    amount: int,
    pool_for: Callable[[RouterHop], PoolModel],
    overlay: dict[str, PoolModel],
    min_out: bool = True,
) -> tuple[int, int]:
    if any(h.protocol == "v2" for h in leg.hops) and not all(h.protocol == "v2" for h in leg.hops):
        raise Unpredictable("mixed V2/V3 path in one leg")
    if leg.hops[0].protocol == "v2":
        _v2_path_amounts_out(leg, amount, pool_for)  # Router02 checks the whole path before swapping
    current = amount
    for hop in leg.hops:
        pool = pool_for(hop)
        _, current, overlay[pool.address] = _swap(pool, hop.token_in, current, True, leg.sqrt_price_limit_x96)
    if min_out and current < leg.amount_limit:
        is_v2 = leg.hops[0].protocol == "v2"
        raise ContractRevert(
            "UniswapV2Router: INSUFFICIENT_OUTPUT_AMOUNT" if is_v2 else "Too little received"
        )
    return amount, current


def _v2_exact_out_from_balance(
    leg: Leg, amount: int, pool_for: Callable[[RouterHop], PoolModel], overlay: dict[str, PoolModel]
) -> tuple[int, int]:
    current = amount
    for hop in reversed(leg.hops):
        pool = pool_for(hop)
        assert isinstance(pool, UniswapV2Pair)
        current = pool.get_amount_in(hop.token_in, current)
    if current > leg.amount_limit:
        raise ContractRevert("Too much requested")
    return _exact_in(leg, current, pool_for, overlay, min_out=False)


def _v2_path_amounts_out(leg: Leg, amount: int, pool_for: Callable[[RouterHop], PoolModel]) -> None:
    current = amount
    for hop in leg.hops:
        pool = pool_for(hop)
        assert isinstance(pool, UniswapV2Pair)
        current = pool.get_amount_out(hop.token_in, current)


def _exact_out(
    leg: Leg, amount: int, pool_for: Callable[[RouterHop], PoolModel], overlay: dict[str, PoolModel]
) -> tuple[int, int]:
    """Resolve from the last hop backwards; the pools' final states do not depend on execution order."""
    current = amount
    for hop in reversed(leg.hops):
        pool = pool_for(hop)
        current, _, overlay[pool.address] = _swap(
            pool, hop.token_in, current, False, leg.sqrt_price_limit_x96
        )
    if current > leg.amount_limit:
        is_v2 = leg.hops[0].protocol == "v2"
        raise ContractRevert("UniswapV2Router: EXCESSIVE_INPUT_AMOUNT" if is_v2 else "Too much requested")
    return current, amount
