"""Aave figures for the README: health factors of 10,000 accounts after one price update (exact model,
incremental, no RPC), against a full revaluation; and the gas of a loop's open, adjust and close on the
devnet replica. Prints numbers; asserts nothing.

Usage: python scripts/bench_aave.py [accounts]
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

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
SHAPES = {  # ltv, lt, decimals, price (8 decimals)
    "WETH": (8050, 8300, 18, 3000 * 10**8), "USDC": (7500, 7800, 6, 10**8), "USDT": (7400, 7600, 6, 10**8),
    "DAI": (7700, 8000, 18, 10**8), "WBTC": (7300, 7800, 8, 60_000 * 10**8),
}  # fmt: skip


def market() -> dict[str, ReserveState]:
    out = {}
    for i, (name, (ltv, lt, decimals, _)) in enumerate(SHAPES.items()):
        config = ReserveConfiguration(
            ltv=ltv, liquidation_threshold=lt, liquidation_bonus=10500, decimals=decimals
        )
        out[name] = ReserveState(
            asset=name, id=i, configuration=config, rate_strategy=InterestRateData(9000, 0, 400, 6000),
            liquidity_index=RAY + 10**24 + i, variable_borrow_index=RAY + 3 * 10**24 + i,
            current_liquidity_rate=2 * 10**25, current_variable_borrow_rate=4 * 10**25,
            last_update_timestamp=1_000_000,
        )  # fmt: skip
    return out


def accounts(n: int, rng: random.Random) -> dict[str, list[UserReserve]]:
    reserves, out = market(), {}
    for k in range(n):
        collateral, debt = rng.sample(list(SHAPES), 2)
        c, d = reserves[collateral], reserves[debt]
        c_units = (
            10**c.configuration.decimals * rng.randrange(1_000, 100_000) * 10**8 // SHAPES[collateral][3]
        )
        d_units = 10**d.configuration.decimals * rng.randrange(500, 60_000) * 10**8 // SHAPES[debt][3]
        out[f"0x{k:040x}"] = [
            UserReserve(c, SHAPES[collateral][3], scaled_a_token_balance=c_units, using_as_collateral=True),
            UserReserve(d, SHAPES[debt][3], scaled_variable_debt=d_units, borrowing=True),
        ]
    return out


def bench_health(n: int) -> None:
    rng = random.Random(1)
    book, positions = HealthBook(), accounts(n, rng)
    for account, ps in positions.items():
        book.add(account, ps, NOW, None)
    samples = []
    price = SHAPES["WETH"][3]
    for i in range(50):
        price = price * (99 if i % 2 else 101) // 100
        start = time.perf_counter()
        touched = book.set_price("WETH", price)
        book.liquidatable(touched)
        samples.append(time.perf_counter() - start)
    start = time.perf_counter()
    for ps in positions.values():
        user_account_data([replace(p, price=price) if p.reserve.asset == "WETH" else p for p in ps], NOW)
    full = time.perf_counter() - start
    print(f"{n} accounts ({len(touched)} hold WETH): one WETH price update -> every health factor and the "
          f"liquidatable list, incremental: p50 {statistics.median(samples) * 1e3:.2f} ms, "
          f"max {max(samples) * 1e3:.2f} ms; full revaluation {full * 1e3:.0f} ms")  # fmt: skip


def bench_loop_gas() -> None:
    from defibots.devnet.aave_replica import set_aave_price
    from defibots.devnet.node import Devnet, DevnetOptions
    from defibots.execution.loop_operator import LoopOperator
    from defibots.foundry.accounts import dev_account

    with tempfile.TemporaryDirectory() as tmp, Devnet.start(DevnetOptions()) as devnet:
        os.environ["DEFIBOTS_STATE_DIR"] = tmp
        op = LoopOperator(devnet.http_url, dev_account(0), Path(tmp) / "journal.sqlite", 31337)
        open_ = op.execute(op.plan_open("WETH", "USDC", Decimal(10), Decimal(3), Decimal("1.1"), 30))
        set_aave_price(devnet.http_url, "WETH", 2_800 * 10**8)
        adjust = op.execute(op.plan_adjust("WETH", "USDC", Decimal(3), Decimal("1.05"), 30))
        close = op.execute(op.plan_close("WETH", "USDC", 30))
        gas = {name: int(done.receipts[-1]["gasUsed"]) for name, done in
               (("open", open_), ("adjust (repay)", adjust), ("close", close))}  # fmt: skip
        print(
            "AaveLoop gas (WETH/USDC 3x, V3 0.05% swaps): " + ", ".join(f"{k} {v:,}" for k, v in gas.items())
        )


if __name__ == "__main__":
    bench_health(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
    bench_loop_gas()
