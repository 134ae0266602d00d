"""The inventory book: band checks, rebalance plans drawn from the richest source without taking any source
below its low band, shortfalls when nothing can cover, WETH on chain and ETH on a venue as one asset, etas
from the transfer time, and (hypothesis) a plan that, applied, puts every drifting place back in its band."""

from __future__ import annotations

import ast
import sys
from decimal import Decimal as D
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from defibots.execution import inventory
from defibots.execution.inventory import Band, InventoryBook, InventorySettings, Transfer

NOW = 1_733_000_000_000
MINUTE = 60_000


def band(target: str, low: str, high: str) -> Band:
    return Band(target=D(target), low=D(low), high=D(high))


def config(**overrides: object) -> InventorySettings:
    eth = {"target": "10", "low": "6", "high": "14"}
    usdt = {"target": "30000", "low": "20000", "high": "40000"}
    raw: dict[str, object] = {
        "bands": {
            "chain": {"WETH": eth, "USDT": usdt},
            "binance": {"ETH": eth, "USDT": usdt},
            "bybit": {"ETH": {"target": "5", "low": "3", "high": "8"}},
        },
        "transfer_minutes": {"ETH": 15, "USDT": 30},
    }
    raw.update(overrides)
    return InventorySettings.model_validate(raw)  # as the TOML section arrives: strings and numbers


def book(**balances: dict[str, str]) -> InventoryBook:
    b = InventoryBook(config())
    for place, assets in balances.items():
        for asset, amount in assets.items():
            b.set(place, asset, D(amount))
    return b


def apply_plan(b: InventoryBook, plan: list[Transfer]) -> None:
    for t in plan:
        if t.source is not None and t.destination is not None:
            b.apply(t.source, t.source_asset, -t.amount)
            b.apply(t.destination, t.destination_asset, t.amount)


def test_the_book_is_pure_stdlib_and_pydantic_only() -> None:
    tree = ast.parse(Path(inventory.__file__).read_text())
    modules = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    modules |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    roots = {m.split(".")[0] for m in modules}
    assert roots - {"pydantic", "__future__"} <= set(sys.stdlib_module_names), roots


def test_bands_are_checked_at_load_and_in_the_book() -> None:
    with pytest.raises(ValidationError, match="low <= target <= high"):
        band("5", "6", "8")
    with pytest.raises(ValidationError, match="no entry for ETH"):
        config(transfer_minutes={"USDT": 30})
    assert config().same_asset == {"WETH": "ETH"}

    b = book(
        chain={"WETH": "6", "USDT": "40000"},  # both on their band edges: in band
        binance={"ETH": "5.999", "USDT": "40000.01"},
    )
    drifts = b.drifts()
    assert [(d.place, d.asset, d.need) for d in drifts] == [
        ("binance", "ETH", D("4.001")),
        ("binance", "USDT", D("-10000.01")),
    ]
    assert drifts[0].describe() == "binance ETH 5.999 below band [6, 14] (target 10, short 4.001)"
    assert (
        drifts[1].describe()
        == "binance USDT 40000.01 above band [20000, 40000] (target 30000, over 10000.01)"
    )
    assert b.unknown() == [("bybit", "ETH")]  # never fetched: not a drift, not a source

    b.apply("binance", "ETH", D("0.001"))  # a fill brings it back onto the edge
    assert b.get("binance", "ETH") == D(6) and [d.asset for d in b.drifts()] == ["USDT"]
    with pytest.raises(TypeError, match="Decimal whole tokens"):
        b.apply("binance", "ETH", 0.1)  # type: ignore[arg-type]


def test_plan_covers_a_shortage_from_the_richest_source_weth_and_eth_as_one_asset() -> None:
    b = book(chain={"WETH": "14.5"}, binance={"ETH": "5.9"}, bybit={"ETH": "5.5"})
    short, over = b.drifts()
    assert (short.place, short.asset, short.need) == ("binance", "ETH", D("4.1"))
    assert (over.place, over.asset, over.need) == ("chain", "WETH", D("-4.5"))
    (t,) = b.rebalance_plan(NOW)
    # the chain holds 4.5 WETH above its target, bybit 0.5 ETH: the chain is the richest and covers it all,
    # which also brings the chain back into its band
    assert t == Transfer("ETH", "chain", "WETH", "binance", "ETH", D("4.1"), NOW + 15 * MINUTE)
    assert t.describe() == f"move 4.1 ETH chain (WETH) -> binance (ETH), eta {NOW + 15 * MINUTE}"
    apply_plan(b, [t])
    assert (b.get("chain", "WETH"), b.get("binance", "ETH"), b.get("bybit", "ETH")) == (
        D("10.4"),
        D(10),
        D("5.5"),
    )
    assert b.drifts() == []


def test_plan_splits_across_sources_into_the_band_before_the_target() -> None:
    b = book(chain={"WETH": "13"}, binance={"ETH": "2"}, bybit={"ETH": "7.5"})
    plan = b.rebalance_plan(NOW)
    # binance needs 4 to its low and 8 to its target; the sources' surplus above target is 3 + 2.5
    assert [(t.source, t.source_asset, t.destination, t.amount, t.shortfall) for t in plan] == [
        ("chain", "WETH", "binance", D(3), D(0)),
        ("bybit", "ETH", "binance", D("2.5"), D("2.5")),
    ]
    assert all(t.eta_ms == NOW + 15 * MINUTE for t in plan)
    assert plan[1].describe().endswith(", 2.5 still uncovered")
    apply_plan(b, plan)
    assert (b.get("chain", "WETH"), b.get("bybit", "ETH"), b.get("binance", "ETH")) == (D(10), D(5), D("7.5"))
    assert b.drifts() == []


def test_a_source_is_drawn_to_its_low_band_never_below_and_the_rest_is_a_shortfall() -> None:
    # the chain sits below its own target (not a source); bybit can give 1 above target and 2 more to its low
    b = book(chain={"WETH": "7"}, binance={"ETH": "0"}, bybit={"ETH": "6"})
    (t,) = b.rebalance_plan(NOW)
    assert (t.source, t.destination, t.amount, t.shortfall) == ("bybit", "binance", D(3), D(7))
    apply_plan(b, [t])
    assert (b.get("bybit", "ETH"), b.get("chain", "WETH")) == (D(3), D(7))  # bybit exactly at its low
    (still,) = b.drifts()
    assert (still.place, still.amount) == ("binance", D(3))


def test_shortfall_when_nothing_can_cover_and_eta_from_the_transfer_time() -> None:
    b = book(chain={"USDT": "25000"}, binance={"USDT": "1000"})  # the chain is below its own target
    (t,) = b.rebalance_plan(NOW)
    assert t == Transfer("USDT", None, "USDT", "binance", "USDT", D(0), NOW + 30 * MINUTE, D(29000))
    assert t.describe() == "binance USDT short 29000: no place can spare it"

    slow = InventoryBook(config(transfer_minutes={"ETH": 2.5, "USDT": 30}))
    slow.set("chain", "WETH", D(14))
    slow.set("binance", "ETH", D("5.5"))
    (t,) = slow.rebalance_plan(NOW)
    assert (t.amount, t.eta_ms, t.shortfall) == (D(4), NOW + 150_000, D("0.5"))  # 2.5 minutes


def test_an_excess_goes_where_there_is_room_or_is_reported() -> None:
    b = book(chain={"USDT": "55000"}, binance={"USDT": "22000"})
    (t,) = b.rebalance_plan(NOW)
    # the chain is 15000 over its high: binance takes 8000 to its target, then 7000 more of its room
    assert (t.source, t.destination, t.amount, t.shortfall) == ("chain", "binance", D(15000), D(10000))
    assert t.eta_ms == NOW + 30 * MINUTE
    apply_plan(b, [t])
    assert b.get("chain", "USDT") == D(40000) and b.get("binance", "USDT") == D(37000) and b.drifts() == []

    b = book(chain={"WETH": "20"})
    (t,) = b.rebalance_plan(NOW)
    assert (t.source, t.destination, t.shortfall) == ("chain", None, D(10))
    assert t.describe() == "chain WETH over by 10: no place has room for it"


def test_one_excess_feeds_one_shortage_once() -> None:
    b = book(chain={"WETH": "19"}, binance={"ETH": "1"}, bybit={"ETH": "5"})
    plan = b.rebalance_plan(NOW)
    assert [(t.source, t.destination, t.amount, t.shortfall) for t in plan] == [
        ("chain", "binance", D(9), D(0))
    ]
    apply_plan(b, plan)
    assert b.drifts() == [] and b.get("chain", "WETH") == D(10) and b.get("bybit", "ETH") == D(5)


PLACES = {"chain": "WETH", "binance": "ETH", "bybit": "ETH", "okx": "ETH"}
amounts = st.decimals(min_value=0, max_value=1000, places=4, allow_nan=False, allow_infinity=False)


@st.composite
def bands_and_balances(draw: st.DrawFn) -> tuple[dict[str, Band], dict[str, D]]:
    bands: dict[str, Band] = {}
    balances: dict[str, D] = {}
    for place in PLACES:
        low, target, high = sorted(draw(st.lists(amounts, min_size=3, max_size=3)))
        bands[place] = Band(target=target, low=low, high=high)
        balances[place] = draw(amounts)
    return bands, balances


@settings(max_examples=300, deadline=None)
@given(bands_and_balances())
def test_applying_a_plan_puts_every_drifting_place_in_its_band_when_sources_suffice(
    case: tuple[dict[str, Band], dict[str, D]],
) -> None:
    bands, balances = case
    b = InventoryBook(
        InventorySettings(
            bands={place: {asset: bands[place]} for place, asset in PLACES.items()},
            transfer_minutes={"ETH": 15},
        )
    )
    for place, asset in PLACES.items():
        b.set(place, asset, balances[place])
    total = sum(balances.values(), D(0))
    short = {p for p in PLACES if balances[p] < bands[p].low}
    over = {p for p in PLACES if balances[p] > bands[p].high}
    plan = b.rebalance_plan(NOW)
    apply_plan(b, plan)
    after = {p: b.get(p, a) for p, a in PLACES.items()}

    def in_band(p: str) -> bool:
        return bands[p].low <= after[p] <= bands[p].high

    assert sum(after.values(), D(0)) == total  # transfers only move tokens
    assert all(in_band(p) for p in PLACES if p not in short | over)  # a source or sink stays in its band
    assert all(t.amount > 0 and t.eta_ms == NOW + 15 * MINUTE for t in plan if t.source and t.destination)
    # sources suffice: what the short places lack of their lows, the places above target hold above theirs
    need = sum((bands[p].low - balances[p] for p in short), D(0))
    sources = sum((balances[p] - bands[p].low for p in PLACES if balances[p] > bands[p].target), D(0))
    if need <= sources:
        assert all(in_band(p) for p in short)
    room = sum((bands[p].high - balances[p] for p in PLACES if balances[p] < bands[p].target), D(0))
    if not short and sum((balances[p] - bands[p].high for p in over), D(0)) <= room:
        assert all(in_band(p) for p in over)
    for p in PLACES:  # whatever is still out of band, the plan says so
        if not in_band(p):
            assert any(t.shortfall > 0 and p in (t.source, t.destination) for t in plan), p
