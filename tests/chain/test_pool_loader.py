"""The state-override lens loads the same pool state the pools report one call at a time."""

from __future__ import annotations

from eth_abi import decode, encode
from eth_utils import keccak

from defibots.chain.addresses import V3_FEE_TICK_SPACING
from defibots.chain.pool_loader import load_v2_pairs, load_v3_pools
from defibots.chain.rpc import JsonRpc
from defibots.devnet import replica as rep
from defibots.devnet.node import Devnet


def _call(
    node: Devnet, to: str, signature: str, types: list[str], args: list[object], out: list[str]
) -> tuple:
    data = "0x" + (keccak(text=signature)[:4] + encode(types, args)).hex()
    return decode(out, bytes.fromhex(node.rpc("eth_call", {"to": to, "data": data}, "latest")[2:]))


def test_v3_snapshots_match_pool_getters(replica: Devnet) -> None:
    pools = [p for p in rep.seeded_pools() if p.protocol == "v3"]
    snaps = load_v3_pools(
        JsonRpc(replica.http_url), [p.address for p in pools], [V3_FEE_TICK_SPACING[p.fee] for p in pools]
    )
    assert [s.address for s in snaps] == [p.address for p in pools]
    for pool, snap in zip(pools, snaps, strict=True):
        sqrt_price, tick = _call(replica, pool.address, "slot0()", [], [], ["uint160", "int24"])[:2]
        (liquidity,) = _call(replica, pool.address, "liquidity()", [], [], ["uint128"])
        assert (snap.sqrt_price_x96, snap.tick, snap.liquidity) == (sqrt_price, tick, liquidity)
        assert snap.fee == pool.fee and snap.tick_spacing == V3_FEE_TICK_SPACING[pool.fee]
        assert len(snap.ticks) >= 20
        assert sum(net for _, _, net in snap.ticks) == 0  # every position adds at lower, removes at upper
        # the active liquidity is the sum of liquidityNet of initialized ticks at or below the current tick
        assert sum(net for t, _, net in snap.ticks if t <= snap.tick) == snap.liquidity
        for t, gross, net in snap.ticks[:: max(1, len(snap.ticks) // 8)]:
            chain_gross, chain_net = _call(
                replica, pool.address, "ticks(int24)", ["int24"], [t], ["uint128", "int128"]
            )
            assert (gross, net) == (chain_gross, chain_net)
            word = _call(
                replica,
                pool.address,
                "tickBitmap(int16)",
                ["int16"],
                [(t // snap.tick_spacing) >> 8],
                ["uint256"],
            )
            assert word[0] >> ((t // snap.tick_spacing) % 256) & 1 == 1


def test_v2_snapshots_match_get_reserves(replica: Devnet) -> None:
    pairs = [p for p in rep.seeded_pools() if p.protocol == "v2"]
    snaps = load_v2_pairs(JsonRpc(replica.http_url), [p.address for p in pairs])
    for pair, snap in zip(pairs, snaps, strict=True):
        r0, r1, _ = _call(replica, pair.address, "getReserves()", [], [], ["uint112", "uint112", "uint32"])
        assert (snap.reserve0, snap.reserve1) == (r0, r1) and r0 > 0
        assert snap.block_number == replica.block_number()
