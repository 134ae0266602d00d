"""The incremental health book equals getUserAccountData's model on every account after every price update
(same integer terms and sums), and a price update revalues only that asset's holders."""

from __future__ import annotations

import random
from dataclasses import replace

from defibots.protocols.aave_v3 import (
    RAY,
    InterestRateData,
    ReserveConfiguration,
    ReserveState,
    UserReserve,
    user_account_data,
)
from defibots.protocols.aave_v3.health import HealthBook

NOW = 2_000_000


def reserves() -> dict[str, ReserveState]:
    shapes = {"WETH": (8050, 8300, 18), "USDC": (7500, 7800, 6), "WBTC": (7300, 7800, 8)}
    out = {}
    for i, (name, (ltv, lt, decimals)) in enumerate(shapes.items()):
        config = ReserveConfiguration(
            ltv=ltv, liquidation_threshold=lt, liquidation_bonus=10500, decimals=decimals
        )
        out[name] = ReserveState(
            asset=name, id=i, configuration=config, rate_strategy=InterestRateData(9000, 0, 400, 6000),
            liquidity_index=RAY + 10**24 * (i + 1) + 7, variable_borrow_index=RAY + 3 * 10**24 + i,
            current_liquidity_rate=2 * 10**25, current_variable_borrow_rate=4 * 10**25,
            last_update_timestamp=1_000_000,
        )  # fmt: skip
    return out


def test_incremental_equals_full_valuation_after_price_updates() -> None:
    seed = random.randrange(2**32)
    print(f"seed {seed}")
    rng = random.Random(seed)
    market = reserves()
    prices = {"WETH": 3000 * 10**8, "USDC": 10**8, "WBTC": 60_000 * 10**8}
    accounts: dict[str, list[UserReserve]] = {}
    book = HealthBook()
    for n in range(400):
        positions = []
        for name, r in market.items():
            if rng.random() < 0.6:
                unit = 10**r.configuration.decimals
                positions.append(
                    UserReserve(
                        r, prices[name], scaled_a_token_balance=rng.randrange(unit * 100),
                        scaled_variable_debt=rng.randrange(unit * 30_000 // (prices[name] // 10**8)),
                        using_as_collateral=rng.random() < 0.8, borrowing=rng.random() < 0.5,
                    )
                )  # fmt: skip
        accounts[f"a{n}"] = positions
        book.add(f"a{n}", positions, NOW, None)
    for _ in range(30):
        name = rng.choice(list(prices))
        prices[name] = prices[name] * rng.randrange(80, 121) // 100
        touched = set(book.set_price(name, prices[name]))
        holders = {a for a, ps in accounts.items() if any(p.reserve.asset == name and (
            (p.using_as_collateral and p.scaled_a_token_balance) or (p.borrowing and p.scaled_variable_debt))
            for p in ps)}  # fmt: skip
        assert touched == holders
        for account, positions in accounts.items():
            repriced = [replace(p, price=prices[p.reserve.asset]) for p in positions]
            expected = user_account_data(repriced, NOW).health_factor
            assert book.health_factor(account) == expected, (account, seed)
