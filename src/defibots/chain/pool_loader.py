"""Load many Uniswap pools, with every initialized V3 tick, in few round trips.

The PoolLens contract is never deployed: its runtime code rides along as an eth_call state override, so
the same loader works on the devnet, on a fork and on any RPC that supports overrides. Pools are grouped
so each call stays under a gas budget (a tick-spacing-1 pool scans ~6,900 bitmap words), and the groups
go out as one JSON-RPC batch pinned to one block, so every snapshot is from the same state.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from eth_abi import decode, encode
from eth_utils import keccak, to_checksum_address

from defibots.chain.async_rpc import AsyncJsonRpc, HttpRpc, to_int
from defibots.chain.pool_discovery import PoolRef
from defibots.chain.rpc import JsonRpc
from defibots.paths import forge_artifact
from defibots.protocols.uniswap_v2 import UniswapV2Pair
from defibots.protocols.uniswap_v3 import UniswapV3Pool
from defibots.state.store import END_OF_BLOCK
from defibots.state.uniswap import PoolModel

LENS_ADDRESS = to_checksum_address(keccak(text="defibots pool lens")[12:])
CALL_GAS = 500_000_000
GAS_BUDGET_PER_CALL = 200_000_000
_GAS_PER_WORD = 3_000
_MAX_TICK = 887272

_V3_TUPLE = "(address,address,address,uint24,int24,uint160,int24,uint128,(int24,uint128,int128)[])"
_V2_TUPLE = "(address,address,address,uint112,uint112)"


@dataclass(frozen=True)
class V3PoolSnapshot:
    address: str
    token0: str
    token1: str
    fee: int
    tick_spacing: int
    sqrt_price_x96: int
    tick: int
    liquidity: int
    ticks: tuple[tuple[int, int, int], ...]
    """(tick, liquidityGross, liquidityNet) for every initialized tick, ascending."""
    block_number: int


@dataclass(frozen=True)
class V2PairSnapshot:
    address: str
    token0: str
    token1: str
    reserve0: int
    reserve1: int
    block_number: int


@cache
def _lens_code() -> str:
    data = json.loads(forge_artifact("PoolLens.sol", "PoolLens").read_text())
    return str(data["deployedBytecode"]["object"])


def _selector(signature: str) -> bytes:
    return keccak(text=signature)[:4]


def _words(tick_spacing: int) -> int:
    return 2 * ((_MAX_TICK // tick_spacing) >> 8) + 2


def _groups(pools: Sequence[tuple[str, int]]) -> list[list[str]]:
    """Split (address, tick spacing) pairs into calls under the gas budget."""
    groups: list[list[str]] = []
    current: list[str] = []
    gas = 0
    for address, spacing in pools:
        cost = _words(spacing) * _GAS_PER_WORD + 200_000
        if current and gas + cost > GAS_BUDGET_PER_CALL:
            groups.append(current)
            current, gas = [], 0
        current.append(address)
        gas += cost
    if current:
        groups.append(current)
    return groups


RpcCall = tuple[str, list[Any]]


def _lens_call(data: bytes, block: str) -> RpcCall:
    tx = {"to": LENS_ADDRESS, "data": "0x" + data.hex(), "gas": hex(CALL_GAS)}
    return "eth_call", [tx, block, {LENS_ADDRESS: {"code": _lens_code()}}]


def _v3_calls(pools: Sequence[str], tick_spacings: Sequence[int] | None, block_tag: str) -> list[RpcCall]:
    spacings = list(tick_spacings) if tick_spacings is not None else [1] * len(pools)
    groups = _groups(list(zip(pools, spacings, strict=True)))
    selector = _selector("v3Pools(address[])")
    return [_lens_call(selector + encode(["address[]"], [g]), block_tag) for g in groups]


def _decode_v3(replies: Sequence[str]) -> list[V3PoolSnapshot]:
    out: list[V3PoolSnapshot] = []
    for raw in replies:
        decoded, number = decode([f"{_V3_TUPLE}[]", "uint256"], bytes.fromhex(raw[2:]))
        for p in decoded:
            ticks = tuple((int(t[0]), int(t[1]), int(t[2])) for t in p[8])
            out.append(
                V3PoolSnapshot(
                    to_checksum_address(p[0]), to_checksum_address(p[1]), to_checksum_address(p[2]),
                    int(p[3]), int(p[4]), int(p[5]), int(p[6]), int(p[7]), ticks, int(number),
                )
            )  # fmt: skip
    return out


def _v2_call(pairs: Sequence[str], block_tag: str) -> RpcCall:
    return _lens_call(_selector("v2Pairs(address[])") + encode(["address[]"], [list(pairs)]), block_tag)


def _decode_v2(raw: str) -> list[V2PairSnapshot]:
    decoded, number = decode([f"{_V2_TUPLE}[]", "uint256"], bytes.fromhex(raw[2:]))
    return [
        V2PairSnapshot(
            to_checksum_address(p[0]), to_checksum_address(p[1]), to_checksum_address(p[2]),
            int(p[3]), int(p[4]), int(number),
        )
        for p in decoded
    ]  # fmt: skip


def load_v3_pools(
    rpc: JsonRpc, pools: Sequence[str], tick_spacings: Sequence[int] | None = None, block: int | None = None
) -> list[V3PoolSnapshot]:
    """Snapshots of V3 pools at one block. Pass the tick spacings when known (fee tier) to pack calls well."""
    if not pools:
        return []
    block_tag = hex(block) if block is not None else hex(int(rpc.call("eth_blockNumber"), 16))
    return _decode_v3(rpc.batch(_v3_calls(pools, tick_spacings, block_tag)))


def load_v2_pairs(rpc: JsonRpc, pairs: Sequence[str], block: int | None = None) -> list[V2PairSnapshot]:
    if not pairs:
        return []
    method, params = _v2_call(pairs, hex(block) if block is not None else "latest")
    return _decode_v2(rpc.call(method, *params))


async def load_v3_pools_async(
    rpc: AsyncJsonRpc, pools: Sequence[str], tick_spacings: Sequence[int] | None, block: int
) -> list[V3PoolSnapshot]:
    """load_v3_pools over an async transport, for reloads while the event loop runs."""
    if not pools:
        return []
    return _decode_v3(await rpc.batch(_v3_calls(pools, tick_spacings, hex(block))))


async def load_v2_pairs_async(rpc: AsyncJsonRpc, pairs: Sequence[str], block: int) -> list[V2PairSnapshot]:
    """load_v2_pairs over an async transport."""
    if not pairs:
        return []
    method, params = _v2_call(pairs, hex(block))
    return _decode_v2(await rpc.call(method, params))


def v2_from_snapshot(s: V2PairSnapshot) -> UniswapV2Pair:
    return UniswapV2Pair(
        s.address,
        s.token0,
        s.token1,
        s.reserve0,
        s.reserve1,
        block_number=s.block_number,
        log_index=END_OF_BLOCK,
    )


def v3_from_snapshot(s: V3PoolSnapshot) -> UniswapV3Pool:
    return UniswapV3Pool.from_chain_state(
        address=s.address, token0=s.token0, token1=s.token1, fee=s.fee, tick_spacing=s.tick_spacing,
        sqrt_price_x96=s.sqrt_price_x96, tick=s.tick, liquidity=s.liquidity, ticks=s.ticks,
        block_number=s.block_number, log_index=END_OF_BLOCK,
    )  # fmt: skip


def pool_models(v3: Sequence[V3PoolSnapshot], v2: Sequence[V2PairSnapshot]) -> dict[str, PoolModel]:
    """Models by address from one load's snapshots (the blocking and the async loader share this)."""
    models: dict[str, PoolModel] = {s.address: v3_from_snapshot(s) for s in v3}
    models.update({s.address: v2_from_snapshot(s) for s in v2})
    return models


class PoolReloader:
    """The Uniswap part's loader: fresh models of the tracked pools, all read at one block, over async HTTP.

    Async so that a reload after a deep reorg never blocks the event loop (the listener's websocket, the
    other collectors and the executors keep running while the pools load).
    """

    def __init__(self, rpc_url: str, refs: Sequence[PoolRef], timeout: float = 60.0) -> None:
        self.rpc_url = rpc_url
        self.refs = list(refs)
        self.timeout = timeout

    async def __call__(self) -> dict[str, PoolModel]:
        async with HttpRpc(self.rpc_url, self.timeout) as rpc:
            block = to_int(await rpc.call("eth_blockNumber"))
            v3 = [r for r in self.refs if r.protocol == "v3"]
            v3_snapshots = await load_v3_pools_async(
                rpc, [r.address for r in v3], [r.tick_spacing for r in v3], block
            )
            v2 = [r.address for r in self.refs if r.protocol == "v2"]
            v2_snapshots = await load_v2_pairs_async(rpc, v2, block)
        return pool_models(v3_snapshots, v2_snapshots)


def load_pools(rpc: JsonRpc, refs: Sequence[PoolRef]) -> dict[str, PoolModel]:
    """Current models of the given pools, all read at one block."""
    block = int(rpc.call("eth_blockNumber"), 16)
    v3 = [r for r in refs if r.protocol == "v3"]
    v2 = [r.address for r in refs if r.protocol == "v2"]
    return pool_models(
        load_v3_pools(rpc, [r.address for r in v3], [r.tick_spacing for r in v3], block),
        load_v2_pairs(rpc, v2, block),
    )
