"""Log-synced models equal a fresh load from the chain after random swaps, mints and burns, and after
reorgs (anvil_rollback / anvil_reorg)."""

from __future__ import annotations

import random
from dataclasses import dataclass

from defibots.chain import addresses as A
from defibots.chain.calldata import calldata
from defibots.chain.pool_loader import load_v2_pairs, load_v3_pools, v2_from_snapshot, v3_from_snapshot
from defibots.chain.rpc import JsonRpc
from defibots.devnet.node import Devnet
from defibots.devnet.noise import MarketNoise, swap_call
from defibots.devnet.replica import seeded_pools
from defibots.protocols.uniswap_v3 import UniswapV3Pool
from defibots.state.store import MarketState
from defibots.state.uniswap import TRACKED_TOPICS, pool_market, uniswap


@dataclass(frozen=True)
class Log:
    address: str
    topics: tuple[str, ...]
    data: bytes
    block_number: int
    log_index: int


def load_all(rpc: JsonRpc) -> dict[str, object]:
    pools = seeded_pools()
    v3 = [p for p in pools if p.protocol == "v3"]
    snaps = load_v3_pools(rpc, [p.address for p in v3], [A.V3_FEE_TICK_SPACING[p.fee] for p in v3])
    models: dict[str, object] = {s.address: v3_from_snapshot(s) for s in snaps}
    for s in load_v2_pairs(rpc, [p.address for p in pools if p.protocol == "v2"]):
        models[s.address] = v2_from_snapshot(s)
    return models


def fetch_logs(rpc: JsonRpc, start: int, end: int) -> list[Log]:
    raw = rpc.call(
        "eth_getLogs",
        {"fromBlock": hex(start), "toBlock": hex(end), "address": [p.address for p in seeded_pools()],
         "topics": [list(TRACKED_TOPICS)]},
    )  # fmt: skip
    return [
        Log(r["address"], tuple(r["topics"]), bytes.fromhex(r["data"][2:]), int(r["blockNumber"], 16),
            int(r["logIndex"], 16))
        for r in raw
    ]  # fmt: skip


def assert_models_equal_chain(states: MarketState, rpc: JsonRpc) -> None:
    fresh = load_all(rpc)
    for address, chain_model in fresh.items():
        synced = uniswap(states).pools[address]
        if isinstance(chain_model, UniswapV3Pool):
            assert isinstance(synced, UniswapV3Pool)
            assert (synced.sqrt_price_x96, synced.tick, synced.liquidity) == (
                chain_model.sqrt_price_x96, chain_model.tick, chain_model.liquidity
            ), address  # fmt: skip
            assert dict(synced.ticks) == dict(chain_model.ticks), address
            assert dict(synced.bitmap) == dict(chain_model.bitmap), address
        else:
            assert (synced.reserve0, synced.reserve1) == (chain_model.reserve0, chain_model.reserve1), address  # type: ignore[union-attr]


def wait_ok(noise: MarketNoise, hashes: list[str]) -> None:
    assert all(r["status"] == "0x1" for r in noise.wait_mined(hashes))


def mint_and_burn(devnet: Devnet, rng: random.Random, n: int) -> list[str]:
    """NPM mints at random ranges (some at bitmap word edges and negative ticks), then partial burns."""
    lp = devnet.accounts[4]
    noise = MarketNoise(devnet.http_url, [lp], seed=rng.randrange(2**32))
    for token in A.TOKENS.values():
        noise.send(
            lp, token.address, calldata("approve(address,uint256)", A.UNISWAP_V3_POSITION_MANAGER, 2**256 - 1)
        )
    hashes = []
    v3 = [p for p in seeded_pools() if p.protocol == "v3"]
    states = load_all(JsonRpc(devnet.http_url))
    for _ in range(n):
        pool = rng.choice(v3)
        model = states[pool.address]
        assert isinstance(model, UniswapV3Pool)
        spacing = model.tick_spacing
        word_edge = ((model.tick // spacing) >> 8) * 256 * spacing  # first tick of the current word
        lower = rng.choice(
            [word_edge - spacing, word_edge, (model.tick // spacing - rng.randint(1, 300)) * spacing]
        )
        upper = lower + spacing * rng.randint(1, 400)
        t0, t1 = A.TOKENS[pool.token0], A.TOKENS[pool.token1]
        amounts = (10**4 * 10**t0.decimals, 10**4 * 10**t1.decimals)
        if t0.symbol in ("WETH", "WBTC") or t1.symbol in ("WETH", "WBTC"):
            amounts = tuple(a // 1000 for a in amounts)  # type: ignore[assignment]
        params = (
            t0.address,
            t1.address,
            pool.fee,
            lower,
            upper,
            amounts[0],
            amounts[1],
            0,
            0,
            lp.address,
            2**40,
        )
        sig = "mint((address,address,uint24,int24,int24,uint256,uint256,uint256,uint256,address,uint256))"
        hashes.append(noise.send(lp, A.UNISWAP_V3_POSITION_MANAGER, calldata(sig, params), 600_000))
    wait_ok(noise, hashes)
    supply = int(
        devnet.rpc(
            "eth_call", {"to": A.UNISWAP_V3_POSITION_MANAGER, "data": calldata("totalSupply()")}, "latest"
        ),
        16,
    )
    burns = []
    for token_id in range(supply - n + 1, supply + 1, 2):
        position = devnet.rpc(
            "eth_call",
            {"to": A.UNISWAP_V3_POSITION_MANAGER, "data": calldata("positions(uint256)", token_id)},
            "latest",
        )
        liquidity = int(position[2 + 64 * 7 : 2 + 64 * 8], 16)
        burn = liquidity if rng.random() < 0.5 else liquidity // 3
        sig = "decreaseLiquidity((uint256,uint128,uint256,uint256,uint256))"
        burns.append(
            noise.send(
                lp, A.UNISWAP_V3_POSITION_MANAGER, calldata(sig, (token_id, burn, 0, 0, 2**40)), 600_000
            )
        )
    wait_ok(noise, burns)
    return hashes + burns


def test_synced_models_equal_fresh_load_after_swaps_mints_burns(devnet: Devnet) -> None:
    seed = random.randrange(2**32)
    print(f"seed {seed}")
    rng = random.Random(seed)
    rpc = JsonRpc(devnet.http_url)
    states = pool_market(load_all(rpc).values())  # type: ignore[arg-type]
    start = devnet.block_number()
    noise = MarketNoise(devnet.http_url, devnet.accounts[5:], seed=rng.randrange(2**32))
    noise.approve_routers()
    swaps = [noise.random_swap() for _ in range(80)]
    wait_ok(noise, swaps)
    mint_and_burn(devnet, rng, 16)
    swaps = [noise.random_swap() for _ in range(40)]
    wait_ok(noise, swaps)
    logs = fetch_logs(rpc, start + 1, devnet.block_number())
    states.apply_many(logs)
    assert states.stats.applied == len(logs) > 100
    assert states.stats.malformed == states.stats.stale == 0
    assert_models_equal_chain(states, rpc)
    # replaying the same logs changes nothing: every one is stale now
    states.apply_many(logs)
    assert states.stats.stale == len(logs)
    assert_models_equal_chain(states, rpc)


def test_rollback_and_reorg_restore_chain_state(devnet: Devnet) -> None:
    rng = random.Random(5)
    rpc = JsonRpc(devnet.http_url)
    states = pool_market(load_all(rpc).values())  # type: ignore[arg-type]
    noise = MarketNoise(devnet.http_url, devnet.accounts[5:], seed=rng.randrange(2**32))
    noise.approve_routers()
    start = devnet.block_number()
    wait_ok(noise, [noise.random_swap() for _ in range(30)])
    head = devnet.block_number()
    states.apply_many(fetch_logs(rpc, start + 1, head))
    for depth in (1, 2, 3):
        devnet.rpc("anvil_rollback", depth)
        head = devnet.block_number()
        states.rollback(head)
        assert_models_equal_chain(states, rpc)
    # anvil_reorg: replace the last 3 blocks with different swaps, then resync from the fork point
    noise.nonces.clear()  # the rolled-back transactions' nonces are free again
    wait_ok(noise, [noise.random_swap() for _ in range(6)])
    head = devnet.block_number()
    states.apply_many(fetch_logs(rpc, head - 5, head))
    fork = head - 3
    trader = devnet.accounts[7].address
    pools = seeded_pools()
    replacement = []
    for offset in range(3):
        pool = rng.choice(pools)
        router, data = swap_call(rng, pool, pool.token0, 5 * 10 ** A.TOKENS[pool.token0].decimals, trader)
        replacement.append([{"from": trader, "to": router, "data": data, "gas": hex(400_000)}, offset])
    devnet.rpc("anvil_reorg", 3, replacement)
    assert devnet.block_number() == head
    states.rollback(fork)
    states.apply_many(fetch_logs(rpc, fork + 1, head))
    assert_models_equal_chain(states, rpc)
