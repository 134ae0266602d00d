"""Router calldata decoding against calls encoded independently here, with eth_abi from signature strings."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from eth_abi import encode
from eth_utils import keccak, to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st

from defibots.chain import addresses as A
from defibots.chain.router_calls import (
    DecodeError,
    RouterCallDecoder,
    RouterKind,
    SwapHop,
    SwapLeg,
)

WETH = A.TOKENS["WETH"].address
USDC = A.TOKENS["USDC"].address
DAI = A.TOKENS["DAI"].address
WBTC = A.TOKENS["WBTC"].address
SENDER = to_checksum_address("0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266")
ALICE = to_checksum_address("0x70997970c51812dc3a010c7d01b50e0d17dc79c8")
V2 = A.UNISWAP_V2_ROUTER02
V3 = A.UNISWAP_V3_SWAP_ROUTER
R02 = A.UNISWAP_V3_SWAP_ROUTER02
ONE = to_checksum_address("0x" + "00" * 19 + "01")
TWO = to_checksum_address("0x" + "00" * 19 + "02")
DEADLINE = 1_900_000_123
VALUE = 3 * 10**17

DECODER = RouterCallDecoder()


def _split_types(signature: str) -> list[str]:
    inner = signature[signature.index("(") + 1 : -1]
    types, depth, current = [], 0, ""
    for char in inner:
        if char == "," and depth == 0:
            types.append(current)
            current = ""
            continue
        depth += (char == "(") - (char == ")")
        current += char
    return [*types, current] if current else types


def call(signature: str, *args: Any) -> bytes:
    return keccak(text=signature)[:4] + encode(_split_types(signature), list(args))


def v3_path(*parts: str | int) -> bytes:
    out = b""
    for part in parts:
        out += bytes.fromhex(part[2:]) if isinstance(part, str) else part.to_bytes(3, "big")
    return out


def legs(router: str, data: bytes, value: int = 0) -> tuple[SwapLeg, ...]:
    decoded = DECODER.decode_calldata(router, data, SENDER, value)
    assert decoded is not None
    return decoded[0]


def v2(a: str, b: str) -> SwapHop:
    return SwapHop("v2", a, b, None)


def v3(a: str, b: str, fee: int) -> SwapHop:
    return SwapHop("v3", a, b, fee)


# --- V2 Router02 ------------------------------------------------------------------------------------------

V2_CASES = [
    # (signature, args, exact_input, amount, limit, fee_on_transfer)
    (
        "swapExactTokensForTokens(uint256,uint256,address[],address,uint256)",
        (1111, 2222),
        True,
        1111,
        2222,
        False,
    ),
    (
        "swapTokensForExactTokens(uint256,uint256,address[],address,uint256)",
        (3333, 4444),
        False,
        3333,
        4444,
        False,
    ),
    ("swapExactETHForTokens(uint256,address[],address,uint256)", (5555,), True, VALUE, 5555, False),
    (
        "swapTokensForExactETH(uint256,uint256,address[],address,uint256)",
        (6666, 7777),
        False,
        6666,
        7777,
        False,
    ),
    (
        "swapExactTokensForETH(uint256,uint256,address[],address,uint256)",
        (8888, 9999),
        True,
        8888,
        9999,
        False,
    ),
    ("swapETHForExactTokens(uint256,address[],address,uint256)", (1212,), False, 1212, VALUE, False),
    (
        "swapExactTokensForTokensSupportingFeeOnTransferTokens(uint256,uint256,address[],address,uint256)",
        (1313, 1414),
        True,
        1313,
        1414,
        True,
    ),
    (
        "swapExactETHForTokensSupportingFeeOnTransferTokens(uint256,address[],address,uint256)",
        (1515,),
        True,
        VALUE,
        1515,
        True,
    ),
    (
        "swapExactTokensForETHSupportingFeeOnTransferTokens(uint256,uint256,address[],address,uint256)",
        (1616, 1717),
        True,
        1616,
        1717,
        True,
    ),
]


@pytest.mark.parametrize(("signature", "amounts", "exact_input", "amount", "limit", "fot"), V2_CASES)
def test_v2_router02_swaps(
    signature: str, amounts: tuple[int, ...], exact_input: bool, amount: int, limit: int, fot: bool
) -> None:
    path = [USDC, WETH, DAI]
    data = call(signature, *amounts, path, ALICE, DEADLINE)
    assert legs(V2, data, VALUE) == (
        SwapLeg(
            function=signature,
            exact_input=exact_input,
            hops=(v2(USDC, WETH), v2(WETH, DAI)),
            amount_specified=amount,
            amount_limit=limit,
            recipient=ALICE,
            deadline=DEADLINE,
            fee_on_transfer=fot,
        ),
    )


def test_v2_router02_zero_amount_is_literal_and_address_one_is_not_special() -> None:
    data = call(
        "swapExactTokensForTokens(uint256,uint256,address[],address,uint256)", 0, 1, [WETH, USDC], ONE, 5
    )
    (leg,) = legs(V2, data)
    assert leg.amount_specified == 0 and leg.recipient == ONE


# --- V3 SwapRouter (structs with deadline) ----------------------------------------------------------------

SINGLE_V1 = "(address,address,uint24,address,uint256,uint256,uint256,uint160)"
PATH_V1 = "(bytes,address,uint256,uint256,uint256)"
SINGLE_02 = "(address,address,uint24,address,uint256,uint256,uint160)"
PATH_02 = "(bytes,address,uint256,uint256)"


def test_swap_router_exact_input_single() -> None:
    sig = f"exactInputSingle({SINGLE_V1})"
    data = call(sig, (WETH, USDC, 500, ALICE, DEADLINE, 10**18, 2_000_000_000, 123456789))
    assert legs(V3, data) == (
        SwapLeg(sig, True, (v3(WETH, USDC, 500),), 10**18, 2_000_000_000, ALICE, DEADLINE, 123456789),
    )


def test_swap_router_exact_output_single() -> None:
    sig = f"exactOutputSingle({SINGLE_V1})"
    data = call(sig, (DAI, WETH, 3000, ALICE, DEADLINE, 5 * 10**17, 1001 * 10**18, 0))
    assert legs(V3, data) == (
        SwapLeg(sig, False, (v3(DAI, WETH, 3000),), 5 * 10**17, 1001 * 10**18, ALICE, DEADLINE),
    )


def test_swap_router_exact_input_multi_hop() -> None:
    sig = f"exactInput({PATH_V1})"
    path = v3_path(USDC, 500, WETH, 3000, DAI, 100, WBTC)
    data = call(sig, (path, ALICE, DEADLINE, 7_000_000, 31))
    hops = (v3(USDC, WETH, 500), v3(WETH, DAI, 3000), v3(DAI, WBTC, 100))
    assert legs(V3, data) == (SwapLeg(sig, True, hops, 7_000_000, 31, ALICE, DEADLINE),)


def test_swap_router_exact_output_path_is_reversed_into_token_flow_order() -> None:
    sig = f"exactOutput({PATH_V1})"
    path = v3_path(DAI, 100, USDC, 500, WETH)  # tokenOut first, as the router expects
    data = call(sig, (path, ALICE, DEADLINE, 10**21, 6 * 10**17))
    hops = (v3(WETH, USDC, 500), v3(USDC, DAI, 100))
    assert legs(V3, data) == (SwapLeg(sig, False, hops, 10**21, 6 * 10**17, ALICE, DEADLINE),)


def test_swap_router_multicall_keeps_order_and_skips_non_swaps() -> None:
    a = call(f"exactInputSingle({SINGLE_V1})", (WETH, USDC, 500, V3, DEADLINE, 10**18, 1, 0))
    unwrap = call("unwrapWETH9(uint256,address)", 5, ALICE)
    b = call(f"exactOutputSingle({SINGLE_V1})", (USDC, DAI, 100, ALICE, DEADLINE + 1, 77, 88, 0))
    data = call("multicall(bytes[])", [a, unwrap, b])
    got = legs(V3, data)
    assert [leg.hops[0] for leg in got] == [v3(WETH, USDC, 500), v3(USDC, DAI, 100)]
    assert [(leg.amount_specified, leg.amount_limit, leg.deadline) for leg in got] == [
        (10**18, 1, DEADLINE),
        (77, 88, DEADLINE + 1),
    ]
    assert got[0].recipient == V3  # the router custodies until a later call moves the tokens


def test_swap_router_v1_has_no_recipient_aliases_or_contract_balance() -> None:
    data = call(f"exactInputSingle({SINGLE_V1})", (WETH, USDC, 500, ONE, DEADLINE, 0, 0, 0))
    (leg,) = legs(V3, data)
    assert leg.recipient == ONE and leg.amount_specified == 0


# --- SwapRouter02 (structs without deadline, V2 functions without deadline, multicall variants) -----------


def test_swap_router02_exact_input_single_resolves_msg_sender() -> None:
    sig = f"exactInputSingle({SINGLE_02})"
    data = call(sig, (WETH, USDC, 3000, ONE, 10**18, 1_900_000_000, 0))
    assert legs(R02, data) == (
        SwapLeg(sig, True, (v3(WETH, USDC, 3000),), 10**18, 1_900_000_000, SENDER, None),
    )


def test_swap_router02_exact_output_single_resolves_address_this() -> None:
    sig = f"exactOutputSingle({SINGLE_02})"
    data = call(sig, (USDC, WETH, 500, TWO, 10**18, 2_100_000_000, 2**96))
    assert legs(R02, data) == (
        SwapLeg(sig, False, (v3(USDC, WETH, 500),), 10**18, 2_100_000_000, R02, None, 2**96),
    )


def test_swap_router02_exact_input_and_output_paths() -> None:
    sig_in, sig_out = f"exactInput({PATH_02})", f"exactOutput({PATH_02})"
    data_in = call(sig_in, (v3_path(WETH, 500, USDC, 100, DAI), ALICE, 10**18, 1_000))
    data_out = call(sig_out, (v3_path(WBTC, 3000, WETH, 500, USDC), ALICE, 10**8, 65_000 * 10**6))
    assert legs(R02, data_in) == (
        SwapLeg(sig_in, True, (v3(WETH, USDC, 500), v3(USDC, DAI, 100)), 10**18, 1_000, ALICE, None),
    )
    assert legs(R02, data_out) == (
        SwapLeg(
            sig_out, False, (v3(USDC, WETH, 500), v3(WETH, WBTC, 3000)), 10**8, 65_000 * 10**6, ALICE, None
        ),
    )


def test_swap_router02_v2_functions() -> None:
    sig_in = "swapExactTokensForTokens(uint256,uint256,address[],address)"
    sig_out = "swapTokensForExactTokens(uint256,uint256,address[],address)"
    data_in = call(sig_in, 10**18, 1_800_000_000, [WETH, USDC], ALICE)
    data_out = call(sig_out, 500 * 10**18, 600 * 10**6, [USDC, WETH, DAI], ONE)
    assert legs(R02, data_in) == (
        SwapLeg(sig_in, True, (v2(WETH, USDC),), 10**18, 1_800_000_000, ALICE, None),
    )
    assert legs(R02, data_out) == (
        SwapLeg(sig_out, False, (v2(USDC, WETH), v2(WETH, DAI)), 500 * 10**18, 600 * 10**6, SENDER, None),
    )


def test_swap_router02_multicall_variants_and_contract_balance() -> None:
    first = call(
        "swapExactTokensForTokens(uint256,uint256,address[],address)", 10**18, 0, [DAI, WETH], TWO
    )  # V2 leg into the router ...
    second = call(
        f"exactInput({PATH_02})", (v3_path(WETH, 500, USDC), ONE, 0, 99)
    )  # ... then its whole balance
    sweep = call("sweepToken(address,uint256)", USDC, 0)
    for signature, lead, expect_deadline, expect_hash in [
        ("multicall(bytes[])", (), None, None),
        ("multicall(uint256,bytes[])", (DEADLINE,), DEADLINE, None),
        ("multicall(bytes32,bytes[])", (b"\xab" * 32,), None, "0x" + "ab" * 32),
    ]:
        decoded = DECODER.decode_calldata(R02, call(signature, *lead, [first, second, sweep]), SENDER)
        assert decoded is not None
        got, deadline, previous_blockhash = decoded
        assert (deadline, previous_blockhash) == (expect_deadline, expect_hash)
        assert got == (
            SwapLeg(
                "swapExactTokensForTokens(uint256,uint256,address[],address)",
                True,
                (v2(DAI, WETH),),
                10**18,
                0,
                R02,
                expect_deadline,
            ),
            SwapLeg(
                f"exactInput({PATH_02})", True, (v3(WETH, USDC, 500),), None, 99, SENDER, expect_deadline
            ),
        )


def test_v3_path_trailing_bytes_are_ignored_like_the_path_library() -> None:
    sig = f"exactInput({PATH_02})"
    path = v3_path(WETH, 500, USDC) + b"\x01" * 22  # not long enough to be a second pool
    (leg,) = legs(R02, call(sig, (path, ALICE, 5, 6)))
    assert leg.hops == (v3(WETH, USDC, 500),)


# --- transactions, non-swaps, errors ----------------------------------------------------------------------


def test_decode_transaction_fields() -> None:
    data = call(f"exactInputSingle({SINGLE_02})", (WETH, USDC, 500, ONE, 10**18, 1, 0))
    tx = {
        "hash": "0x" + "11" * 32,
        "from": SENDER.lower(),
        "to": R02.lower(),
        "input": "0x" + data.hex(),
        "value": hex(10**18),
        "nonce": "0x7",
        "gas": "0x30d40",
        "type": "0x2",
        "maxFeePerGas": hex(30 * 10**9),
        "maxPriorityFeePerGas": hex(2 * 10**9),
        "gasPrice": hex(25 * 10**9),
    }
    swap = DECODER.decode_transaction(tx)
    assert swap is not None
    assert (swap.sender, swap.router, swap.router_kind) == (SENDER, R02, RouterKind.V3_SWAP_ROUTER02)
    assert (swap.nonce, swap.value, swap.gas, swap.tx_type) == (7, 10**18, 200_000, 2)
    assert (swap.gas_price, swap.max_fee_per_gas, swap.max_priority_fee_per_gas) == (
        None,
        30 * 10**9,
        2 * 10**9,
    )
    assert swap.effective_gas_price(20 * 10**9) == 22 * 10**9
    assert swap.effective_gas_price(29 * 10**9) == 30 * 10**9
    assert swap.hops == (v3(WETH, USDC, 500),) and swap.legs[0].recipient == SENDER
    assert swap.input == data and swap.raw is None
    legacy = {**tx, "type": "0x0", "gasPrice": hex(9), "maxFeePerGas": None}
    del legacy["maxFeePerGas"], legacy["maxPriorityFeePerGas"]
    swap = DECODER.decode_transaction(legacy)
    assert swap is not None and (swap.gas_price, swap.max_fee_per_gas, swap.effective_gas_price(10**9)) == (
        9,
        None,
        9,
    )
    assert DECODER.decode_transaction({**tx, "to": WETH}) is None
    assert DECODER.decode_transaction({**tx, "to": None}) is None
    with pytest.raises(DecodeError):
        DECODER.decode_transaction({**tx, "nonce": "seven"})
    with pytest.raises(DecodeError):
        DECODER.decode_transaction({**tx, "input": "0xzz"})


def test_unknown_selectors_and_non_swaps_are_none() -> None:
    assert DECODER.decode_calldata(R02, b"", SENDER) is None
    assert DECODER.decode_calldata(R02, b"\x12\x34", SENDER) is None
    assert DECODER.decode_calldata(R02, b"\xde\xad\xbe\xef" + bytes(64), SENDER) is None
    assert DECODER.decode_calldata(R02, call("unwrapWETH9(uint256)", 5), SENDER) is None
    assert (
        DECODER.decode_calldata(V2, call("getAmountsOut(uint256,address[])", 5, [WETH, DAI]), SENDER) is None
    )
    assert DECODER.decode_calldata(R02, call("multicall(bytes[])", [call("refundETH()")]), SENDER) is None
    # a selector of another router is unknown here: SwapRouter02's struct has no deadline
    assert (
        DECODER.decode_calldata(
            V3, call(f"exactInput({PATH_02})", (v3_path(WETH, 500, DAI), ALICE, 1, 1)), SENDER
        )
        is None
    )
    # not a router at all
    assert (
        DECODER.decode_calldata(
            WETH, call(f"exactInput({PATH_02})", (v3_path(WETH, 500, DAI), ALICE, 1, 1)), SENDER
        )
        is None
    )


def _dirty(data: bytes, at: int, byte: int = 1) -> bytes:
    return data[:at] + bytes([byte]) + data[at + 1 :]


GOOD_V2 = call(
    "swapExactTokensForTokens(uint256,uint256,address[],address,uint256)", 5, 6, [WETH, DAI], ALICE, 7
)
GOOD_SINGLE = call(f"exactInputSingle({SINGLE_02})", (WETH, USDC, 500, ALICE, 10, 1, 0))
GOOD_PATH = call(f"exactInput({PATH_02})", (v3_path(WETH, 500, USDC), ALICE, 10, 1))

MALFORMED = {
    "truncated head": (V2, GOOD_V2[:100]),
    "truncated path array": (V2, GOOD_V2[:-20]),
    "dirty address in path": (V2, _dirty(GOOD_V2, 4 + 32 * 6 + 5)),
    "dirty recipient": (V2, _dirty(GOOD_V2, 4 + 32 * 3 + 2)),
    "array offset out of range": (V2, GOOD_V2[: 4 + 64] + (2**200).to_bytes(32, "big") + GOOD_V2[4 + 96 :]),
    "huge array length": (V2, GOOD_V2[: 4 + 160] + (2**64).to_bytes(32, "big") + GOOD_V2[4 + 192 :]),
    "path of one token": (
        V2,
        call("swapExactTokensForTokens(uint256,uint256,address[],address,uint256)", 5, 6, [WETH], ALICE, 7),
    ),
    "fee above uint24": (R02, GOOD_SINGLE[: 4 + 64] + (2**24).to_bytes(32, "big") + GOOD_SINGLE[4 + 96 :]),
    "price limit above uint160": (R02, GOOD_SINGLE[: 4 + 192] + (2**160).to_bytes(32, "big")),
    "V3 path shorter than a pool": (R02, call(f"exactInput({PATH_02})", (bytes(42), ALICE, 10, 1))),
    "bytes longer than calldata": (
        R02,
        GOOD_PATH[: 4 + 160] + (10**6).to_bytes(32, "big") + GOOD_PATH[4 + 192 :],
    ),
    "multicall item with unknown selector": (
        R02,
        call("multicall(bytes[])", [GOOD_SINGLE, b"\xde\xad\xbe\xef"]),
    ),
    "multicall item malformed": (R02, call("multicall(uint256,bytes[])", 1, [GOOD_SINGLE[:-1]])),
    "multicall nested too deep": (
        R02,
        call(
            "multicall(bytes[])",
            [
                call(
                    "multicall(bytes[])",
                    [
                        call(
                            "multicall(bytes[])",
                            [call("multicall(bytes[])", [call("multicall(bytes[])", [GOOD_SINGLE])])],
                        )
                    ],
                )
            ],
        ),
    ),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_calldata_raises_decode_error(case: str) -> None:
    router, data = MALFORMED[case]
    with pytest.raises(DecodeError):
        DECODER.decode_calldata(router, data, SENDER)


def test_nested_multicall_within_the_limit_decodes() -> None:
    inner = call("multicall(bytes[])", [call("multicall(bytes[])", [GOOD_SINGLE])])
    (leg,) = legs(R02, call("multicall(uint256,bytes[])", 9, [inner]))
    assert leg.amount_specified == 10 and leg.deadline == 9


SELECTORS = [
    bytes.fromhex(s)
    for s in ("38ed1739", "414bf389", "04e45aaf", "b858183f", "ac9650d8", "5ae401dc", "472b43f3")
]


@settings(max_examples=300, deadline=None)
@given(
    selector=st.sampled_from(SELECTORS), body=st.binary(max_size=600), router=st.sampled_from([V2, V3, R02])
)
def test_random_calldata_never_raises_anything_but_decode_error(
    selector: bytes, body: bytes, router: str
) -> None:
    with contextlib.suppress(DecodeError):
        DECODER.decode_calldata(router, selector + body, SENDER)


addresses = st.sampled_from([WETH, USDC, DAI, WBTC, ALICE])
uint256 = st.integers(min_value=1, max_value=2**256 - 1)


@settings(max_examples=100, deadline=None)
@given(
    tokens=st.lists(addresses, min_size=2, max_size=5),
    fees=st.lists(st.integers(0, 2**24 - 1), min_size=4, max_size=4),
    amount=uint256,
    limit=st.integers(0, 2**256 - 1),
    recipient=addresses,
)
def test_exact_input_round_trips_any_values(
    tokens: list[str], fees: list[int], amount: int, limit: int, recipient: str
) -> None:
    parts: list[str | int] = [tokens[0]]
    for token, fee in zip(tokens[1:], fees, strict=False):
        parts += [fee, token]
    sig = f"exactInput({PATH_02})"
    (leg,) = legs(R02, call(sig, (v3_path(*parts), recipient, amount, limit)))
    expected_hops = tuple(v3(a, b, f) for a, b, f in zip(tokens, tokens[1:], fees, strict=False))
    assert leg == SwapLeg(sig, True, expected_hops, amount, limit, recipient, None)
