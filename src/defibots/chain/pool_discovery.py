"""Find Uniswap V2 pairs and V3 pools: among a token set via the factories, or as they are created (logs)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

from eth_utils import keccak, to_checksum_address

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
    rpc: JsonRpc,
    tokens: Sequence[str],
    fees: Sequence[int] = tuple(V3_FEE_TICK_SPACING),
    v2_factory: str = UNISWAP_V2_FACTORY,
    v3_factory: str = UNISWAP_V3_FACTORY,
) -> list[PoolRef]:
    """Every existing pair/pool between two of `tokens`: factory getPair / getPool, batched (the factories
    of the chain's address book; mainnet's by default)."""
    pairs = [tuple(sorted((a, b), key=lambda t: int(t, 16))) for a, b in combinations(tokens, 2)]
    queries: list[tuple[str, str, str, int]] = []
    calls: list[tuple[str, list[object]]] = []
    for t0, t1 in pairs:
        queries.append(("v2", t0, t1, 3000))
        data = calldata("getPair(address,address)", t0, t1)
        calls.append(("eth_call", [{"to": v2_factory, "data": data}, "latest"]))
        for fee in fees:
            queries.append(("v3", t0, t1, fee))
            data = calldata("getPool(address,address,uint24)", t0, t1, fee)
            calls.append(("eth_call", [{"to": v3_factory, "data": data}, "latest"]))
    found: list[PoolRef] = []
    for (protocol, t0, t1, fee), raw in zip(queries, rpc.batch(calls), strict=True):
        address = "0x" + str(raw)[-40:] if isinstance(raw, str) and len(raw) >= 42 else ZERO
        if int(address, 16) != 0:
            found.append(PoolRef(protocol, to_checksum_address(address), t0, t1, fee))
    return found


PAIR_CREATED = "0x" + keccak(text="PairCreated(address,address,address,uint256)").hex()
POOL_CREATED = "0x" + keccak(text="PoolCreated(address,address,uint24,int24,address)").hex()


def pools_created(
    rpc: JsonRpc, from_block: int, to_block: int, tokens: Sequence[str] | None = None, max_range: int = 10_000
) -> list[PoolRef]:
    """Pairs and pools the factories created in a block range (PairCreated / PoolCreated logs), optionally
    only those between two of `tokens`: how a watcher learns of markets that appear while it runs."""
    wanted = {t.lower() for t in tokens} if tokens is not None else None
    found: list[PoolRef] = []
    for start in range(from_block, to_block + 1, max_range):
        end = min(to_block, start + max_range - 1)
        factories = [UNISWAP_V2_FACTORY, UNISWAP_V3_FACTORY]
        flt = {
            "fromBlock": hex(start),
            "toBlock": hex(end),
            "address": factories,
            "topics": [[PAIR_CREATED, POOL_CREATED]],
        }
        logs = rpc.call("eth_getLogs", flt)
        for log in logs:
            topics, data = log["topics"], bytes.fromhex(log["data"][2:])
            t0, t1 = (to_checksum_address("0x" + t[-40:]) for t in topics[1:3])
            if wanted is not None and not (t0.lower() in wanted and t1.lower() in wanted):
                continue
            if topics[0] == PAIR_CREATED:
                found.append(PoolRef("v2", to_checksum_address(data[12:32]), t0, t1, 3000))
            else:
                fee = int(topics[3], 16)
                found.append(PoolRef("v3", to_checksum_address(data[44:64]), t0, t1, fee))
    return found
