"""The venue's synthetic market maker: the ladder of quotes it rests around a symbol's mid.

`MarketSpec.levels` quotes per side, `spread_ticks` apart at the top and `level_step_ticks` apart below,
growing by `depth_growth` per level, each size jittered by the venue's seeded `rng`. The matching engine
replaces the whole ladder whenever the mid moves, so taker orders fill against it and our resting orders
are hit when the mid moves through them.
"""

from __future__ import annotations

import random
from decimal import ROUND_FLOOR, Decimal

from defibots.cex.book import Side, floor_to_step
from defibots.devnet.exchange.market import MarketSpec

Quote = tuple[Side, Decimal, Decimal]  # (side, price, base quantity)


def maker_ladder(spec: MarketSpec, mid: Decimal, rng: random.Random) -> list[Quote]:
    """The market maker's quotes around `mid`, nearest to the mid first, bid and ask alternating."""
    tick = spec.tick_size
    half = tick * spec.spread_ticks / 2
    best_bid = ((mid - half) / tick).to_integral_value(rounding=ROUND_FLOOR) * tick
    best_ask = best_bid + tick * spec.spread_ticks
    step = tick * spec.level_step_ticks
    quotes: list[Quote] = []
    for i in range(spec.levels):
        size = spec.top_qty * (1 + spec.depth_growth * i)
        side: Side
        for side, price in (("buy", best_bid - step * i), ("sell", best_ask + step * i)):
            jitter = Decimal(rng.randint(70, 130)) / 100
            qty = max(floor_to_step(size * jitter, spec.lot_size), spec.lot_size)
            if price > 0:
                quotes.append((side, price, qty))
    return quotes
