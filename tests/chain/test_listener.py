"""ChainListener against a real anvil: ordering, backfill after a dropped websocket, reorgs, HTTP polling.

Blocks are mined explicitly (anvil --no-mining + evm_mine). A tiny contract placed with anvil_setCode
emits LOG1(TOPIC, calldata) on every call, so each log's data names the transaction that made it. The
websocket goes through a TCP proxy run by the test, which can drop every connection, refuse new ones,
and inject raw frames.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable, Iterator
from typing import Any

import pytest
from eth_utils import keccak, to_checksum_address

from defibots.chain.async_rpc import Backoff
from defibots.chain.listener import (
    BlockHeader,
    ChainEvent,
    ChainListener,
    LogEvent,
    Reorg,
)
from defibots.foundry.anvil import AnvilConfig, AnvilNode, free_port

from .tcp_proxy import TcpProxy, text_frame

TOPIC = "0x" + keccak(text="Ping(bytes)").hex()
TRACKED = to_checksum_address("0x00000000000000000000000000000000000beef1")
OTHER = to_checksum_address("0x00000000000000000000000000000000000beef2")
# CALLDATACOPY(0, 0, CALLDATASIZE); LOG1(0, CALLDATASIZE, TOPIC); STOP
EMITTER_CODE = "0x3660006000377f" + TOPIC[2:] + "366000a100"
TIMEOUT = 30.0  # a hang guard, not a timing assertion


@pytest.fixture
def node() -> Iterator[AnvilNode]:
    with AnvilNode(AnvilConfig(extra_args=["--no-mining"])) as anvil:
        anvil.rpc("anvil_setCode", TRACKED, EMITTER_CODE)
        anvil.rpc("anvil_setCode", OTHER, EMITTER_CODE)
        yield anvil


def mine(node: AnvilNode, *calls: tuple[str, bytes]) -> None:
    """One block holding a call per (emitter, payload)."""
    sender = node.rpc("eth_accounts")[0]
    for to, payload in calls:
        node.rpc(
            "eth_sendTransaction", {"from": sender, "to": to, "data": "0x" + payload.hex(), "gas": "0x186a0"}
        )
    node.rpc("evm_mine")


def mine_numbered(node: AnvilNode, count: int) -> None:
    """`count` blocks; block n carries tracked logs n:a, n:b, an untracked one, and every third none."""
    for _ in range(count):
        number = int(node.rpc("eth_blockNumber"), 16) + 1
        if number % 3 == 0:
            mine(node)
        else:
            tag = str(number).encode()
            mine(node, (TRACKED, tag + b":a"), (OTHER, tag + b":x"), (TRACKED, tag + b":b"))


async def take_until(
    stream: AsyncGenerator[ChainEvent, None], done: Callable[[ChainEvent], bool]
) -> list[ChainEvent]:
    out: list[ChainEvent] = []
    while True:
        event = await asyncio.wait_for(anext(stream), TIMEOUT)
        out.append(event)
        if done(event):
            return out


def header_at(number: int) -> Callable[[ChainEvent], bool]:
    return lambda e: isinstance(e, BlockHeader) and e.number == number


def chain_headers(node: AnvilNode, first: int, last: int) -> list[tuple[int, str, str]]:
    blocks = [node.rpc("eth_getBlockByNumber", hex(n), False) for n in range(first, last + 1)]
    return [(int(b["number"], 16), b["hash"], b["parentHash"]) for b in blocks]


def chain_logs(node: AnvilNode, first: int, last: int) -> list[tuple[int, int, str, bytes]]:
    logs = node.rpc("eth_getLogs", {"address": TRACKED, "fromBlock": hex(first), "toBlock": hex(last)})
    return [
        (int(x["blockNumber"], 16), int(x["logIndex"], 16), x["blockHash"], bytes.fromhex(x["data"][2:]))
        for x in logs
    ]


def check_stream(events: list[ChainEvent], node: AnvilNode, first: int, last: int) -> None:
    """Every block first..last once, in order, linked; every tracked log once, right after its block."""
    headers = [e for e in events if isinstance(e, BlockHeader)]
    assert [(h.number, h.hash, h.parent_hash) for h in headers] == chain_headers(node, first, last)
    logs = [e for e in events if isinstance(e, LogEvent)]
    assert [(x.block_number, x.log_index, x.block_hash, x.data) for x in logs] == chain_logs(
        node, first, last
    )
    assert all(x.address == TRACKED and x.topics == (TOPIC,) and not x.removed for x in logs)
    current = None
    for event in events:
        if isinstance(event, BlockHeader):
            current = event
        elif isinstance(event, LogEvent):
            assert current is not None and event.block_hash == current.hash


FAST = Backoff(initial=0.02, maximum=0.2)


async def test_blocks_and_logs_arrive_in_order_from_a_start_block(node: AnvilNode) -> None:
    mine_numbered(node, 4)
    listener = ChainListener(
        node.ws_url, None, [TRACKED], [TOPIC], start_block=2, max_log_range=2, backoff=FAST
    )
    stream = listener.events()
    try:
        events = await take_until(stream, header_at(4))
        mine_numbered(node, 4)
        events += await take_until(stream, header_at(8))
        # the logs of block 8 may still follow its header: wait for the next block to settle them
        mine(node)
        events += await take_until(stream, header_at(9))
    finally:
        await stream.aclose()
    check_stream(events, node, 2, 9)
    assert listener.stats.reconnects == 0 and listener.stats.malformed_messages == 0
    assert listener.stats.reorgs == 0 and listener.stats.mode == "ws"


async def test_dropped_websocket_is_backfilled_exactly_once(node: AnvilNode) -> None:
    proxy = TcpProxy(node.port)
    await proxy.resume()
    listener = ChainListener(proxy.ws_url, None, [TRACKED], backoff=FAST)
    stream = listener.events()
    try:
        events = await take_until(stream, header_at(0))
        mine_numbered(node, 3)
        events += await take_until(stream, header_at(3))
        await proxy.cut()
        mine_numbered(node, 4)  # blocks 4..7 happen while the listener cannot connect
        await asyncio.sleep(0.1)  # let it fail a reconnect or two against the closed port
        await proxy.resume()
        events += await take_until(stream, header_at(7))
        mine_numbered(node, 2)
        mine(node)
        events += await take_until(stream, header_at(10))
        # a second drop while idle, then blocks mined after the reconnect
        await proxy.cut()
        await proxy.resume()
        mine_numbered(node, 2)
        events += await take_until(stream, header_at(12))
        mine(node)
        events += await take_until(stream, header_at(13))
    finally:
        await stream.aclose()
        await proxy.cut()
    check_stream(events, node, 0, 13)
    assert listener.stats.reconnects == 2
    assert listener.stats.backfilled_blocks >= 4
    assert listener.stats.reorgs == 0


async def test_malformed_messages_are_counted_and_skipped(node: AnvilNode) -> None:
    proxy = TcpProxy(node.port)
    await proxy.resume()
    listener = ChainListener(proxy.ws_url, None, [TRACKED], backoff=FAST)
    stream = listener.events()
    try:
        events = await take_until(stream, header_at(0))
        await asyncio.sleep(0.05)  # the connection is idle: frames injected now cannot split anvil's
        for text in ["not json", "[1, 2]", '{"jsonrpc":"2.0","method":"eth_subscription","params":{}}']:
            proxy.inject(text_frame(text))
        mine_numbered(node, 2)
        events += await take_until(stream, header_at(2))
        mine(node)
        events += await take_until(stream, header_at(3))
    finally:
        await stream.aclose()
        await proxy.cut()
    check_stream(events, node, 0, 3)
    assert listener.stats.malformed_messages == 4  # "[1, 2]" holds two non-objects
    assert listener.stats.reconnects == 0


def _reorg_tx(node: AnvilNode, payload: bytes) -> list[Any]:
    sender = node.rpc("eth_accounts")[1]
    return [{"from": sender, "to": TRACKED, "data": "0x" + payload.hex(), "gas": "0x186a0"}, 0]


async def _reorg_scenario(listener: ChainListener, node: AnvilNode, depth: int) -> None:
    stream = listener.events()
    try:
        before = await take_until(stream, header_at(0))
        mine_numbered(node, 5)
        before += await take_until(stream, header_at(5))
        mine(node)  # settle late logs of block 5
        before += await take_until(stream, header_at(6))
        old_logs = [e for e in before if isinstance(e, LogEvent) and e.block_number > 6 - depth]
        node.rpc("anvil_reorg", depth, [_reorg_tx(node, b"new branch")])
        after = await take_until(stream, header_at(6))
        mine(node, (TRACKED, b"after"))
        after += await take_until(stream, header_at(7))
        mine(node)
        after += await take_until(stream, header_at(8))
    finally:
        await stream.aclose()
    reorg = after[0]
    assert isinstance(reorg, Reorg)
    assert (reorg.fork_block, reorg.depth, reorg.beyond_window) == (6 - depth, depth, False)
    assert reorg.old_head == before[-1]
    assert [(x.block_hash, x.log_index, x.data) for x in reorg.removed_logs] == [
        (x.block_hash, x.log_index, x.data) for x in reversed(old_logs)
    ]
    assert all(x.removed for x in reorg.removed_logs)
    assert not any(isinstance(e, Reorg) for e in after[1:])
    # the new branch, then the blocks after it: exactly the canonical chain
    check_stream(after[1:], node, 7 - depth, 8)
    new_logs = [e for e in after if isinstance(e, LogEvent)]
    assert [x.data for x in new_logs] == [b"new branch", b"after"]
    assert listener.stats.reorgs == 1


@pytest.mark.parametrize("depth", [1, 2, 3])
async def test_reorg_over_websocket(node: AnvilNode, depth: int) -> None:
    listener = ChainListener(node.ws_url, None, [TRACKED], backoff=FAST)
    await _reorg_scenario(listener, node, depth)


async def test_http_polling_with_reorg(node: AnvilNode) -> None:
    listener = ChainListener(None, node.http_url, [TRACKED], poll_interval=0.02, backoff=FAST)
    await _reorg_scenario(listener, node, 2)
    assert listener.stats.mode == "http"


async def test_refused_websocket_falls_back_to_polling(node: AnvilNode) -> None:
    refused = f"ws://127.0.0.1:{free_port()}"
    listener = ChainListener(refused, node.http_url, [TRACKED], poll_interval=0.02, backoff=FAST)
    stream = listener.events()
    try:
        events = await take_until(stream, header_at(0))
        mine_numbered(node, 3)
        events += await take_until(stream, header_at(3))
    finally:
        await stream.aclose()
    check_stream(events, node, 0, 3)
    assert listener.stats.mode == "http"


async def test_rollback_below_the_window_is_a_deep_reorg(node: AnvilNode) -> None:
    listener = ChainListener(node.ws_url, None, [TRACKED], reorg_window=3, backoff=FAST)
    stream = listener.events()
    try:
        await take_until(stream, header_at(0))
        mine_numbered(node, 6)
        await take_until(stream, header_at(6))
        node.rpc("anvil_rollback", 5)  # back to block 1, older than the 3 blocks kept
        mine(node, (TRACKED, b"fresh"))
        mine(node)
        after = await take_until(stream, header_at(3))
    finally:
        await stream.aclose()
    reorg = after[0]
    assert isinstance(reorg, Reorg) and reorg.beyond_window
    assert (reorg.fork_block, reorg.depth) == (1, 5)
    assert [x.data for x in after if isinstance(x, LogEvent)] == [b"fresh"]
