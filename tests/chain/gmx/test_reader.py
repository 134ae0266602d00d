"""The Reader / DataStore result types follow the SDK's ABI structs field for field, and the reads encode
their arguments and decode SDK-typed return data into them (no node here: the ABI is the shipped SDK one).

Live reads against the stand-in belong to the devnet tests."""

from __future__ import annotations

import re
from dataclasses import fields
from types import SimpleNamespace
from typing import Any

from eth_abi import decode, encode

from defibots.chain.gmx.abis import event_topic, find_entry, input_types, output_types, selector
from defibots.chain.gmx.events import ITEM_GROUPS, event_log_topics
from defibots.chain.gmx.orders import DecreasePositionSwapType, OrderType
from defibots.chain.gmx.reader import (
    ExecutionPriceResult,
    GmxReader,
    MarketPrices,
    MarketProps,
    OrderProps,
    PositionBorrowingFees,
    PositionFees,
    PositionFundingFees,
    PositionInfo,
    PositionLiquidationFees,
    PositionProFees,
    PositionProps,
    PositionReferralFees,
    PositionUiFees,
)
from defibots.protocols.gmx_v2.market import TokenPrices
from defibots.protocols.gmx_v2.position import position_key

from .sdk import artifact

ACCOUNT = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
MARKET = "0x70d95587d40A2caf56bd97485aB3Eec10Bee6336"
WETH = "0x82aF49447D8a07e3bd95BD0d56f35241523fBab1"
USDC = "0xaf88d065e77c8cC2239327C5EDb3A432268e5831"
READER = "0x0000000000000000000000000000000000000a11"
DATA_STORE = "0x0000000000000000000000000000000000000d5a"
USD = 10**30


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name.lstrip("_")).lower()


def _components(contract: str, function: str, *path: str) -> list[dict[str, Any]]:
    (out,) = find_entry(contract, function)["outputs"]
    node: dict[str, Any] = out
    for name in path:
        node = next(c for c in node["components"] if c["name"] == name)
    components: list[dict[str, Any]] = node["components"]
    return components


def _names(components: list[dict[str, Any]]) -> list[str]:
    return [_snake(c["name"]) for c in components]


def _field_names(cls: type) -> list[str]:
    return [f.name for f in fields(cls)]


def test_result_types_follow_the_sdk_structs() -> None:
    info = "getPositionInfo"
    assert _field_names(MarketProps) == _names(_components("SyntheticsReader", "getMarket"))
    assert _field_names(PositionInfo) == _names(_components("SyntheticsReader", info))
    flat_position = [
        n
        for part in ("addresses", "numbers", "flags")
        for n in _names(_components("SyntheticsReader", info, "position", part))
    ]
    assert _field_names(PositionProps) == flat_position
    for cls, part in [
        (PositionFees, ()),
        (PositionReferralFees, ("referral",)),
        (PositionProFees, ("pro",)),
        (PositionFundingFees, ("funding",)),
        (PositionBorrowingFees, ("borrowing",)),
        (PositionUiFees, ("ui",)),
        (PositionLiquidationFees, ("liquidation",)),
    ]:
        assert _field_names(cls) == _names(_components("SyntheticsReader", info, "fees", *part)), cls
    assert _field_names(ExecutionPriceResult) == _names(
        _components("SyntheticsReader", info, "executionPriceResult")
    )
    order = (
        ["key"]
        + [
            n
            for part in ("addresses", "numbers", "flags")
            for n in _names(_components("SyntheticsReader", "getAccountOrders", "order", part))
        ]
        + ["data_list"]
    )
    assert _field_names(OrderProps) == order


def test_event_log_data_groups_and_topics_follow_the_abi() -> None:
    entry = find_entry("EventEmitter", "EventLog2", kind="event")
    event_data = next(i for i in entry["inputs"] if i["name"] == "eventData")
    assert tuple(c["name"] for c in event_data["components"]) == ITEM_GROUPS
    stand_in = artifact("EventEmitter.sol", "EventEmitter")["abi"]
    ours = {e["name"]: event_topic(e) for e in stand_in if e["type"] == "event"}
    topics = event_log_topics()
    assert (ours["EventLog1"], ours["EventLog2"]) == (topics["EventLog1"], topics["EventLog2"])


class _Eth:
    """Answers eth_call with canned return data and records what was asked."""

    def __init__(self, result: bytes) -> None:
        self.result, self.calls = result, []

    def call(self, tx: dict[str, Any], block: Any) -> bytes:
        self.calls.append((tx, block))
        return self.result


def _reader(result: bytes) -> tuple[GmxReader, _Eth]:
    eth = _Eth(result)
    return GmxReader(SimpleNamespace(eth=eth), READER, DATA_STORE, block=123), eth  # type: ignore[arg-type]


POSITION = (
    (ACCOUNT, MARKET, USDC),
    (10_000 * USD, 3 * 10**18, 2_000 * 10**6, -7 * 10**25, 11, 12, 13, 14, 1_700_000_000, 0),
    (True,),
)


def test_position_info_call_and_result() -> None:
    entry = find_entry("SyntheticsReader", "getPositionInfo")
    key = position_key(ACCOUNT, MARKET, USDC, True)
    fees = (
        (bytes(32), "0x" + "00" * 20, ACCOUNT, 0, 0, 0, 0, 0, 0, 0),
        (0, 0, 0),
        (1_500, 0, 0, 21, 22, 23),
        (4 * USD, 4_000_000, 0, 0),
        ("0x" + "00" * 20, 0, 0),
        (0, 0, 0, 0),
        (999_900_000_000_000_000_000_000, 1_000_100_000_000_000_000_000_000),
        5 * 10**26,
        0,
        0,
        0,
        9_000_000,
        5_000_000,
        5_000_000,
        9_000_000,
        9_001_500,
        0,
    )
    execution = (-2 * 10**28, 3_010 * 10**12, False, 0, -2 * 10**28, 0)
    returned = encode(output_types(entry), [(key, POSITION, fees, execution, 30 * USD, 30 * USD, 29 * USD)])
    reader, eth = _reader(returned)
    prices = MarketPrices(
        TokenPrices(3_000 * 10**12, 3_001 * 10**12),
        TokenPrices(3_000 * 10**12, 3_001 * 10**12),
        TokenPrices(10**24, 10**24),
    )
    info = reader.position_info(key, prices)

    ((tx, block),) = eth.calls
    assert (tx["to"], block) == (READER, 123)
    assert tx["data"][:4] == selector(entry)
    args = decode(input_types(entry), tx["data"][4:])
    assert args[0].lower() == DATA_STORE.lower() and args[2] == key
    assert args[3] == ((3_000 * 10**12, 3_001 * 10**12), (3_000 * 10**12, 3_001 * 10**12), (10**24, 10**24))
    assert (args[4], args[6]) == (0, True)  # close all of it

    assert info.position.key == key
    assert (info.position.account, info.position.size_in_usd, info.position.is_long) == (
        ACCOUNT,
        10_000 * USD,
        True,
    )
    assert info.position.pending_impact_amount == -7 * 10**25
    assert info.fees.borrowing.borrowing_fee_amount == 4_000_000
    assert info.fees.funding.funding_fee_amount == 1_500
    assert info.fees.collateral_token_price == TokenPrices(
        999_900_000_000_000_000_000_000, 1_000_100_000_000_000_000_000_000
    )
    assert (info.fees.position_fee_amount, info.fees.total_cost_amount) == (5_000_000, 9_001_500)
    assert info.fees.referral.trader == ACCOUNT
    assert info.execution_price_result.execution_price == 3_010 * 10**12
    assert (info.base_pnl_usd, info.pnl_after_price_impact_usd) == (30 * USD, 29 * USD)


def test_account_orders_result() -> None:
    entry = find_entry("SyntheticsReader", "getAccountOrders")
    order = (
        (ACCOUNT, ACCOUNT, "0x" + "00" * 20, "0x" + "00" * 20, "0x" + "00" * 20, MARKET, WETH, []),
        (6, 0, 10_000 * USD, 0, 2_700 * 10**12, 2_690 * 10**12, 320_000 * 10**9, 0, 0, 1_700_000_000, 0, 0),
        (True, False, True, True),
        [bytes.fromhex("01" * 32)],
    )
    key = bytes.fromhex("5a" * 32)
    reader, eth = _reader(encode(output_types(entry), [[(key, order)]]))
    (got,) = reader.account_orders(ACCOUNT.lower())
    args = decode(input_types(entry), eth.calls[0][0]["data"][4:])
    assert (args[1].lower(), args[2], args[3]) == (ACCOUNT.lower(), 0, 1000)
    assert got.key == key and got.account == ACCOUNT and got.initial_collateral_token == WETH
    assert got.order_type is OrderType.STOP_LOSS_DECREASE
    assert got.decrease_position_swap_type is DecreasePositionSwapType.NO_SWAP
    assert (got.trigger_price, got.execution_fee, got.is_frozen) == (2_700 * 10**12, 320_000 * 10**9, True)
    assert got.swap_path == () and got.data_list == (bytes.fromhex("01" * 32),)


def test_markets_and_data_store_reads() -> None:
    entry = find_entry("SyntheticsReader", "getMarkets")
    reader, _ = _reader(encode(output_types(entry), [[(MARKET, WETH, WETH, USDC)]]))
    assert reader.markets() == [MarketProps(MARKET, WETH, WETH, USDC)]
    reader, eth = _reader(encode(["uint256"], [42 * USD]))
    assert reader.get_uint(bytes(32)) == 42 * USD
    assert eth.calls[0][0]["to"] == DATA_STORE
    assert eth.calls[0][0]["data"][:4] == selector(find_entry("DataStore", "getUint"))
    reader, _ = _reader(encode(["bool"], [True]))
    assert reader.get_bool(bytes(32)) is True
