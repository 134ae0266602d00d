"""Find the Uniswap V2 pairs and V3 pools among a token set by asking the factories (one batched call)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

from eth_utils import to_checksum_address

from defibots.chain.addresses import UNISWAP_V2_FACTORY, UNISWAP_V3_FACTORY, V3_FEE_TICK_SPACING
from defibots.chain.calldata import calldata
from defibots.chain.rpc import JsonRpc

ZERO = "0x" + "00" * 20


@dataclass(frozen=True)
class PoolRef:
    protocol: str  # "v2" | "v3"
    address: str
    token0: str
    token1: str
    fee: int  # V3 fee tier; 3000 for V2 pairs

    @property
    def tick_spacing(self) -> int:
        return V3_FEE_TICK_SPACING.get(self.fee, 1) if self.protocol == "v3" else 0


def discover_pools(
    rpc: JsonRpc, tokens: Sequence[str], fees: Sequence[int] = tuple(V3_FEE_TICK_SPACING)
) -> list[PoolRef]:
    """Every existing pair/pool between two of `tokens`: factory getPair / getPool, batched."""
    pairs = [tuple(sorted((a, b), key=lambda t: int(t, 16))) for a, b in combinations(tokens, 2)]
    queries: list[tuple[str, str, str, int]] = []
    calls: list[tuple[str, list[object]]] = []
    for t0, t1 in pairs:
        queries.append(("v2", t0, t1, 3000))
        data = calldata("getPair(address,address)", t0, t1)
        calls.append(("eth_call", [{"to": UNISWAP_V2_FACTORY, "data": data}, "latest"]))
        for fee in fees:
            queries.append(("v3", t0, t1, fee))
            data = calldata("getPool(address,address,uint24)", t0, t1, fee)
            calls.append(("eth_call", [{"to": UNISWAP_V3_FACTORY, "data": data}, "latest"]))
    found: list[PoolRef] = []
    for (protocol, t0, t1, fee), raw in zip(queries, rpc.batch(calls), strict=True):
        address = "0x" + str(raw)[-40:] if isinstance(raw, str) and len(raw) >= 42 else ZERO
        if int(address, 16) != 0:
            found.append(PoolRef(protocol, to_checksum_address(address), t0, t1, fee))
    return found
