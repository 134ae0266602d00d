"""TickBitmap: one bit per initialized (spacing-compressed) tick, 256 ticks per word.

Solidity's `/` truncates toward zero and the contract then decrements `compressed` for negative
ticks that are not multiples of the spacing; together that is a floor division. This module keeps
the contract's two-step form (so it reads like the source); the pool's hot path uses `tick // spacing`,
which is the same number, and must not apply the decrement a second time.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping

from defibots.protocols.uniswap_v3.errors import UniswapV3Revert

MAX_UINT256 = (1 << 256) - 1


def _solidity_div(a: int, b: int) -> int:
    """Signed division truncating toward zero, as Solidity's `/` on int24."""
    quotient = abs(a) // abs(b)
    return quotient if (a < 0) == (b < 0) else -quotient


def _int24(value: int) -> int:
    """Unchecked int24 arithmetic result (0.7 wraps); never wraps for ticks a pool can have."""
    return ((value + (1 << 23)) & 0xFFFFFF) - (1 << 23)


def position(compressed: int) -> tuple[int, int]:
    """(word position, bit position) of a compressed tick: `tick >> 8` and `uint8(tick % 256)`."""
    return compressed >> 8, compressed & 0xFF


def flip_tick(bitmap: MutableMapping[int, int], tick: int, tick_spacing: int) -> None:
    """Toggle a tick's bit in a bitmap the caller owns; empty words are dropped from the mapping."""
    if tick % tick_spacing != 0:
        raise UniswapV3Revert("", f"tick {tick} is not a multiple of the spacing {tick_spacing}")
    word_pos, bit_pos = position(_solidity_div(tick, tick_spacing))
    word = bitmap.get(word_pos, 0) ^ (1 << bit_pos)
    if word:
        bitmap[word_pos] = word
    else:
        bitmap.pop(word_pos, None)


def next_initialized_tick_within_one_word(
    bitmap: Mapping[int, int], tick: int, tick_spacing: int, lte: bool
) -> tuple[int, bool]:
    """The next initialized tick at or left of (`lte`) / right of `tick`, looking at one word only.

    Returns (tick, initialized); when nothing is set in the word the word's edge comes back with
    initialized=False, exactly as the contract does.
    """
    compressed = _solidity_div(tick, tick_spacing)
    if tick < 0 and tick % tick_spacing != 0:
        compressed -= 1  # round towards negative infinity
    if lte:
        word_pos, bit_pos = position(compressed)
        mask = (1 << bit_pos) - 1 + (1 << bit_pos)
        masked = bitmap.get(word_pos, 0) & mask
        if masked:
            msb = masked.bit_length() - 1
            return _int24(_int24(compressed - (bit_pos - msb)) * tick_spacing), True
        return _int24(_int24(compressed - bit_pos) * tick_spacing), False
    word_pos, bit_pos = position(compressed + 1)
    mask = ~((1 << bit_pos) - 1) & MAX_UINT256
    masked = bitmap.get(word_pos, 0) & mask
    if masked:
        lsb = (masked & -masked).bit_length() - 1
        return _int24(_int24(compressed + 1 + (lsb - bit_pos)) * tick_spacing), True
    return _int24(_int24(compressed + 1 + (255 - bit_pos)) * tick_spacing), False


def bitmap_from_ticks(ticks: Mapping[int, object] | list[int], tick_spacing: int) -> dict[int, int]:
    """The bitmap a pool holds for these initialized ticks (what flipping each once produces)."""
    bitmap: dict[int, int] = {}
    for tick in ticks:
        flip_tick(bitmap, tick, tick_spacing)
    return bitmap
