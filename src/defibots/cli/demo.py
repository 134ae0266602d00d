"""`defibots demo` (what `make demo` runs): the main job end to end on the embedded mainnet replica.

replica up -> deploy executor -> market noise (swaps on chain; a price driver walks a local exchange's
mid and arbitrageurs drag the pools after it: the CEX leads) -> arbitrage watcher with --execute and the
AMM-CEX signals -> summary; every process, thread and server it starts is stopped at the end, also on
Ctrl-C or an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table

if TYPE_CHECKING:
    from pathlib import Path

    from defibots.devnet.exchange import LocalExchange
    from defibots.devnet.noise import MarketNoise
    from defibots.devnet.price_driver import PriceDriver
    from defibots.jobs.arb_watch import ArbWatcher
    from defibots.jobs.runner import StrategyJob

console = Console()
CEX_SYMBOL = "ETH/USDT"
CEX_MOVE_INTERVAL_S = 0.5


def demo(
    seconds: Annotated[float, typer.Option(help="How long the watcher runs.", min=5)] = 60.0,
    rate: Annotated[float, typer.Option(help="Noise swaps per second.", min=0.1)] = 4.0,
    seed: Annotated[int, typer.Option(help="Noise RNG seed.")] = 7,
) -> None:
    """Run the arbitrage bot against the mainnet replica for a minute and print what it made."""
    from decimal import Decimal
    from pathlib import Path

    from defibots.chain.addresses import TOKENS
    from defibots.cli.deploy import DeployRequest, deploy_executor
    from defibots.devnet.exchange import LocalExchange, MarketSpec, admin_set_mid
    from defibots.devnet.node import Devnet, DevnetOptions
    from defibots.devnet.noise import MarketNoise
    from defibots.devnet.price_driver import PriceDriver
    from defibots.devnet.replica import USD_PRICE
    from defibots.jobs.arb_watch import ArbWatcher, CexWatch, WatchConfig
    from defibots.paths import state_dir
    from defibots.strategies.amm_arb import ArbParams

    with console.status("starting the mainnet replica") as status:
        devnet = Devnet.start(DevnetOptions(), progress=lambda s: status.update(f"building the replica: {s}"))
    stop = threading.Event()
    noise_thread: threading.Thread | None = None
    try:
        console.print(
            f"[green]replica up[/]: HTTP {devnet.http_url}  WS {devnet.ws_url}  "
            f"chain id {devnet.chain_id}  block {devnet.block_number()}"
        )
        record, _ = deploy_executor(DeployRequest(rpc=devnet.http_url, force=True))
        console.print(f"[green]executor deployed[/] at {record['address']} (owner {record['owner']})")
        noise = MarketNoise(devnet.http_url, devnet.accounts[5:], seed=seed)
        noise.approve_routers()
        journal = Path(state_dir() / "demo-journal.sqlite")
        journal.unlink(missing_ok=True)
        exchange = LocalExchange(None, [MarketSpec(CEX_SYMBOL, Decimal(3000))], taker_fee_bps=10, seed=seed)
        config = WatchConfig(
            rpc_url=devnet.http_url,
            ws_url=devnet.ws_url,
            executor=str(record["address"]),
            journal_path=journal,
            tokens=tuple(TOKENS),
            params=ArbParams(base_token=TOKENS["WETH"].address),
            shadow=False,
            cex=CexWatch(url=exchange.url, symbols=(CEX_SYMBOL,), taker_fee_bps=10, poll_interval_s=0.5),
        )
        watcher = ArbWatcher(config, devnet.accounts[0])
        # the driver runs in the noise thread (one signer of the traders' nonces) and reaches the exchange,
        # which lives in the watcher's event loop, through its admin endpoint
        venues = {"local": lambda symbol, mid: admin_set_mid(exchange.url, symbol, mid)}
        mover = PriceDriver(venues, rpc_url=devnet.http_url, noise=noise, symbol=CEX_SYMBOL, seed=seed)
        noise_thread = threading.Thread(target=_noise_loop, args=(noise, mover, rate, stop), daemon=True)
        noise_thread.start()
        console.print(
            f"watching {len(watcher.pools)} pools and {CEX_SYMBOL} on a local exchange "
            f"({exchange.url}) for {seconds:g} s with --execute"
        )
        loop_job, opened = _open_loop(devnet.http_url, devnet.ws_url, journal)
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_watch(watcher, exchange, seconds, loop_job))
        stop.set()
        _summary(
            watcher, noise.stats.sent, mover.stats.steps, USD_PRICE["WETH"], _loop_line(loop_job, opened)
        )
    finally:
        stop.set()
        if noise_thread is not None:
            noise_thread.join(timeout=5)
        devnet.stop()


LOOP_LEVERAGE = "3"
LOOP_BAND = "0.01"
"""Narrow, so the driver's price walk moves the loop out of its band within the demo's minute."""


def _open_loop(rpc_url: str, ws_url: str, journal: Path) -> tuple[StrategyJob, str]:
    """A 3x WETH/USDC loop from dev account 1, and its rebalancer (`run aave_loop`) around its opening HF."""
    from decimal import Decimal

    from defibots.execution.loop_operator import LoopOperator
    from defibots.foundry.accounts import dev_account
    from defibots.jobs.runner import JobConfig, StrategyJob
    from defibots.strategies.aave_loop import STRATEGY, AaveLoopSettings

    owner = dev_account(1)
    op = LoopOperator(rpc_url, owner, journal, 31337)
    done = op.execute(op.plan_open("WETH", "USDC", Decimal(10), Decimal(LOOP_LEVERAGE), Decimal("1.1"), 30))
    hf = (Decimal(done.health_factor) / 10**18).quantize(Decimal("0.001"))
    console.print(f"[green]aave loop opened[/]: 10 WETH at {LOOP_LEVERAGE}x, health factor {hf}")
    settings = AaveLoopSettings(target_health_factor=hf, band=Decimal(LOOP_BAND))
    config = JobConfig(rpc_url, ws_url, journal, shadow=False, expected_chain_id=31337, ws_required=False)
    return StrategyJob(STRATEGY, settings, config, owner), f"10 WETH at {LOOP_LEVERAGE}x (HF {hf})"


def _loop_line(job: StrategyJob, opened: str) -> str:
    from defibots.execution.loop_rebalancer import LoopRebalancer
    from defibots.journal import Journal

    rebalancer = next(e for e in job.executors if isinstance(e, LoopRebalancer))
    hf = rebalancer.operator.client.account().health_factor / 10**18
    with Journal(job.config.journal_path, create=False) as journal:
        entries = journal.strategy_pnl(strategy="aave_loop")
    premium = {e.token: 0 for e in entries if e.kind == "flash_premium"}
    for e in entries:
        if e.kind == "flash_premium":
            premium[e.token] += e.amount
    gas = -sum(e.amount for e in entries if e.kind == "gas")
    costs = ", ".join(f"{-v / 10 ** next(e.token_decimals for e in entries if e.token == t):.6f} {t}"
                      for t, v in premium.items())  # fmt: skip
    return (
        f"opened {opened}; rebalances {rebalancer.stats.sent} (failed {rebalancer.stats.failed}); "
        f"HF now {hf:.3f}; cost: flash premiums {costs}, gas {gas / 1e18:.6f} ETH"
    )


async def _watch(watcher: ArbWatcher, exchange: LocalExchange, seconds: float, loop_job: StrategyJob) -> None:
    """The watcher and the loop rebalancer plus, in the same event loop, the local exchange the price
    driver moves."""
    from defibots.cli.watch import render

    await exchange.start()
    try:
        await watcher.open()
        rebalancer = asyncio.create_task(loop_job.run(seconds))
        with Live(render(watcher), console=console, refresh_per_second=4) as live:
            await watcher.run(seconds, on_tick=lambda w: live.update(render(w)))
        await rebalancer
    finally:
        await watcher.close()
        await loop_job.close()
        await exchange.stop()


def _noise_loop(noise: MarketNoise, driver: PriceDriver, rate: float, stop: threading.Event) -> None:
    """Random swaps at `rate`, and a price-driver step every CEX_MOVE_INTERVAL_S, from one thread."""
    next_move = time.monotonic() + CEX_MOVE_INTERVAL_S
    while not stop.is_set():
        stop.wait(min(noise.rng.expovariate(rate), max(0.0, next_move - time.monotonic())))
        if stop.is_set():
            break
        with contextlib.suppress(Exception):  # the node or exchange going away at shutdown is not an error
            if time.monotonic() >= next_move:
                next_move = time.monotonic() + CEX_MOVE_INTERVAL_S
                driver.step()
            else:
                noise.random_swap()


def _summary(
    watcher: ArbWatcher, noise_swaps: int, exchange_moves: int, eth_usd: float, loop: str = ""
) -> None:
    """Amounts in the base token's own units and symbol; gas in ETH, also converted into the base at the
    reference pool's price for the net line (the demo's base is WETH, where the conversion is 1:1)."""
    from defibots.cli.display import base_token_display, units
    from defibots.cli.history import totals_line
    from defibots.journal import Journal

    ex = watcher.executor.stats
    stats = watcher.stats()
    table = Table(title="demo summary", show_header=False)
    symbol, decimals = base_token_display(watcher.config.params.base_token)
    base_usd = eth_usd if symbol == "WETH" else None
    # trades, gas and P&L from the journal query `defibots history` prints: the two agree, reverts included
    with Journal(watcher.config.journal_path, create=False) as journal:
        totals = journal.totals()
    mine = next((t for t in totals if t.base_token == symbol), None)
    included, reverted = (mine.included, mine.reverted) if mine else (0, 0)
    realized, gas, net = (mine.gross_profit, mine.gas_cost, mine.net_profit) if mine else (0, 0, 0)

    def usd(amount: int, amount_decimals: int, price: float | None) -> str:
        return f" (${amount / 10**amount_decimals * price:,.2f})" if price is not None else ""

    rows = [
        ("noise swaps sent / exchange price moves", f"{noise_swaps} / {exchange_moves}"),
        ("blocks watched", str(watcher.collector.blocks_seen)),
        ("opportunities acted on (simulated)", str(ex.simulated + ex.stale)),
        ("stale (model behind chain, not sent)", str(ex.stale)),
        ("executed", str(included)),
        ("reverted", str(reverted)),
        ("realized profit", f"{units(realized, decimals)} {symbol}{usd(realized, decimals, base_usd)}"),
        ("gas spent", f"{units(gas, 18)} ETH{usd(gas, 18, eth_usd)}"),
        ("net", f"{units(net, decimals)} {symbol}{usd(net, decimals, base_usd)}"),
        *(("journal totals (as `defibots history`)", totals_line(t)) for t in totals),
        ("events / drops", f"{stats.events_total} / {stats.drops_total}"),
    ]
    if watcher.cex_journal is not None:
        cex = watcher.cex_journal.stats
        by_direction = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in sorted(cex.by_direction.items()))
        best = f"; best edge {cex.best_edge_bps} bps" if cex.best_edge_bps is not None else ""
        rows.append(
            (
                "AMM-CEX signals (journaled)",
                f"{cex.signals}" + (f" ({by_direction}){best}" if cex.signals else ""),
            )
        )
    if loop:
        rows.append(("aave loop", loop))
    decide = stats.latency.get("decide")
    if decide:
        rows.append(
            ("detection latency p50 / p99", f"{decide.p50_us / 1000:.2f} / {decide.p99_us / 1000:.2f} ms")
        )
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
