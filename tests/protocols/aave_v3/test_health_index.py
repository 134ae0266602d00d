"""The health book's critical-price index answers a pending update exactly as valuing every account would:
after random books and random sequences of account changes, price updates and reindexing, the accounts
`liquidatable_at` lists are exactly those whose getUserAccountData model (`user_account_data`) would be under
HF 1 at that price, probed at and around every holder's boundary."""

from __future__ import annotations

import random
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st
from tests.protocols.aave_v3.test_health import NOW, reserves

from defibots.protocols.aave_v3 import ReserveState, UserReserve, user_account_data
from defibots.protocols.aave_v3.health import HealthBook
from defibots.protocols.aave_v3.math import WAD

PRICES = {"WETH": 3000 * 10**8, "USDC": 10**8, "WBTC": 60_000 * 10**8}


def random_positions(
    rng: random.Random, market: dict[str, ReserveState], prices: dict[str, int]
) -> list[UserReserve]:
    """One to three reserves, each collateral, debt or both; thresholds of 0 too (a frozen LT)."""
    positions = []
    for name in rng.sample(list(market), rng.randint(1, 3)):
        reserve = market[name]
        if rng.random() < 0.1:
            reserve = replace(reserve, configuration=replace(reserve.configuration, liquidation_threshold=0))
        unit = 10**reserve.configuration.decimals
        side = rng.choice(["collateral", "debt", "both"])
        positions.append(
            UserReserve(
                reserve, prices[name],
                scaled_a_token_balance=rng.randrange(1, unit * 50) if side != "debt" else 0,
                scaled_variable_debt=rng.randrange(1, unit * 40_000 * 10**8 // prices[name])
                if side != "collateral" else 0,
                using_as_collateral=side != "debt", borrowing=side != "collateral",
            )
        )  # fmt: skip
    return positions


def expected_at(
    accounts: dict[str, list[UserReserve]], prices: dict[str, int], asset: str, price: int
) -> set[str]:
    out = set()
    for account, positions in accounts.items():
        if not any(p.reserve.asset == asset for p in positions):
            continue
        at = {**prices, asset: price}
        repriced = [replace(p, price=at[p.reserve.asset]) for p in positions]
        if user_account_data(repriced, NOW).health_factor < WAD:
            out.add(account)
    return out


def probes(book: HealthBook, asset: str, price: int, rng: random.Random) -> list[int]:
    """The current price, random moves, and each holder's exact boundary found by bisecting its own HF."""
    out = [price, 1, price * 2, *(price * rng.randrange(50, 150) // 100 for _ in range(4))]
    index = book._index.get(asset)
    if index is not None:
        for c in rng.sample(index.below, min(6, len(index.below))) + rng.sample(
            index.from_, min(6, len(index.from_))
        ):
            out += [c - 1, c, c + 1]
    return [p for p in out if 0 < p < 2**128]


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_index_equals_valuing_every_account(seed: int) -> None:
    rng = random.Random(seed)
    market, prices = reserves(), dict(PRICES)
    accounts = {f"a{n}": random_positions(rng, market, prices) for n in range(60)}
    book = HealthBook()
    for account, positions in accounts.items():
        book.add(account, positions, NOW, None)
    book.reindex()
    for _ in range(25):
        step = rng.random()
        if step < 0.3:  # an account changes (or a new one arrives)
            account = f"a{rng.randrange(70)}"
            accounts[account] = random_positions(rng, market, prices)
            book.add(account, accounts[account], NOW, None)
        elif step < 0.4 and accounts:
            account = rng.choice(list(accounts))
            del accounts[account]
            book.remove(account)
        elif step < 0.7:
            name = rng.choice(list(prices))
            prices[name] = prices[name] * rng.randrange(85, 116) // 100
            book.set_price(name, prices[name])
            accounts = {
                a: [replace(p, price=prices[p.reserve.asset]) for p in ps] for a, ps in accounts.items()
            }
        else:
            book.reindex()
        asset = rng.choice(list(prices))
        for price in probes(book, asset, prices[asset], rng):
            assert set(book.liquidatable_at(asset, price)) == expected_at(accounts, prices, asset, price), (
                seed, asset, price,
            )  # fmt: skip


def test_after_reindex_a_prediction_values_only_the_accounts_it_must() -> None:
    """Indexed, a pending update values term by term only the holders with collateral and debt in the asset
    (none here) and those changed since: not the asset's thousands of holders."""
    rng = random.Random(7)
    market = reserves()
    book = HealthBook()
    kept: list[list[UserReserve]] = []
    for n in range(2_000):
        weth, usdc = market["WETH"], market["USDC"]
        positions = [
            UserReserve(weth, PRICES["WETH"], scaled_a_token_balance=rng.randrange(10**17, 10**19),
                        scaled_variable_debt=0, using_as_collateral=True, borrowing=False),
            UserReserve(usdc, PRICES["USDC"], scaled_a_token_balance=0,
                        scaled_variable_debt=rng.randrange(10**8, 2 * 10**10), using_as_collateral=False,
                        borrowing=True),
        ]  # fmt: skip
        book.add(f"a{n}", positions, NOW, None)
        kept.append(positions)
    scanned = book.exact_checks
    dip = PRICES["WETH"] * 80 // 100
    before = book.liquidatable_at("WETH", dip)  # not indexed yet: every holder valued
    assert book.exact_checks - scanned == 2_000
    book.reindex()
    scanned = book.exact_checks
    assert sorted(book.liquidatable_at("WETH", dip)) == sorted(before) and before
    assert book.exact_checks == scanned
    book.add("a5", kept[5], NOW + 3_600, None)  # one account changes: only it is valued term by term
    assert sorted(book.liquidatable_at("WETH", dip)) == sorted(before)
    assert book.exact_checks - scanned == 1
    book.reindex()  # the changed account is moved in the index, not the index rebuilt
    scanned = book.exact_checks
    assert sorted(book.liquidatable_at("WETH", dip)) == sorted(before)
    assert book.exact_checks == scanned
