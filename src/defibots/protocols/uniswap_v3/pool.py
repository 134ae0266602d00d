"""UniswapV3Pool model: swap and mint/burn liquidity effects, exact to the wei against v3-core 1.0.1.

The swap loop is the pool's loop with the library calls inlined (computeSwapStep, getAmount0/1Delta,
nextInitializedTickWithinOneWord), because an arbitrage search calls it thousands of times per block.
The readable composition of the library functions lives in the library modules and the tests check
both give the same numbers (and the real pool bytecode, tests/protocols/).

Cost does not grow with the number of initialized ticks: the next tick comes from the bitmap (one
word per step, as the contract), step lookups are memoised per tick set, and with zero active
liquidity the walk jumps over empty words (the contract steps through them moving nothing).

State is immutable: a swap's post-state shares the tick index (ticks, bitmap, memo) with the pool it
started from, since a swap never changes ticks; only a mint/burn builds a new index.

Not modelled, because they never change what a trader pays or receives: fee growth, the protocol
fee, oracle observations, positions and tokens owed.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from defibots.protocols.uniswap_v3.errors import UniswapV3Revert
from defibots.protocols.uniswap_v3.liquidity_math import add_delta
from defibots.protocols.uniswap_v3.sqrt_price_math import (
    get_amount0_delta_signed,
    get_amount1_delta_signed,
    get_next_sqrt_price_from_input,
    get_next_sqrt_price_from_output,
)
from defibots.protocols.uniswap_v3.tick import tick_spacing_to_max_liquidity_per_tick, update_tick
from defibots.protocols.uniswap_v3.tick_bitmap import flip_tick
from defibots.protocols.uniswap_v3.tick_math import (
    MAX_SQRT_RATIO,
    MAX_TICK,
    MIN_SQRT_RATIO,
    MIN_TICK,
    sqrt_ratio_at_tick_cached,
    tick_at_sqrt_ratio_fast,
)

INT256_MIN = -(1 << 255)
INT256_MAX = (1 << 255) - 1
INT128_MIN = -(1 << 127)
INT128_MAX = (1 << 127) - 1
UINT128_LIMIT = 1 << 128
MAX_UINT160 = (1 << 160) - 1
MAX_UINT256 = (1 << 256) - 1
FEE_UNIT = 1_000_000
_STEP_MEMO_LIMIT = 1 << 12


@dataclass(slots=True)
class V3SwapResult:
    """What `UniswapV3Pool.swap` returned, as the contract returns it, plus the pool state after it.

    amount0/amount1 are the pool's deltas: positive = paid into the pool, negative = paid out.
    A plain record (not frozen: a frozen dataclass costs ~0.7 µs more per swap); treat it as a value.
    """

    zero_for_one: bool
    amount0: int
    amount1: int
    sqrt_price_x96: int
    tick: int
    liquidity: int
    ticks_crossed: int
    pool_before: UniswapV3Pool = field(repr=False, compare=False)

    @property
    def amount_in(self) -> int:
        return self.amount0 if self.zero_for_one else self.amount1

    @property
    def amount_out(self) -> int:
        return -self.amount1 if self.zero_for_one else -self.amount0

    @property
    def pool_after(self) -> UniswapV3Pool:
        """The post-swap state (built on demand; it shares the tick dicts with `pool_before`)."""
        return self.pool_before._with_swap_state(self.sqrt_price_x96, self.tick, self.liquidity)


@dataclass(frozen=True, slots=True)
class V3ModifyResult:
    """_modifyPosition's token amounts: positive = owed to the pool (mint), negative = paid out (burn)."""

    amount0: int
    amount1: int
    pool_after: UniswapV3Pool


class UniswapV3Pool:
    """One pool's trading state as of (block_number, log_index).

    `ticks` maps each initialized tick to (liquidity_gross, liquidity_net); `bitmap` maps word
    positions to the TickBitmap words (rebuilt from the ticks). Treat instances as values: the
    attributes are read-only and every state change returns a new pool.
    """

    __slots__ = (
        "_index",
        "address",
        "block_number",
        "fee",
        "liquidity",
        "log_index",
        "max_liquidity_per_tick",
        "sqrt_price_x96",
        "tick",
        "tick_spacing",
        "token0",
        "token1",
    )

    address: str
    token0: str
    token1: str
    fee: int
    tick_spacing: int
    sqrt_price_x96: int
    tick: int
    liquidity: int
    block_number: int
    log_index: int
    max_liquidity_per_tick: int
    _index: _TickIndex

    def __init__(
        self,
        *,
        address: str,
        token0: str,
        token1: str,
        fee: int,
        tick_spacing: int,
        sqrt_price_x96: int,
        tick: int,
        liquidity: int,
        ticks: Mapping[int, tuple[int, int]] | None = None,
        block_number: int = 0,
        log_index: int = 0,
    ) -> None:
        if not 0 <= fee < FEE_UNIT:
            raise ValueError(f"fee {fee} must be in [0, 1e6) pips")
        if not 0 < tick_spacing < 16384:
            raise ValueError(f"tick spacing {tick_spacing} must be in (0, 16384)")
        if not MIN_SQRT_RATIO <= sqrt_price_x96 < MAX_SQRT_RATIO:
            raise ValueError(f"sqrt price {sqrt_price_x96} is outside TickMath's range (uninitialized pool?)")
        if not MIN_TICK <= tick <= MAX_TICK:
            raise ValueError(f"tick {tick} is outside [MIN_TICK, MAX_TICK]")
        if not 0 <= liquidity < UINT128_LIMIT:
            raise ValueError(f"liquidity {liquidity} does not fit uint128")
        tick_map: dict[int, tuple[int, int]] = {}
        bitmap: dict[int, int] = {}
        for t, (gross, net) in (ticks or {}).items():
            if gross == 0:
                continue  # an uninitialized tick: the contract keeps no bit for it
            if t % tick_spacing or not MIN_TICK <= t <= MAX_TICK:
                raise ValueError(f"tick {t} is not a usable multiple of the spacing {tick_spacing}")
            if not 0 < gross < UINT128_LIMIT or not INT128_MIN <= net <= INT128_MAX:
                raise ValueError(f"tick {t} has out-of-range liquidity ({gross}, {net})")
            tick_map[t] = (gross, net)
            flip_tick(bitmap, t, tick_spacing)
        _init(
            self,
            address,
            token0,
            token1,
            fee,
            tick_spacing,
            sqrt_price_x96,
            tick,
            liquidity,
            _TickIndex(tick_map, bitmap),
            block_number,
            log_index,
            tick_spacing_to_max_liquidity_per_tick(tick_spacing),
        )

    @classmethod
    def from_chain_state(
        cls,
        *,
        address: str,
        token0: str,
        token1: str,
        fee: int,
        tick_spacing: int,
        sqrt_price_x96: int,
        tick: int,
        liquidity: int,
        ticks: Iterable[tuple[int, int, int]],
        block_number: int = 0,
        log_index: int = 0,
        bitmap_words: Mapping[int, int] | None = None,
    ) -> UniswapV3Pool:
        """Build from what the contract exposes: slot0, liquidity(), fee(), tickSpacing() and
        (tick, liquidityGross, liquidityNet) of the initialized ticks.

        The bitmap is rebuilt from the ticks; pass the on-chain `tickBitmap` words to have it checked,
        which catches a loader that missed ticks.
        """
        pool = cls(
            address=address,
            token0=token0,
            token1=token1,
            fee=fee,
            tick_spacing=tick_spacing,
            sqrt_price_x96=sqrt_price_x96,
            tick=tick,
            liquidity=liquidity,
            ticks={t: (gross, net) for t, gross, net in ticks},
            block_number=block_number,
            log_index=log_index,
        )
        if bitmap_words is not None:
            chain = {pos: word for pos, word in bitmap_words.items() if word}
            if chain != pool._index.bitmap:
                missing = sorted(set(chain.items()) ^ set(pool._index.bitmap.items()))
                raise ValueError(
                    f"pool {address}: ticks do not match the on-chain bitmap (words {missing[:4]})"
                )
        return pool

    # -- read-only views -------------------------------------------------------------------------

    @property
    def ticks(self) -> Mapping[int, tuple[int, int]]:
        return MappingProxyType(self._index.ticks)

    @property
    def bitmap(self) -> Mapping[int, int]:
        return MappingProxyType(self._index.bitmap)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"UniswapV3Pool is immutable; use the methods that return a new pool ({name})")

    def __repr__(self) -> str:
        return (
            f"UniswapV3Pool(address={self.address!r}, fee={self.fee}, tick={self.tick}, "
            f"sqrt_price_x96={self.sqrt_price_x96}, liquidity={self.liquidity}, "
            f"ticks={len(self._index.ticks)}, block={self.block_number}/{self.log_index})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, UniswapV3Pool):
            return NotImplemented
        return self._key() == other._key() and self._index.ticks == other._index.ticks

    def __hash__(self) -> int:
        return hash(self._key())

    def _key(self) -> tuple[Any, ...]:
        return (
            self.address,
            self.token0,
            self.token1,
            self.fee,
            self.tick_spacing,
            self.sqrt_price_x96,
            self.tick,
            self.liquidity,
            self.block_number,
            self.log_index,
        )

    # -- new states ------------------------------------------------------------------------------

    def _with_swap_state(self, sqrt_price_x96: int, tick: int, liquidity: int) -> UniswapV3Pool:
        return _new(self, sqrt_price_x96, tick, liquidity, self._index)

    def at(self, block_number: int, log_index: int) -> UniswapV3Pool:
        """The same state stamped with a later position in the chain."""
        self._check_forward(block_number, log_index)
        pool = _new(self, self.sqrt_price_x96, self.tick, self.liquidity, self._index)
        object.__setattr__(pool, "block_number", block_number)
        object.__setattr__(pool, "log_index", log_index)
        return pool

    def with_slot0(
        self, sqrt_price_x96: int, tick: int, liquidity: int, block_number: int, log_index: int
    ) -> UniswapV3Pool:
        """Apply the price, tick and liquidity a Swap event reports (ticks are unchanged by swaps)."""
        return self._with_swap_state(sqrt_price_x96, tick, liquidity).at(block_number, log_index)

    def _check_forward(self, block_number: int, log_index: int) -> None:
        if (block_number, log_index) < (self.block_number, self.log_index):
            raise ValueError(
                f"stale update for pool {self.address}: ({block_number}, {log_index}) is before "
                f"({self.block_number}, {self.log_index})"
            )

    # -- trading ---------------------------------------------------------------------------------

    def zero_for_one(self, token_in: str) -> bool:
        """Direction of a swap paying `token_in`; a token not in the pool is a caller error."""
        if token_in == self.token0:
            return True
        if token_in == self.token1:
            return False
        lowered = token_in.lower()
        if lowered == self.token0.lower():
            return True
        if lowered == self.token1.lower():
            return False
        raise ValueError(f"token {token_in} is not in pool {self.address}")

    def swap_exact_in(
        self, token_in: str, amount_in: int, sqrt_price_limit_x96: int | None = None
    ) -> V3SwapResult:
        """Swap exactly `amount_in` of `token_in` (fee included); may fill partially at the price limit."""
        return self.swap(self.zero_for_one(token_in), amount_in, sqrt_price_limit_x96)

    def swap_exact_out(
        self, token_in: str, amount_out: int, sqrt_price_limit_x96: int | None = None
    ) -> V3SwapResult:
        """Receive `amount_out` of the other token paying `token_in`; `amount_out` on the result may be
        smaller when the price limit or the liquidity runs out (the pool does not revert)."""
        return self.swap(self.zero_for_one(token_in), -amount_out, sqrt_price_limit_x96)

    def swap(
        self, zero_for_one: bool, amount_specified: int, sqrt_price_limit_x96: int | None = None
    ) -> V3SwapResult:
        """UniswapV3Pool.swap: amount_specified > 0 is exact input, < 0 exact output.

        `sqrt_price_limit_x96=None` means no limit (MIN_SQRT_RATIO + 1 / MAX_SQRT_RATIO - 1, what the
        routers pass for 0). Reverts 'AS' for a zero amount and 'SPL' for a limit on the wrong side of
        the current price or outside TickMath's range, as the pool does.
        """
        if amount_specified == 0:
            raise UniswapV3Revert("AS", "amount_specified is zero")
        if not INT256_MIN <= amount_specified <= INT256_MAX:
            raise ValueError(f"amount_specified {amount_specified} does not fit int256")
        sqrt_p = self.sqrt_price_x96
        if zero_for_one:
            limit = MIN_SQRT_RATIO + 1 if sqrt_price_limit_x96 is None else sqrt_price_limit_x96
            if not MIN_SQRT_RATIO < limit < sqrt_p:
                raise UniswapV3Revert("SPL", f"price limit {limit} is not below the price {sqrt_p}")
        else:
            limit = MAX_SQRT_RATIO - 1 if sqrt_price_limit_x96 is None else sqrt_price_limit_x96
            if not sqrt_p < limit < MAX_SQRT_RATIO:
                raise UniswapV3Revert("SPL", f"price limit {limit} is not above the price {sqrt_p}")

        fee = self.fee
        fee_complement = FEE_UNIT - fee
        fee_unit = FEE_UNIT
        uint128_limit = UINT128_LIMIT
        index = self._index
        steps = index.steps_down if zero_for_one else index.steps_up
        steps_get = steps.get
        exact_in = amount_specified > 0
        remaining = amount_specified
        calculated = 0
        tick = self.tick
        liquidity = self.liquidity
        crossed = 0

        # getAmount0Delta is ceil/floor(ceil/floor(L * 2^96 * (b - a) / b) / a) in the contract; nested
        # roundings by positive integers equal one rounding by the product, so one division is used.
        while remaining != 0 and sqrt_p != limit:
            start = sqrt_p
            step = steps_get(tick)
            if step is None:
                step = index.lookup_step(tick, zero_for_one, self.tick_spacing)
            tick_next, initialized, sqrt_next, net = step
            if not initialized and not liquidity:
                tick_next, initialized, sqrt_next, net = index.skip_empty_words(
                    tick, zero_for_one, self.tick_spacing
                )

            if zero_for_one:
                target = limit if sqrt_next < limit else sqrt_next
                # SwapMath.computeSwapStep, token0 in.
                if exact_in:
                    remaining_less_fee = remaining * fee_complement // fee_unit
                    numerator1 = liquidity << 96
                    amount_in = -((-numerator1 * (start - target)) // (start * target))
                    if remaining_less_fee >= amount_in:
                        sqrt_p = target
                    else:
                        # getNextSqrtPriceFromAmount0RoundingUp when nothing overflows, else the library
                        product = remaining_less_fee * start
                        if product <= MAX_UINT256 and numerator1 + product <= MAX_UINT256:
                            sqrt_p = -((-numerator1 * start) // (numerator1 + product))
                        else:
                            sqrt_p = get_next_sqrt_price_from_input(
                                start, liquidity, remaining_less_fee, True
                            )
                    if sqrt_p == target:
                        fee_amount = -((-amount_in * fee) // fee_complement)
                    else:
                        amount_in = -((-numerator1 * (start - sqrt_p)) // (start * sqrt_p))
                        fee_amount = remaining - amount_in
                    amount_out = (liquidity * (start - sqrt_p)) >> 96
                    remaining -= amount_in + fee_amount
                    calculated -= amount_out
                else:
                    wanted = -remaining
                    amount_out = (liquidity * (start - target)) >> 96
                    if wanted >= amount_out:
                        sqrt_p = target
                    else:
                        sqrt_p = get_next_sqrt_price_from_output(start, liquidity, wanted, True)
                        if sqrt_p != target:
                            amount_out = (liquidity * (start - sqrt_p)) >> 96
                    amount_in = -((-(liquidity << 96) * (start - sqrt_p)) // (start * sqrt_p))
                    if amount_out > wanted:
                        amount_out = wanted
                    fee_amount = -((-amount_in * fee) // fee_complement)
                    remaining += amount_out
                    calculated += amount_in + fee_amount

                if sqrt_p == sqrt_next:
                    if initialized:
                        new_liquidity = liquidity - net
                        if not 0 <= new_liquidity < uint128_limit:
                            add_delta(liquidity, -net)  # raises 'LS' / 'LA'
                        liquidity = new_liquidity
                        crossed += 1
                    tick = tick_next - 1
                elif sqrt_p != start:
                    tick = tick_at_sqrt_ratio_fast(sqrt_p)
                    if (
                        not liquidity
                        and tick > tick_next
                        and not tick % (self.tick_spacing << 8)
                        and sqrt_ratio_at_tick_cached(tick) == sqrt_p
                    ):
                        # Stopped at a limit exactly on a word edge we skipped over: the contract's
                        # word-by-word walk ends that step on the edge, with tick = edge - 1.
                        tick -= 1
            else:
                target = limit if sqrt_next > limit else sqrt_next
                # SwapMath.computeSwapStep, token1 in.
                if exact_in:
                    remaining_less_fee = remaining * fee_complement // fee_unit
                    amount_in = -((-liquidity * (target - start)) >> 96)
                    if remaining_less_fee >= amount_in:
                        sqrt_p = target
                    else:
                        # getNextSqrtPriceFromAmount1RoundingDown for amounts < 2^160, else the library
                        sqrt_p = start + (remaining_less_fee << 96) // liquidity
                        if remaining_less_fee > MAX_UINT160 or sqrt_p > MAX_UINT160:
                            sqrt_p = get_next_sqrt_price_from_input(
                                start, liquidity, remaining_less_fee, False
                            )
                    if sqrt_p == target:
                        fee_amount = -((-amount_in * fee) // fee_complement)
                    else:
                        amount_in = -((-liquidity * (sqrt_p - start)) >> 96)
                        fee_amount = remaining - amount_in
                    amount_out = ((liquidity << 96) * (sqrt_p - start)) // (sqrt_p * start)
                    remaining -= amount_in + fee_amount
                    calculated -= amount_out
                else:
                    wanted = -remaining
                    amount_out = ((liquidity << 96) * (target - start)) // (target * start)
                    if wanted >= amount_out:
                        sqrt_p = target
                    else:
                        sqrt_p = get_next_sqrt_price_from_output(start, liquidity, wanted, False)
                        if sqrt_p != target:
                            amount_out = ((liquidity << 96) * (sqrt_p - start)) // (sqrt_p * start)
                    amount_in = -((-liquidity * (sqrt_p - start)) >> 96)
                    if amount_out > wanted:
                        amount_out = wanted
                    fee_amount = -((-amount_in * fee) // fee_complement)
                    remaining += amount_out
                    calculated += amount_in + fee_amount

                if sqrt_p == sqrt_next:
                    if initialized:
                        new_liquidity = liquidity + net
                        if not 0 <= new_liquidity < uint128_limit:
                            add_delta(liquidity, net)  # raises 'LS' / 'LA'
                        liquidity = new_liquidity
                        crossed += 1
                    tick = tick_next
                elif sqrt_p != start:
                    tick = tick_at_sqrt_ratio_fast(sqrt_p)

        if zero_for_one == exact_in:
            amount0, amount1 = amount_specified - remaining, calculated
        else:
            amount0, amount1 = calculated, amount_specified - remaining
        return V3SwapResult(zero_for_one, amount0, amount1, sqrt_p, tick, liquidity, crossed, self)

    # -- liquidity -------------------------------------------------------------------------------

    def modify_liquidity(self, tick_lower: int, tick_upper: int, liquidity_delta: int) -> V3ModifyResult:
        """_modifyPosition: a mint (delta > 0) or burn (delta < 0) of liquidity on [tick_lower, tick_upper).

        Updates the two ticks ('LS'/'LA'/'LO' as Tick.update), flips bitmap bits, clears ticks a burn
        empties, and changes the active liquidity when the current tick is inside the range. Positions
        are not tracked, so burning more than one owner holds is not detected here.
        """
        if tick_lower >= tick_upper:
            raise UniswapV3Revert("TLU", f"tick_lower {tick_lower} >= tick_upper {tick_upper}")
        if tick_lower < MIN_TICK:
            raise UniswapV3Revert("TLM", f"tick_lower {tick_lower} < MIN_TICK")
        if tick_upper > MAX_TICK:
            raise UniswapV3Revert("TUM", f"tick_upper {tick_upper} > MAX_TICK")
        if not INT128_MIN <= liquidity_delta <= INT128_MAX:
            raise UniswapV3Revert("", f"liquidity delta {liquidity_delta} does not fit int128")
        if liquidity_delta == 0:
            return V3ModifyResult(0, 0, self)

        ticks = dict(self._index.ticks)
        spacing = self.tick_spacing
        max_liquidity = self.max_liquidity_per_tick
        flipped_lower = update_tick(ticks, tick_lower, liquidity_delta, False, max_liquidity)
        flipped_upper = update_tick(ticks, tick_upper, liquidity_delta, True, max_liquidity)
        bitmap = self._index.bitmap
        if flipped_lower or flipped_upper:
            bitmap = dict(bitmap)
            if flipped_lower:
                flip_tick(bitmap, tick_lower, spacing)
            if flipped_upper:
                flip_tick(bitmap, tick_upper, spacing)
        if liquidity_delta < 0:
            if flipped_lower:
                del ticks[tick_lower]
            if flipped_upper:
                del ticks[tick_upper]

        sqrt_lower = sqrt_ratio_at_tick_cached(tick_lower)
        sqrt_upper = sqrt_ratio_at_tick_cached(tick_upper)
        amount0 = amount1 = 0
        liquidity = self.liquidity
        if self.tick < tick_lower:
            amount0 = get_amount0_delta_signed(sqrt_lower, sqrt_upper, liquidity_delta)
        elif self.tick < tick_upper:
            amount0 = get_amount0_delta_signed(self.sqrt_price_x96, sqrt_upper, liquidity_delta)
            amount1 = get_amount1_delta_signed(sqrt_lower, self.sqrt_price_x96, liquidity_delta)
            liquidity = add_delta(liquidity, liquidity_delta)
        else:
            amount1 = get_amount1_delta_signed(sqrt_lower, sqrt_upper, liquidity_delta)
        pool = _new(self, self.sqrt_price_x96, self.tick, liquidity, _TickIndex(ticks, bitmap))
        return V3ModifyResult(amount0, amount1, pool)


class _TickIndex:
    """Initialized ticks, their bitmap and a memo of swap-step lookups: shared by every pool state with
    the same ticks (a swap never changes them), replaced as a whole by a mint or burn."""

    __slots__ = ("bitmap", "steps_down", "steps_up", "ticks", "words")

    def __init__(self, ticks: dict[int, tuple[int, int]], bitmap: dict[int, int]) -> None:
        self.ticks = ticks
        self.bitmap = bitmap
        self.words = tuple(sorted(bitmap))  # non-empty word positions, for skipping empty words
        self.steps_down: dict[int, tuple[int, bool, int, int]] = {}
        self.steps_up: dict[int, tuple[int, bool, int, int]] = {}

    def lookup_step(self, tick: int, zero_for_one: bool, spacing: int) -> tuple[int, bool, int, int]:
        """(tick_next, initialized, sqrt price at tick_next, its liquidityNet) for a step starting at `tick`.

        TickBitmap.nextInitializedTickWithinOneWord clamped to [MIN_TICK, MAX_TICK] as the pool does.
        It depends only on the ticks, which swaps never change, so it is memoised per tick dict.
        """
        # `//` already is the contract's truncate-then-decrement for negative ticks.
        compressed = tick // spacing
        if zero_for_one:
            word_pos = compressed >> 8
            bit_pos = compressed & 0xFF
            masked = self.bitmap.get(word_pos, 0) & ((2 << bit_pos) - 1)
            if masked:
                tick_next, initialized = (compressed - bit_pos + masked.bit_length() - 1) * spacing, True
            else:
                tick_next, initialized = max((compressed - bit_pos) * spacing, MIN_TICK), False
            steps = self.steps_down
        else:
            compressed += 1
            word_pos = compressed >> 8
            bit_pos = compressed & 0xFF
            masked = self.bitmap.get(word_pos, 0) >> bit_pos
            if masked:
                tick_next, initialized = (compressed + (masked & -masked).bit_length() - 1) * spacing, True
            else:
                tick_next, initialized = min((compressed + 255 - bit_pos) * spacing, MAX_TICK), False
            steps = self.steps_up
        net = self.ticks[tick_next][1] if initialized else 0
        step = (tick_next, initialized, sqrt_ratio_at_tick_cached(tick_next), net)
        if len(steps) >= _STEP_MEMO_LIMIT:
            steps.clear()
        steps[tick] = step
        return step

    def skip_empty_words(self, tick: int, zero_for_one: bool, spacing: int) -> tuple[int, bool, int, int]:
        """The step target when liquidity is zero and the current word has nothing initialized.

        With zero liquidity every step to a word edge moves no tokens, so jumping straight to the next
        initialized tick in a farther word (or MIN_TICK / MAX_TICK) ends in the contract's state; the
        one exception, a price limit exactly on a skipped word edge, is handled in `UniswapV3Pool.swap`.
        """
        words = self.words
        if zero_for_one:
            index = bisect_left(words, (tick // spacing) >> 8) - 1
            if index < 0:
                return MIN_TICK, False, MIN_SQRT_RATIO, 0
            word = words[index]
            tick_next = ((word << 8) + self.bitmap[word].bit_length() - 1) * spacing
        else:
            index = bisect_right(words, (tick // spacing + 1) >> 8)
            if index >= len(words):
                return MAX_TICK, False, MAX_SQRT_RATIO, 0
            word = words[index]
            bits = self.bitmap[word]
            tick_next = ((word << 8) + (bits & -bits).bit_length() - 1) * spacing
        return tick_next, True, sqrt_ratio_at_tick_cached(tick_next), self.ticks[tick_next][1]


def _init(
    pool: UniswapV3Pool,
    address: str,
    token0: str,
    token1: str,
    fee: int,
    tick_spacing: int,
    sqrt_price_x96: int,
    tick: int,
    liquidity: int,
    index: _TickIndex,
    block_number: int,
    log_index: int,
    max_liquidity_per_tick: int,
) -> None:
    set_ = object.__setattr__
    set_(pool, "address", address)
    set_(pool, "token0", token0)
    set_(pool, "token1", token1)
    set_(pool, "fee", fee)
    set_(pool, "tick_spacing", tick_spacing)
    set_(pool, "sqrt_price_x96", sqrt_price_x96)
    set_(pool, "tick", tick)
    set_(pool, "liquidity", liquidity)
    set_(pool, "_index", index)
    set_(pool, "block_number", block_number)
    set_(pool, "log_index", log_index)
    set_(pool, "max_liquidity_per_tick", max_liquidity_per_tick)


def _new(
    base: UniswapV3Pool, sqrt_price_x96: int, tick: int, liquidity: int, index: _TickIndex
) -> UniswapV3Pool:
    """A pool like `base` with a new trading state, skipping __init__'s validation and rebuild."""
    pool = object.__new__(UniswapV3Pool)
    _init(
        pool,
        base.address,
        base.token0,
        base.token1,
        base.fee,
        base.tick_spacing,
        sqrt_price_x96,
        tick,
        liquidity,
        index,
        base.block_number,
        base.log_index,
        base.max_liquidity_per_tick,
    )
    return pool
