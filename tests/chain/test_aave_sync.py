"""Aave state sync on the replica: the batched loader equals an independent per-call reader, and a store
fed only the chain's real logs (random supplies, borrows, repays, withdrawals, aToken transfers, e-mode
switches, price moves, time warps and a liquidation by dev accounts) equals the chain to the wei after
every step; reorgs roll back to what a fresh load reads. Seeds are printed."""

from __future__ import annotations

import os
import random

import pytest
from tests.chain.aave_world import (
    MARKET,
    Actors,
    assert_store_equals_chain,
    load_store,
    sync,
    token,
    unstamped,
)
from tests.protocols.aave_v3.replica_state import AaveOnChain
from tests.protocols.conftest import JsonRpc as ContractRpc

from defibots.chain.aave_loader import aave_part_loader, discover_borrowers, load_aave
from defibots.chain.calldata import calldata
from defibots.chain.rpc import JsonRpc
from defibots.devnet.aave_params import aave_params
from defibots.devnet.aave_replica import feed_aggregator, seeded_address, set_aave_price
from defibots.devnet.node import Devnet
from defibots.state.aave import AaveReserve, aave

pytestmark = pytest.mark.devnet
SEED = int(os.environ.get("AAVE_SYNC_SEED", "20261203"))


def test_loader_equals_a_per_call_reader(devnet: Devnet) -> None:
    rpc = JsonRpc(devnet.http_url)
    market, snapshot = load_store(rpc)
    reference = AaveOnChain(ContractRpc(devnet.http_url))
    part = aave(market)
    assert {a: r.state for a, r in part.reserves().items()} == reference.reserves()
    for asset, r in part.reserves().items():
        assert r.price == reference.oracle.call("getAssetPrice", asset)
        assert r.price_source.lower() == reference.oracle.call("getSourceOfAsset", asset).lower()
        assert r.feed == r.price_feed == feed_aggregator(r.symbol)  # the aggregator behind the proxy
    params = aave_params()
    seeded = {seeded_address("borrower", i) for i in range(len(params.borrowers))}
    seeded |= {seeded_address("supplier", i) for i in range(len(params.suppliers))}
    assert seeded <= set(part.accounts())  # every holder was discovered from the token logs
    borrowers = discover_borrowers(rpc, MARKET.pool, 0, snapshot.block_number)
    assert {seeded_address("borrower", i) for i in range(len(params.borrowers))} <= set(borrowers)
    for user in part.accounts():
        chain = {p.reserve.asset: p for p in reference.positions(user)}
        for asset, position in part.accounts()[user].positions:
            c = chain[asset]
            assert (position.scaled_a_token, position.scaled_debt, position.collateral) == (
                c.scaled_a_token_balance,
                c.scaled_variable_debt,
                c.using_as_collateral,
            )
        assert part.accounts()[user].e_mode == reference.pool.call("getUserEMode", user)
    assert part.e_mode(1) == reference.e_mode_of(seeded_address("borrower", 6))
    assert assert_store_equals_chain(market, rpc) >= len(seeded)


def test_a_source_that_is_not_a_proxy_is_its_own_feed(devnet: Devnet) -> None:
    """Aave's oracle pointed straight at an aggregator (no `aggregator()` to ask): the loader keeps the source
    as the feed, and the store still follows that source's AnswerUpdated."""
    rpc = JsonRpc(devnet.http_url)
    weth, aggregator = token("WETH"), feed_aggregator("WETH")
    rpc.call("anvil_impersonateAccount", MARKET.acl_admin)
    data = calldata("setAssetSources(address[],address[])", [weth], [aggregator])
    rpc.call("eth_sendTransaction", {"from": MARKET.acl_admin, "to": MARKET.oracle, "data": data})
    market, snapshot = load_store(rpc)
    reserve = aave(market).reserve(weth)
    assert (reserve.price_source, reserve.price_feed, reserve.feed) == (aggregator, "", aggregator)
    assert aave(market).reserve(token("USDC")).feed == feed_aggregator("USDC")
    set_aave_price(devnet.http_url, "WETH", 2_222 * 10**8)
    changed = sync(market, rpc, snapshot.block_number + 1, devnet.block_number())
    assert weth in changed[aave(market).name] and aave(market).reserve(weth).price == 2_222 * 10**8


def test_store_follows_random_actions_to_the_wei(devnet: Devnet) -> None:
    print(f"seed {SEED}")
    rng = random.Random(SEED)
    rpc = JsonRpc(devnet.http_url)
    actors = Actors(devnet, rng)
    market, snapshot = load_store(rpc)
    synced = snapshot.block_number
    for step in range(36):
        if step < 6:
            actors.supply()  # collateral first, so that borrows and the rest have something to act on
        elif step in (12, 24):
            actors.warp()
        elif step == 28:
            assert actors.liquidate(0, receive_a_token=rng.random() < 0.5)
        else:
            actors.random_action()
        head = devnet.block_number()
        sync(market, rpc, synced + 1, head)
        synced = head
        assert_store_equals_chain(market, rpc)
    print("actions", actors.done)
    assert market.stats.malformed == 0 and market.stats.applied > 50
    kinds = {label.split()[0] for label in actors.done}
    assert {"supply", "borrow", "repay", "withdraw", "liquidate", "price", "warp"} <= kinds
    new = [u for u in actors.users if u not in snapshot.entries and aave(market).account(u) is not None]
    assert new  # dev accounts with no Aave history were indexed from their first token event


def test_rollback_after_a_reorg_equals_a_fresh_load(devnet: Devnet) -> None:
    rng = random.Random(SEED + 1)
    print(f"seed {SEED + 1}")
    rpc = JsonRpc(devnet.http_url)
    actors = Actors(devnet, rng)
    market, snapshot = load_store(rpc)
    fork = devnet.block_number()
    user = actors.users[0]
    actors.chain.send(user, MARKET.pool, actors.chain.pool, "supply", token("WETH"), 5 * 10**18, user, 0)
    actors.chain.send(
        user, MARKET.pool, actors.chain.pool, "borrow", token("USDC"), 2_000 * 10**6, 2, 0, user
    )
    actors.price()
    actors.warp()
    actors.chain.send(user, MARKET.pool, actors.chain.pool, "repay", token("USDC"), 500 * 10**6, 2, user)
    head = devnet.block_number()
    sync(market, rpc, snapshot.block_number + 1, head)
    assert aave(market).account(user) is not None
    for depth in (1, 2):
        devnet.rpc("anvil_rollback", depth)
        head = devnet.block_number()
        market.rollback(head)
        assert_store_equals_chain(market, rpc)
    devnet.rpc("anvil_rollback", head - fork)  # back to before the first supply: the new account is gone
    market.rollback(fork)
    assert aave(market).account(user) is None
    assert {k: unstamped(e) for k, e in aave(market).entries.items()} == {
        k: unstamped(e) for k, e in load_store(rpc)[1].entries.items()
    }
    # a different branch from the fork: replay its logs on the rolled-back store
    actors.chain.send(user, MARKET.pool, actors.chain.pool, "supply", token("DAI"), 7_000 * 10**18, user, 0)
    actors.borrow()
    sync(market, rpc, fork + 1, devnet.block_number())
    assert_store_equals_chain(market, rpc)


async def test_async_part_loader_equals_the_sync_load(devnet: Devnet) -> None:
    rpc = JsonRpc(devnet.http_url)
    market, _ = load_store(rpc)
    users = sorted(aave(market).accounts())
    loader = aave_part_loader(devnet.http_url, MARKET.pool, MARKET.oracle, lambda: users)
    entries = await loader()
    assert entries == load_aave(rpc, MARKET.pool, MARKET.oracle, users).entries
    assert sum(isinstance(e, AaveReserve) for e in entries.values()) == 5
    market.replace("aave_v3", entries)
    assert_store_equals_chain(market, rpc)
