"""Cancel / freeze reasons decoded from real ABI-encoded revert payloads (errors from the SDK's
CustomErrors ABI and the stand-in's Errors artifact, Solidity's Error and Panic)."""

from __future__ import annotations

from typing import Any

from eth_abi import encode

from defibots.chain.gmx.abis import find_entry, input_types, selector
from defibots.chain.gmx.reasons import decode_reason, describe_reason

from .sdk import artifact

ACCOUNT = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def _custom(name: str, *args: Any) -> bytes:
    entry = find_entry("CustomErrors", name, kind="error")
    return selector(entry) + encode(input_types(entry), list(args))


def test_order_not_fulfillable_at_acceptable_price() -> None:
    data = _custom("OrderNotFulfillableAtAcceptablePrice", 3_012_345 * 10**9, 3_009 * 10**12)
    reason = decode_reason(data)
    assert reason.name == "OrderNotFulfillableAtAcceptablePrice"
    assert reason.args == (("price", 3_012_345 * 10**9), ("acceptablePrice", 3_009 * 10**12))
    assert str(reason) == (
        "OrderNotFulfillableAtAcceptablePrice(price=3012345000000000, acceptablePrice=3009000000000000)"
    )
    assert reason.selector == data[:4]


def test_errors_with_signed_string_and_address_arguments() -> None:
    data = _custom("LiquidatablePosition", "min collateral", -5 * 10**30, 10 * 10**30, 2 * 10**30)
    usd = "000000000000000000000000000000"  # 1e30
    assert describe_reason(data) == (
        f'LiquidatablePosition(reason="min collateral", remainingCollateralUsd=-5{usd},'
        f" minCollateralUsd=10{usd}, minCollateralUsdForLeverage=2{usd})"
    )
    data = _custom("Unauthorized", ACCOUNT.lower(), "account for cancelOrder")
    assert describe_reason(data) == f'Unauthorized(msgSender={ACCOUNT}, role="account for cancelOrder")'
    assert describe_reason(_custom("EmptyOrder")) == "EmptyOrder()"


def test_error_string_and_panic() -> None:
    assert describe_reason(bytes.fromhex("08c379a0") + encode(["string"], ["NegativeOpenInterest"])) == (
        "NegativeOpenInterest"
    )
    panic = decode_reason(bytes.fromhex("4e487b71") + encode(["uint256"], [0x11]))
    assert (panic.name, panic.args, panic.text) == (
        "Panic",
        (("code", 0x11),),
        "Panic(0x11: arithmetic overflow or underflow)",
    )
    assert describe_reason(bytes.fromhex("4e487b71") + encode(["uint256"], [0x99])) == (
        "Panic(0x99: unknown panic code)"
    )


def test_unknown_empty_and_malformed_payloads_never_raise() -> None:
    stand_in_only = next(
        e for e in artifact("GmxTypes.sol", "Errors")["abi"] if e.get("name") == "SwapPathNotSupported"
    )
    data = selector(stand_in_only)
    assert describe_reason(data) == f"unknown error 0x{data.hex()} (0x{data.hex()})"
    # the stand-in's own errors decode when their ABI is passed along
    assert decode_reason(data, extra_errors=[stand_in_only]).text == "SwapPathNotSupported()"
    assert describe_reason(b"") == "empty revert data"
    assert describe_reason(b"\x01\x02") == "unknown error 0x0102 (0x0102)"
    truncated = _custom("OrderNotFulfillableAtAcceptablePrice", 1, 2)[:40]
    assert describe_reason(truncated) == (
        f"OrderNotFulfillableAtAcceptablePrice(<undecodable arguments 0x{truncated[4:].hex()}>)"
    )
    bad_string = bytes.fromhex("08c379a0") + encode(["bytes"], [b"\xff\xfe"])
    assert decode_reason(bad_string).name in ("", "Error")
