"""What to read into a simulator's private fork ahead of a bundle: a fork fetches state from its upstream
lazily, one round trip per account or slot, so the first simulation on a new head pays for every read
unless they were made before (off the hot path, right after the block)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from defibots.actions import PoolToWarm
from defibots.chain.calldata import calldata

RpcCall = tuple[str, list[Any]]


def read(to: str, data: str, sender: str | None = None) -> RpcCall:
    call = {"to": to, "data": data} | ({"from": sender} if sender else {})
    return "eth_call", [call, "latest"]


def pool_reads(pools: Iterable[PoolToWarm]) -> list[RpcCall]:
    """Each pool's reserves (V2) or slot0, liquidity and the tick-bitmap words around its price (V3), and
    its two token balances: what a swap through it reads first."""
    calls = []
    for pool in pools:
        if pool.protocol == "v2":
            calls.append(read(pool.address, calldata("getReserves()")))
        else:
            calls += [read(pool.address, calldata("slot0()")), read(pool.address, calldata("liquidity()"))]
            calls += [
                read(pool.address, calldata("tickBitmap(int16)", w))
                for w in pool.bitmap_words
                if -(2**15) <= w < 2**15
            ]
        calls += [read(t, calldata("balanceOf(address)", pool.address)) for t in (pool.token0, pool.token1)]
    return calls
