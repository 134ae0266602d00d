"""Blocks anvil really mined reach the strategy with the fields the backrun's base-fee prediction needs.

anvil runs with EIP-1559 (1 gwei initial base fee) and a small block gas limit, so a block of a few
transactions is over the gas target and one of a single transaction or none is under it: the base fee
moves both ways. Events come from the real listener and collector, over the websocket and over HTTP.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from eth_utils import keccak, to_checksum_address

from defibots.chain.async_rpc import Backoff
from defibots.chain.events import NewBlock
from defibots.chain.listener import ChainListener
from defibots.chain.pool_loader import PoolReloader
from defibots.chain.state_collector import StateCollector
from defibots.foundry.anvil import AnvilConfig, AnvilNode
from defibots.state.uniswap import pool_market
from defibots.strategies.backrun import Head

GAS_LIMIT = 120_000  # gas target 60,000: three 22k-gas calls are over it, one is under
EMITTER = to_checksum_address("0x00000000000000000000000000000000000beef1")
TOPIC = "0x" + keccak(text="Ping(bytes)").hex()
EMITTER_CODE = "0x3660006000377f" + TOPIC[2:] + "366000a100"  # LOG1(calldata) and stop
TXS_PER_BLOCK = (3, 1, 0, 3, 3, 2, 0, 1)
TIMEOUT = 30.0  # a hang guard, not a timing assertion


@pytest.fixture
def node() -> Iterator[AnvilNode]:
    with AnvilNode(AnvilConfig(extra_args=["--no-mining", "--gas-limit", str(GAS_LIMIT)])) as anvil:
        anvil.rpc("anvil_setCode", EMITTER, EMITTER_CODE)
        yield anvil


def mine(node: AnvilNode, txs: int) -> None:
    sender = node.rpc("eth_accounts")[0]
    for i in range(txs):
        node.rpc(
            "eth_sendTransaction",
            {"from": sender, "to": EMITTER, "data": "0x" + bytes([i]).hex(), "gas": "0x7530"},
        )
    node.rpc("evm_mine")


@pytest.mark.parametrize("transport", ["ws", "http"])
async def test_new_block_events_predict_the_next_base_fee(node: AnvilNode, transport: str) -> None:
    ws, http = (node.ws_url, None) if transport == "ws" else (None, node.http_url)
    listener = ChainListener(
        ws, http, [EMITTER], start_block=1, poll_interval=0.02, backoff=Backoff(initial=0.02, maximum=0.2)
    )
    collector = StateCollector(listener, pool_market([]), 31337, {"uniswap": PoolReloader(node.http_url, [])})
    for txs in TXS_PER_BLOCK:
        mine(node, txs)
    mine(node, 0)  # the block whose base fee the last event predicts
    last = len(TXS_PER_BLOCK)
    blocks: list[NewBlock] = []
    stream = collector.events()
    try:
        while not blocks or blocks[-1].number < last:
            event = await asyncio.wait_for(anext(stream), TIMEOUT)
            if isinstance(event, NewBlock):
                blocks.append(event)
    finally:
        await stream.aclose()  # type: ignore[attr-defined]
    chain = [node.rpc("eth_getBlockByNumber", hex(n), False) for n in range(1, last + 2)]
    assert [b.number for b in blocks] == list(range(1, last + 1))
    assert [(b.gas_used, b.gas_limit) for b in blocks] == [
        (int(c["gasUsed"], 16), int(c["gasLimit"], 16)) for c in chain[:-1]
    ]
    target = GAS_LIMIT // 2
    assert {b.gas_used > target for b in blocks} == {True, False}  # the base fee rose and fell
    assert all(b.base_fee_per_gas for b in blocks)
    predicted = [Head.of(b).next_base_fee for b in blocks]
    actual = [int(c["baseFeePerGas"], 16) for c in chain[1:]]
    assert predicted == actual
    assert len(set(actual)) == len(actual)  # every block moved it
