"""The Aave state part fed the replica's real logs: a price update names exactly the accounts holding the
asset (and only their account data moves), a liquidation touches both reserves and the borrower, rollback
restores entries and the holder index, replays are stale, and a log whose block time is unknown raises
before anything is applied (never guessed)."""

from __future__ import annotations

import random

import pytest
from tests.chain.aave_world import (
    MARKET,
    Actors,
    assert_store_equals_chain,
    fetch_blocks,
    latest_timestamp,
    load_store,
    sync,
    token,
)

from defibots.chain.rpc import JsonRpc
from defibots.devnet.aave_replica import seeded_address, set_aave_price
from defibots.devnet.node import Devnet
from defibots.protocols.aave_v3.math import WAD
from defibots.state.aave import (
    LIQUIDATION_CALL,
    AaveUpdated,
    MissingBlockTime,
    aave,
    account_data,
    liquidation_price,
)

pytestmark = pytest.mark.devnet


def chain_holders(actors: Actors, users: list[str], symbol: str) -> set[str]:
    """Users whose HF the asset's price moves, read from the chain: debt in it, or it as collateral."""
    asset = token(symbol)
    rid = actors.chain.pool.call("getReserveData", asset)[7]
    out = set()
    for user in users:
        (config,) = actors.chain.pool.call("getUserConfiguration", user)
        debt = actors.chain.debt_token(asset).call("scaledBalanceOf", user)
        supplied = actors.chain.a_token(asset).call("scaledBalanceOf", user)
        if debt or (config >> (2 * rid + 1) & 1 and supplied):
            out.add(user)
    return out


def test_price_update_names_only_the_assets_holders(devnet: Devnet) -> None:
    rpc = JsonRpc(devnet.http_url)
    actors = Actors(devnet, random.Random(1))
    market, snapshot = load_store(rpc)
    part = aave(market)
    users = sorted(part.accounts())
    before = {u: account_data(part, u, snapshot.timestamp) for u in users}
    assert part.reserve(token("WBTC")).price == 60_000 * 10**8
    set_aave_price(devnet.http_url, "WBTC", 45_000 * 10**8)
    head = devnet.block_number()
    changes = sync(market, rpc, head, head)  # same second as nothing else: only the price moved
    (event,) = market.events(31337, head, changes)
    assert isinstance(event, AaveUpdated)
    assert event.reserves == (token("WBTC"),) and event.accounts == ()
    expected = chain_holders(actors, users, "WBTC")
    assert 0 < len(expected) < len(users)
    assert set(event.revalued) == expected == part.holders(token("WBTC"))
    assert part.reserve(token("WBTC")).price == 45_000 * 10**8
    ts = latest_timestamp(rpc)
    old_price = {token("WBTC"): 60_000 * 10**8}
    assert before and snapshot.entries[token("WBTC")] != part.reserve(token("WBTC"))
    for user in users:  # at one time, only the named accounts' data depends on the WBTC price
        moved = account_data(part, user, ts) != account_data(part, user, ts, old_price)
        assert moved == (user in expected), user
    assert_store_equals_chain(market, rpc)


def test_liquidation_touches_both_reserves_and_the_borrower(devnet: Devnet) -> None:
    rpc = JsonRpc(devnet.http_url)
    actors = Actors(devnet, random.Random(2))
    market, _ = load_store(rpc)
    part = aave(market)
    borrower = seeded_address("borrower", 0)
    ts = latest_timestamp(rpc)
    price = liquidation_price(part, borrower, token("WETH"), ts)
    assert price is not None and price < part.reserve(token("WETH")).price
    assert account_data(part, borrower, ts, {token("WETH"): price}).health_factor >= WAD
    assert account_data(part, borrower, ts, {token("WETH"): price - 1}).health_factor < WAD
    synced = devnet.block_number()
    assert actors.liquidate(0)
    head = devnet.block_number()
    blocks = fetch_blocks(rpc, head, head)
    (liquidation,) = [log for _, logs in blocks for log in logs if log.topics[0] == LIQUIDATION_CALL]
    debt = "0x" + liquidation.topics[2][-40:]
    assert set(map(str.lower, part.affected(liquidation))) == {token("WETH").lower(), debt.lower()}
    changes = sync(market, rpc, synced + 1, head)
    (event,) = market.events(31337, head, changes)
    assert isinstance(event, AaveUpdated)
    assert {token("WETH"), part.reserve(debt).asset} <= set(event.reserves)
    assert borrower in event.accounts and borrower in event.revalued
    assert (
        account_data(part, borrower, latest_timestamp(rpc)).health_factor
        == actors.chain.pool.call("getUserAccountData", borrower)[5]
    )
    assert_store_equals_chain(market, rpc)


def test_rollback_restores_entries_and_the_holder_index(devnet: Devnet) -> None:
    rpc = JsonRpc(devnet.http_url)
    actors = Actors(devnet, random.Random(3))
    market, snapshot = load_store(rpc)
    part = aave(market)
    user = actors.users[0]
    start = devnet.block_number()
    actors.chain.send(user, MARKET.pool, actors.chain.pool, "supply", token("WETH"), 3 * 10**18, user, 0)
    actors.chain.send(
        user, MARKET.pool, actors.chain.pool, "borrow", token("DAI"), 1_000 * 10**18, 2, 0, user
    )
    logs = [
        log for _, block_logs in fetch_blocks(rpc, start + 1, devnet.block_number()) for log in block_logs
    ]
    sync(market, rpc, start + 1, devnet.block_number())
    assert user in part.holders(token("DAI")) and user in part.holders(token("WETH"))
    applied = market.stats.applied
    market.apply_many(logs)  # delivered again: every log is stale, nothing moves
    assert market.stats.applied == applied and market.stats.stale == len(logs)
    market.rollback(start)
    assert part.account(user) is None
    assert user not in part.holders(token("DAI")) and user not in part.holders(token("WETH"))
    assert {k: e for k, e in part.entries.items()} == snapshot.entries


def test_a_log_without_a_known_block_time_is_refused(devnet: Devnet) -> None:
    rpc = JsonRpc(devnet.http_url)
    actors = Actors(devnet, random.Random(4))
    market, snapshot = load_store(rpc)
    user = actors.users[1]
    actors.chain.send(user, MARKET.pool, actors.chain.pool, "supply", token("USDC"), 1_000 * 10**6, user, 0)
    head = devnet.block_number()
    ((_, logs),) = fetch_blocks(rpc, head, head)
    with pytest.raises(MissingBlockTime):  # no observe_block: the reserve's accrual time is unknown
        market.apply_many(logs)
    assert market.stats.applied == 0
    assert aave(market).reserve(token("USDC")) == snapshot.entries[token("USDC")]
