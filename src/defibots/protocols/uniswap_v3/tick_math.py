"""TickMath: sqrt(1.0001^tick) in Q64.96 and its inverse, bit-exact to v3-core 1.0.1."""

from __future__ import annotations

import math

from defibots.protocols.uniswap_v3.errors import UniswapV3Revert

MIN_TICK = -887272
MAX_TICK = 887272
MIN_SQRT_RATIO = 4295128739
MAX_SQRT_RATIO = 1461446703485210103287273052203988822378723970342
MAX_UINT256 = (1 << 256) - 1

# (bit of |tick|, Q128 multiplier) exactly as in TickMath.getSqrtRatioAtTick.
_RATIO_STEPS = (
    (0x2, 0xFFF97272373D413259A46990580E213A),
    (0x4, 0xFFF2E50F5F656932EF12357CF3C7FDCC),
    (0x8, 0xFFE5CACA7E10E4E61C3624EAA0941CD0),
    (0x10, 0xFFCB9843D60F6159C9DB58835C926644),
    (0x20, 0xFF973B41FA98C081472E6896DFB254C0),
    (0x40, 0xFF2EA16466C96A3843EC78B326B52861),
    (0x80, 0xFE5DEE046A99A2A811C461F1969C3053),
    (0x100, 0xFCBE86C7900A88AEDCFFC83B479AA3A4),
    (0x200, 0xF987A7253AC413176F2B074CF7815E54),
    (0x400, 0xF3392B0822B70005940C7A398E4B70F3),
    (0x800, 0xE7159475A2C29B7443B29C7FA6E889D9),
    (0x1000, 0xD097F3BDFD2022B8845AD8F792AA5825),
    (0x2000, 0xA9F746462D870FDF8A65DC1F90E061E5),
    (0x4000, 0x70D869A156D2A1B890BB3DF62BAF32F7),
    (0x8000, 0x31BE135F97D08FD981231505542FCFA6),
    (0x10000, 0x9AA508B5B7A84E1C677DE54F3E99BC9),
    (0x20000, 0x5D6AF8DEDB81196699C329225EE604),
    (0x40000, 0x2216E584F5FA1EA926041BEDFE98),
    (0x80000, 0x48A170391F7DC42444E8FA2),
)


def get_sqrt_ratio_at_tick(tick: int) -> int:
    """TickMath.getSqrtRatioAtTick: reverts 'T' outside [MIN_TICK, MAX_TICK]."""
    abs_tick = -tick if tick < 0 else tick
    if abs_tick > MAX_TICK:
        raise UniswapV3Revert("T", f"tick {tick} out of range")
    ratio = 0xFFFCB933BD6FAD37AA2D162D1A594001 if abs_tick & 0x1 else 0x100000000000000000000000000000000
    for bit, multiplier in _RATIO_STEPS:
        if abs_tick & bit:
            ratio = (ratio * multiplier) >> 128
    if tick > 0:
        ratio = MAX_UINT256 // ratio
    return (ratio >> 32) + (1 if ratio & 0xFFFFFFFF else 0)


# Pure function of the tick, so memoised: the swap loop asks for the same tick boundaries over and over.
_SQRT_RATIO_CACHE: dict[int, int] = {}
_SQRT_RATIO_CACHE_LIMIT = 1 << 16


def sqrt_ratio_at_tick_cached(tick: int) -> int:
    """get_sqrt_ratio_at_tick through a bounded memo (the swap hot path inlines the same lookup)."""
    value = _SQRT_RATIO_CACHE.get(tick)
    if value is None:
        value = get_sqrt_ratio_at_tick(tick)
        if len(_SQRT_RATIO_CACHE) >= _SQRT_RATIO_CACHE_LIMIT:
            _SQRT_RATIO_CACHE.clear()
        _SQRT_RATIO_CACHE[tick] = value
    return value


def get_tick_at_sqrt_ratio(sqrt_price_x96: int) -> int:
    """TickMath.getTickAtSqrtRatio, step for step: the greatest tick whose sqrt ratio is <= the price.

    Reverts 'R' unless MIN_SQRT_RATIO <= price < MAX_SQRT_RATIO.
    """
    if not MIN_SQRT_RATIO <= sqrt_price_x96 < MAX_SQRT_RATIO:
        raise UniswapV3Revert("R", f"sqrt price {sqrt_price_x96} out of range")
    ratio = sqrt_price_x96 << 32
    msb = ratio.bit_length() - 1
    r = ratio >> (msb - 127) if msb >= 128 else ratio << (127 - msb)
    log_2 = (msb - 128) << 64
    for shift in range(63, 49, -1):
        r = (r * r) >> 127
        f = r >> 128
        log_2 |= f << shift
        r >>= f
    log_sqrt10001 = log_2 * 255738958999603826347141
    tick_low = (log_sqrt10001 - 3402992956809132418596140100660247210) >> 128
    tick_high = (log_sqrt10001 + 291339464771989622907027621153398088495) >> 128
    if tick_low == tick_high:
        return tick_low
    return tick_high if get_sqrt_ratio_at_tick(tick_high) <= sqrt_price_x96 else tick_low


_LOG_Q96 = 96 * math.log(2)
_TICKS_PER_LOG = 2 / math.log(1.0001)
_SAFE_MARGIN = 1e-4


def tick_at_sqrt_ratio_fast(sqrt_price_x96: int) -> int:
    """Same result as get_tick_at_sqrt_ratio, from one float log and at most one (cached) sqrt ratio.

    The integer sqrt ratios deviate from the real sqrt(1.0001^t) by < 5e-6 tick and the float log by
    ~1e-9 tick, so an estimate more than 1e-4 tick from an integer has the right floor. Near an
    integer c the answer is c or c - 1: the greatest tick whose sqrt ratio is <= the price decides.
    """
    if not MIN_SQRT_RATIO <= sqrt_price_x96 < MAX_SQRT_RATIO:
        raise UniswapV3Revert("R", f"sqrt price {sqrt_price_x96} out of range")
    x = (math.log(sqrt_price_x96) - _LOG_Q96) * _TICKS_PER_LOG
    tick = math.floor(x)
    fraction = x - tick
    if _SAFE_MARGIN < fraction < 1 - _SAFE_MARGIN:
        return tick
    nearest = tick if fraction <= _SAFE_MARGIN else tick + 1
    return nearest if sqrt_ratio_at_tick_cached(nearest) <= sqrt_price_x96 else nearest - 1
