"""Executable prices against a hand-built book: every expected number is worked out in the comments."""

from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from defibots.cex.book import (
    Depth,
    InsufficientDepth,
    Level,
    executable_price,
    floor_to_step,
    parse_decimal,
    to_units,
    walk,
    walk_quote,
)

BOOK = Depth(
    venue="test",
    symbol="ETH/USDT",
    bids=(Level(D("2999.5"), D("1")), Level(D("2999"), D("2")), Level(D("2998"), D("5"))),
    asks=(Level(D("3000.5"), D("1")), Level(D("3001"), D("2")), Level(D("3002"), D("5"))),
    timestamp_ms=1,
)


def test_buy_walks_asks_and_pays_fee_in_base() -> None:
    fill = walk(BOOK, "buy", D("2.5"), taker_fee_bps=10)
    # 1 @ 3000.5 + 1.5 @ 3001 = 3000.5 + 4501.5 = 7502
    assert fill.legs == (Level(D("3000.5"), D("1")), Level(D("3001"), D("1.5")))
    assert fill.quote_qty == D("7502")
    assert fill.average_price == D("3000.8")
    # fee 0.1% of the base received: 0.001 + 0.0015 = 0.0025 ETH
    assert fill.fee == D("0.0025") and fill.fee_asset == "base"
    assert fill.net_base == D("2.4975")
    assert fill.effective_price == D("7502") / D("2.4975")
    assert executable_price(BOOK, "buy", D("2.5"), 10) == fill.effective_price


def test_sell_walks_bids_and_pays_fee_in_quote() -> None:
    fill = walk(BOOK, "sell", D("3"), taker_fee_bps=10)
    # 1 @ 2999.5 + 2 @ 2999 = 8997.5 quote; fee 8.9975
    assert fill.quote_qty == D("8997.5")
    assert fill.fee == D("8.9975") and fill.fee_asset == "quote"
    assert fill.net_quote == D("8988.5025")
    assert fill.effective_price == D("8988.5025") / 3


def test_fee_quantum_rounds_each_leg_up() -> None:
    fill = walk(BOOK, "sell", D("0.0003"), taker_fee_bps=10, fee_quantum=D("0.00000001"))
    # 0.0003 * 2999.5 = 0.89985 quote; fee 0.00089985 is exact at 8 decimals
    assert fill.fee == D("0.00089985")
    fill = walk(BOOK, "sell", D("0.00033"), taker_fee_bps=10, fee_quantum=D("0.00000001"))
    # 0.00033 * 2999.5 = 0.989835; fee 0.000989835 -> rounded up to 0.00098984
    assert fill.fee == D("0.00098984")


def test_limit_price_and_thin_book() -> None:
    fill = walk(BOOK, "buy", D("5"), limit_price=D("3001"))
    assert fill.base_qty == D("3") and not fill.complete
    assert not walk(BOOK, "buy", D("100")).complete
    with pytest.raises(InsufficientDepth):
        executable_price(BOOK, "buy", D("8.0001"))
    assert executable_price(BOOK, "buy", D("8")) == (D("3000.5") + D("6002") + D("15010")) / 8


def test_walk_quote_takes_whole_lots() -> None:
    fill = walk_quote(BOOK, "buy", D("4000"), D("0.01"))
    # level 1: 1 ETH for 3000.5; left 999.5 -> floor(999.5/3001, 0.01) = 0.33 ETH for 990.33
    assert fill.legs == (Level(D("3000.5"), D("1")), Level(D("3001"), D("0.33")))
    assert fill.quote_qty == D("3990.83")


def test_depth_rejects_unsorted_or_empty_levels() -> None:
    with pytest.raises(ValueError, match="sorted"):
        Depth("t", "X/Y", bids=(Level(D(1), D(1)), Level(D(2), D(1))), asks=(), timestamp_ms=0)
    with pytest.raises(ValueError, match="non-positive"):
        Depth("t", "X/Y", bids=(), asks=(Level(D(1), D(0)),), timestamp_ms=0)


def test_parsing_and_units() -> None:
    assert parse_decimal(3000.01) == D("3000.01")
    assert parse_decimal(0.1) == D("0.1")
    assert parse_decimal("2999.99000000") == D("2999.99")
    with pytest.raises(ValueError):
        parse_decimal("NaN")
    assert to_units(D("1.2345678"), 6) == 1_234_567
    assert to_units(D("3000.01"), 18) == 3000_010_000_000_000_000_000
    assert floor_to_step(D("1.23456"), D("0.001")) == D("1.234")


@given(st.decimals(min_value=D("0.0001"), max_value=D("8"), places=4))
def test_buy_price_never_beats_best_ask_and_grows_with_size(qty: D) -> None:
    small = executable_price(BOOK, "buy", qty)
    assert small >= D("3000.5")
    assert executable_price(BOOK, "buy", min(qty + D("0.5"), D("8"))) >= small
