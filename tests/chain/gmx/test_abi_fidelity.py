"""The GMX stand-in (out-gmx forge artifacts) speaks the SDK's ABI, and the ABIs we ship are the SDK's.

For every function and event the client uses, the stand-in's selector / topic and its canonical input and
output types (tuples expanded) equal those of @gmx-io/sdk 1.4.0; the v2.1 createOrder overload equals the
one in gmx-python-ng's ABI.
"""

from __future__ import annotations

from typing import Any

import pytest
from eth_utils import keccak

from defibots.chain.gmx.abis import (
    GMX_ABIS,
    event_topic,
    find_entry,
    input_types,
    load_gmx_abi,
    output_types,
    selector,
    signature,
)
from defibots.chain.gmx.orders import (
    CreateOrderEncoding,
    DecreasePositionSwapType,
    OrderType,
    create_order_entry,
)

from .sdk import STAND_INS, artifact, run_node, sdk_abis, v21_exchange_router_abi

CREATE_ORDER_V22 = (
    "createOrder(((address,address,address,address,address,address,address[]),"
    "(uint256,uint256,uint256,uint256,uint256,uint256,uint256,uint256),uint8,uint8,bool,bool,bool,bytes32,bytes32[]))"
)
CREATE_ORDER_V21 = CREATE_ORDER_V22.replace(",bytes32[]))", "))")

# SDK contract -> the functions the client calls (and the stand-in must implement), by name or signature
CLIENT_FUNCTIONS = {
    "ExchangeRouter": ["multicall", "sendWnt", "sendTokens", CREATE_ORDER_V22, "cancelOrder", "updateOrder"],
    "SyntheticsRouter": ["pluginTransfer"],
    "DataStore": ["getUint", "getInt", "getBool", "getAddress"],
    "SyntheticsReader": [
        "getMarket",
        "getMarkets",
        "getPosition",
        "getAccountPositions",
        "getPositionInfo",
        "getOrder",
        "getAccountOrders",
    ],
}

# The stand-in's functions that are not in the SDK's ABI (documented extensions).
STAND_IN_EXTENSIONS = {
    "ExchangeRouter": {CREATE_ORDER_V21, "wnt()"},
    "DataStore": {"getBytes(bytes32)", "setBytes(bytes32,bytes)", "removeBytes(bytes32)"},
}

# Errors the stand-in declares that GMX does not have.
STAND_IN_ONLY_ERRORS = {"SwapPathNotSupported()", "UnsupportedImpactExponent(uint256)"}

# From ../shared/PROTOCOLS.md
KNOWN_SELECTORS = {
    ("ExchangeRouter", CREATE_ORDER_V22): "f59c48eb",
    ("ExchangeRouter", "multicall"): "ac9650d8",
    ("ExchangeRouter", "sendWnt"): "7d39aaf1",
    ("ExchangeRouter", "sendTokens"): "e6d66ac8",
    ("ExchangeRouter", "cancelOrder"): "7489ec23",
    ("SyntheticsReader", "getAccountPositions"): "77cfb162",
    ("SyntheticsReader", "getPositionInfo"): "0815bce1",
}


def _stand_in(contract: str) -> dict[str, Any]:
    return artifact(*STAND_INS[contract])


def _stand_in_entry(contract: str, sig: str, kind: str = "function") -> dict[str, Any]:
    found = [e for e in _stand_in(contract)["abi"] if e.get("type") == kind and signature(e) == sig]
    assert len(found) == 1, f"stand-in {STAND_INS[contract][1]} has no {kind} {sig}"
    return found[0]


@pytest.fixture(scope="module")
def sdk() -> dict[str, list[dict[str, Any]]]:
    return sdk_abis(list(GMX_ABIS))


def test_shipped_abis_equal_the_sdk_source(sdk: dict[str, list[dict[str, Any]]]) -> None:
    for name in GMX_ABIS:
        assert list(load_gmx_abi(name)) == sdk[name], name


FUNCTIONS = [(c, f) for c, fs in CLIENT_FUNCTIONS.items() for f in fs]


@pytest.mark.parametrize(("contract", "function"), FUNCTIONS, ids=[f"{c}.{f[:20]}" for c, f in FUNCTIONS])
def test_stand_in_function_matches_sdk(contract: str, function: str) -> None:
    sdk_entry = find_entry(contract, function)
    sig = signature(sdk_entry)
    ours = _stand_in_entry(contract, sig)
    assert _stand_in(contract)["methodIdentifiers"][sig] == selector(sdk_entry).hex()
    assert input_types(ours) == input_types(sdk_entry)
    assert output_types(ours) == output_types(sdk_entry)
    assert ours["stateMutability"] == sdk_entry["stateMutability"]


@pytest.mark.parametrize(("contract", "function"), list(KNOWN_SELECTORS))
def test_selectors_equal_the_protocol_notes(contract: str, function: str) -> None:
    assert selector(find_entry(contract, function)).hex() == KNOWN_SELECTORS[(contract, function)]


@pytest.mark.parametrize("contract", list(STAND_INS))
def test_every_stand_in_function_is_the_sdks_or_a_known_extension(contract: str) -> None:
    sdk_entries = {signature(e): e for e in load_gmx_abi(contract) if e["type"] == "function"}
    extra = set()
    for entry in _stand_in(contract)["abi"]:
        if entry["type"] != "function":
            continue
        sig = signature(entry)
        if sig not in sdk_entries:
            extra.add(sig)
            continue
        assert output_types(entry) == output_types(sdk_entries[sig]), sig
    assert extra == STAND_IN_EXTENSIONS.get(contract, set())


@pytest.mark.parametrize("event", ["EventLog1", "EventLog2"])
def test_event_emitter_events_match_sdk(event: str) -> None:
    sdk_entry = find_entry("EventEmitter", event, kind="event")
    ours = _stand_in_entry("EventEmitter", signature(sdk_entry), kind="event")
    assert event_topic(ours) == event_topic(sdk_entry)
    assert [(i["name"], i["indexed"]) for i in ours["inputs"]] == [
        (i["name"], i["indexed"]) for i in sdk_entry["inputs"]
    ]
    assert input_types(ours) == input_types(sdk_entry)
    assert not ours["anonymous"] and not sdk_entry["anonymous"]


def test_event_topics_equal_the_protocol_notes() -> None:
    topic1 = event_topic(find_entry("EventEmitter", "EventLog1", kind="event")).hex()
    topic2 = event_topic(find_entry("EventEmitter", "EventLog2", kind="event")).hex()
    assert (topic1[:8], topic1[-4:]) == ("137a4406", "f160")
    assert (topic2[:8], topic2[-4:]) == ("468a25a7", "4dc5")


def test_stand_in_errors_are_gmx_errors() -> None:
    sdk_errors = {signature(e) for e in load_gmx_abi("CustomErrors")}
    ours = {signature(e) for e in artifact("GmxTypes.sol", "Errors")["abi"] if e["type"] == "error"}
    assert ours - sdk_errors == STAND_IN_ONLY_ERRORS


def test_create_order_v21_is_gmx_python_ng_and_the_second_stand_in_overload() -> None:
    wheel = [e for e in v21_exchange_router_abi() if e.get("name") == "createOrder"]
    assert len(wheel) == 1
    assert selector(wheel[0]).hex() == "6996807b"
    assert signature(wheel[0]) == CREATE_ORDER_V21
    overloads = {
        sig: sel
        for sig, sel in _stand_in("ExchangeRouter")["methodIdentifiers"].items()
        if sig.startswith("createOrder(")
    }
    assert overloads == {CREATE_ORDER_V22: "f59c48eb", CREATE_ORDER_V21: "6996807b"}
    ours = create_order_entry(CreateOrderEncoding.V2_1)
    assert input_types(ours) == input_types(wheel[0])
    assert [c["name"] for c in ours["inputs"][0]["components"]] == [
        c["name"] for c in wheel[0]["inputs"][0]["components"]
    ]
    assert selector(create_order_entry(CreateOrderEncoding.V2_2)).hex() == "f59c48eb"
    assert keccak(text=CREATE_ORDER_V22)[:4].hex() == "f59c48eb"


def test_order_enums_equal_the_sdk() -> None:
    enums = run_node(
        "const o = require(SDK_SRC + '/types/orders.js');"
        "out({orderType: o.OrderType, swapType: o.DecreasePositionSwapType});"
    )
    sdk_order_types = {k: v for k, v in enums["orderType"].items() if not k.isdigit()}
    assert {t.name.replace("_", "").lower(): t.value for t in OrderType} == {
        k.lower(): v for k, v in sdk_order_types.items()
    }
    sdk_swap_types = {k: v for k, v in enums["swapType"].items() if not k.isdigit()}
    assert {t.name.replace("_", "").lower(): t.value for t in DecreasePositionSwapType} == {
        k.lower(): v for k, v in sdk_swap_types.items()
    }
