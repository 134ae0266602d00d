"""MempoolWatcher on a real anvil with mining off: pending router transactions decoded, raw bytes rebuilt.

Nothing needs to be deployed at the router addresses: a pending transaction is only calldata to an address.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Iterator
from typing import Any

import pytest
from eth_abi import encode
from eth_account import Account
from eth_utils import keccak, to_checksum_address

from defibots.chain import addresses as A
from defibots.chain.async_rpc import Backoff
from defibots.chain.events import MempoolSwap
from defibots.chain.mempool import MempoolWatcher, bus_event, rebuild_raw_transaction
from defibots.chain.router_calls import PendingSwap, RouterKind, SwapHop
from defibots.foundry.anvil import AnvilConfig, AnvilNode

from .tcp_proxy import TcpProxy

WETH = A.TOKENS["WETH"].address
USDC = A.TOKENS["USDC"].address
DAI = A.TOKENS["DAI"].address
# anvil's second dev account (mnemonic "test ... junk"); a published test key, never funded on mainnet
KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
ACCOUNT = Account.from_key(KEY)
CHAIN_ID = 31337
TIMEOUT = 30.0  # a hang guard, not a timing assertion
FAST = Backoff(initial=0.02, maximum=0.2)


def call(signature: str, types: list[str], *args: Any) -> bytes:
    return keccak(text=signature)[:4] + encode(types, list(args))


SINGLE_02 = "(address,address,uint24,address,uint256,uint256,uint160)"
EXACT_IN_SINGLE = call(
    f"exactInputSingle({SINGLE_02})", [SINGLE_02], (WETH, USDC, 500, "0x" + "00" * 19 + "01", 10**18, 1234, 0)
)
UNWRAP = call("unwrapWETH9(uint256,address)", ["uint256", "address"], 5, ACCOUNT.address)
MULTICALL = call(
    "multicall(uint256,bytes[])", ["uint256", "bytes[]"], 1_900_000_000, [EXACT_IN_SINGLE, UNWRAP]
)
V2_ETH_IN = call(
    "swapExactETHForTokens(uint256,address[],address,uint256)",
    ["uint256", "address[]", "address", "uint256"],
    777,
    [WETH, DAI],
    ACCOUNT.address,
    1_900_000_001,
)
PATH = bytes.fromhex(USDC[2:]) + (100).to_bytes(3, "big") + bytes.fromhex(DAI[2:])
V3_EXACT_IN = call(
    "exactInput((bytes,address,uint256,uint256,uint256))",
    ["(bytes,address,uint256,uint256,uint256)"],
    (PATH, ACCOUNT.address, 1_900_000_002, 5 * 10**6, 4 * 10**18),
)


@pytest.fixture
def node() -> Iterator[AnvilNode]:
    with AnvilNode(AnvilConfig(extra_args=["--no-mining"])) as anvil:
        yield anvil


def send_unlocked(node: AnvilNode, to: str, data: bytes, value: int = 0) -> str:
    """A type-2 transaction signed by anvil for its first (unlocked) dev account."""
    sender = node.rpc("eth_accounts")[0]
    tx = {"from": sender, "to": to, "data": "0x" + data.hex(), "value": hex(value), "gas": "0x30d40"}
    result: str = node.rpc("eth_sendTransaction", tx)
    return result


def send_signed(node: AnvilNode, tx: dict[str, Any]) -> tuple[str, bytes]:
    """Sign locally and send raw; returns (hash, the exact signed bytes)."""
    signed = ACCOUNT.sign_transaction(tx)
    tx_hash: str = node.rpc("eth_sendRawTransaction", "0x" + signed.raw_transaction.hex())
    return tx_hash, bytes(signed.raw_transaction)


async def take(stream: AsyncGenerator[PendingSwap, None], count: int) -> list[PendingSwap]:
    return [await asyncio.wait_for(anext(stream), TIMEOUT) for _ in range(count)]


def check_raw(node: AnvilNode, swap: PendingSwap) -> None:
    assert swap.raw is not None
    assert "0x" + keccak(swap.raw).hex() == swap.tx_hash
    assert "0x" + swap.raw.hex() == node.rpc("eth_getRawTransactionByHash", swap.tx_hash)


async def test_pending_router_swaps_are_decoded_with_raw_bytes(node: AnvilNode) -> None:
    # pending before the watcher connects: picked up by the txpool backfill
    h1 = send_unlocked(node, A.UNISWAP_V3_SWAP_ROUTER02, MULTICALL, value=10**18)
    send_unlocked(node, WETH, EXACT_IN_SINGLE)  # not a router: ignored
    bad: list[tuple[str, str]] = []
    watcher = MempoolWatcher(
        node.ws_url,
        node.http_url,
        backoff=FAST,
        on_decode_error=lambda tx, err: bad.append((tx["input"], str(err))),
    )
    stream = watcher.swaps()
    try:
        (first,) = await take(stream, 1)
        # sent while subscribed: a legacy EIP-155 tx and an EIP-2930 tx, signed here
        base = {"gas": 300_000, "gasPrice": 3 * 10**9, "chainId": CHAIN_ID}
        h2, raw2 = send_signed(
            node, {**base, "nonce": 0, "to": A.UNISWAP_V2_ROUTER02, "value": 10**17, "data": V2_ETH_IN}
        )
        send_signed(node, {**base, "nonce": 1, "to": A.UNISWAP_V3_SWAP_ROUTER02, "data": UNWRAP})  # no swap
        send_signed(
            node, {**base, "nonce": 2, "to": A.UNISWAP_V3_SWAP_ROUTER02, "data": EXACT_IN_SINGLE[:-7]}
        )
        access = [{"address": USDC, "storageKeys": ["0x" + "00" * 31 + "07"]}]
        h3, raw3 = send_signed(
            node,
            {
                **base,
                "nonce": 3,
                "type": 1,
                "accessList": access,
                "to": A.UNISWAP_V3_SWAP_ROUTER,
                "data": V3_EXACT_IN,
            },
        )
        second, third = await take(stream, 2)
    finally:
        await stream.aclose()

    dev0 = to_checksum_address(node.rpc("eth_accounts")[0])
    assert first.tx_hash == h1 and first.sender == dev0 and first.value == 10**18
    assert first.router == A.UNISWAP_V3_SWAP_ROUTER02 and first.router_kind is RouterKind.V3_SWAP_ROUTER02
    assert first.tx_type == 2 and first.gas == 200_000 and first.max_fee_per_gas is not None
    assert first.deadline == 1_900_000_000
    (leg,) = first.legs
    assert leg.hops == (SwapHop("v3", WETH, USDC, 500),)
    assert (leg.exact_input, leg.amount_specified, leg.amount_limit, leg.recipient) == (
        True,
        10**18,
        1234,
        dev0,
    )
    check_raw(node, first)

    assert (second.tx_hash, second.raw, second.tx_type, second.gas_price) == (h2, raw2, 0, 3 * 10**9)
    (leg,) = second.legs
    assert leg.hops == (SwapHop("v2", WETH, DAI, None),)
    assert (leg.amount_specified, leg.amount_limit, leg.deadline) == (10**17, 777, 1_900_000_001)
    assert (third.tx_hash, third.raw, third.tx_type) == (h3, raw3, 1)
    (leg,) = third.legs
    assert leg.hops == (SwapHop("v3", USDC, DAI, 100),)
    assert (leg.amount_specified, leg.amount_limit) == (5 * 10**6, 4 * 10**18)

    stats = watcher.stats
    assert (stats.swaps, stats.not_swaps, stats.decode_errors, stats.backfilled) == (3, 1, 1, 1)
    # the malformed router call was handed to the watcher's owner (who journals it), and decoding went on
    assert len(bad) == 1 and bad[0][0] == "0x" + EXACT_IN_SINGLE[:-7].hex() and "truncated" in bad[0][1]
    assert (stats.raw_rebuilt, stats.raw_fetched, stats.raw_missing) == (3, 0, 0)
    assert stats.malformed_messages == 0 and stats.mode == "ws"

    # one bus event per transaction: the whole decoded call, and the transaction with its signed bytes
    bus = bus_event(second, CHAIN_ID)
    assert isinstance(bus, MempoolSwap) and bus.call is second and bus.chain_id == CHAIN_ID
    assert (bus.tx.hash, bus.tx.sender, bus.tx.to, bus.tx.input, bus.tx.raw) == (
        h2,
        second.sender,
        A.UNISWAP_V2_ROUTER02,
        second.input,
        raw2,
    )
    assert (bus.tx.tx_type, bus.tx.gas_price, bus.tx.value) == (0, 3 * 10**9, 10**17)


async def test_http_polling_sees_pending_swaps(node: AnvilNode) -> None:
    watcher = MempoolWatcher(None, node.http_url, poll_interval=0.02, backoff=FAST)
    stream = watcher.swaps()
    try:
        h1 = send_unlocked(node, A.UNISWAP_V2_ROUTER02, V2_ETH_IN, value=12345)  # backfilled at start
        (first,) = await take(stream, 1)
        h2 = send_unlocked(node, A.UNISWAP_V3_SWAP_ROUTER, V3_EXACT_IN)  # via the pending filter
        (second,) = await take(stream, 1)
    finally:
        await stream.aclose()
    assert (first.tx_hash, first.legs[0].amount_specified) == (h1, 12345)
    assert (second.tx_hash, second.hops) == (h2, (SwapHop("v3", USDC, DAI, 100),))
    check_raw(node, first)
    check_raw(node, second)
    assert watcher.stats.mode == "http" and watcher.stats.swaps == 2


def test_raw_transactions_rebuild_for_every_signed_type(node: AnvilNode) -> None:
    base = {"gas": 100_000, "to": A.UNISWAP_V3_SWAP_ROUTER02, "value": 5, "data": b"\x12\x34"}
    fees = {"maxFeePerGas": 3 * 10**9, "maxPriorityFeePerGas": 10**9, "chainId": CHAIN_ID}
    authorization = ACCOUNT.sign_authorization(
        {"chainId": CHAIN_ID, "address": A.UNISWAP_V3_SWAP_ROUTER02, "nonce": 5}
    )
    txs = [
        {**base, "nonce": 0, "gasPrice": 10**9},  # legacy without a chain id (pre-EIP-155)
        {**base, "nonce": 1, "gasPrice": 10**9, "chainId": CHAIN_ID},
        {**base, "nonce": 2, "gasPrice": 10**9, "chainId": CHAIN_ID, "type": 1, "accessList": []},
        {**base, "nonce": 3, "type": 2, **fees},
        {**base, "nonce": 4, "type": 4, **fees, "authorizationList": [authorization]},
    ]
    for tx in txs:
        tx_hash, raw = send_signed(node, tx)
        assert rebuild_raw_transaction(node.rpc("eth_getTransactionByHash", tx_hash)) == raw
    assert rebuild_raw_transaction({"type": "0x2", "nonce": "oops"}) is None
    assert rebuild_raw_transaction({"type": "0x3"}) is None


async def test_reconnect_backfills_what_was_sent_while_disconnected(node: AnvilNode) -> None:
    proxy = TcpProxy(node.port)
    await proxy.resume()
    watcher = MempoolWatcher(proxy.ws_url, None, backoff=FAST)
    stream = watcher.swaps()
    try:
        h1 = send_unlocked(node, A.UNISWAP_V3_SWAP_ROUTER02, MULTICALL)
        (first,) = await take(stream, 1)
        await proxy.cut()
        h2 = send_unlocked(node, A.UNISWAP_V2_ROUTER02, V2_ETH_IN, value=99)  # nobody is listening
        await asyncio.sleep(0.1)  # let it fail a reconnect or two against the closed port
        await proxy.resume()
        (second,) = await take(stream, 1)
        h3 = send_unlocked(node, A.UNISWAP_V3_SWAP_ROUTER, V3_EXACT_IN)
        (third,) = await take(stream, 1)
    finally:
        await stream.aclose()
        await proxy.cut()
    # h1 is still pending at the reconnect: de-duplicated, not yielded twice
    assert [s.tx_hash for s in (first, second, third)] == [h1, h2, h3]
    assert second.legs[0].amount_specified == 99
    assert watcher.stats.reconnects == 1 and watcher.stats.swaps == 3
    assert watcher.stats.backfilled == 2  # h1 at the first connect, h2 at the reconnect
