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

    from defibots.cli.gmx_demo import GmxDemo
    from defibots.cli.liquidation_demo import LiquidationDemo
    from defibots.devnet.exchange import LocalExchange
    from defibots.devnet.node import Devnet
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
    from defibots.devnet.price_driver import PriceDriver, PriceDriverParams
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
        exchange = LocalExchange(
            None, [MarketSpec(CEX_SYMBOL, Decimal(3000))], taker_fee_bps=10, seed=seed, balances=VENUE_START
        )
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
        mover = PriceDriver(
            venues,
            rpc_url=devnet.http_url,
            noise=noise,
            symbol=CEX_SYMBOL,
            seed=seed,
            params=PriceDriverParams(sigma_bps=DEMO_SIGMA_BPS),
        )
        noise_thread = threading.Thread(target=_noise_loop, args=(noise, mover, rate, stop), daemon=True)
        noise_thread.start()
        console.print(
            f"watching {len(watcher.pools)} pools and {CEX_SYMBOL} on a local exchange "
            f"({exchange.url}) for {seconds:g} s with --execute"
        )
        loop_job, opened = _open_loop(devnet.http_url, devnet.ws_url, journal)
        hedged_job = _open_hedged(devnet, journal, exchange)
        liquidations = _open_liquidations(devnet)
        gmx = _open_gmx()
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_watch(watcher, exchange, seconds, [loop_job, hedged_job, liquidations, gmx]))
        stop.set()
        _summary(
            watcher,
            noise.stats.sent,
            mover.stats.steps,
            USD_PRICE["WETH"],
            _loop_line(loop_job, opened),
            _hedged_line(hedged_job),
            liquidations.summary(),
            gmx.summary(),
        )
    finally:
        stop.set()
        if noise_thread is not None:
            noise_thread.join(timeout=5)
        devnet.stop()


VENUE_START = {"USDT": 1_000_000, "ETH": 100}
"""The demo's venue account; its on-chain counterpart is the hedged executor's funding below."""
DEMO_SIGMA_BPS = 15.0
"""The price walk per 0.5 s step: fast-forwarded (a quiet day's moves in two minutes) so gaps open."""
HEDGED_FUNDING = {"WETH": 20, "USDC": 60_000}


def _open_hedged(devnet: Devnet, journal: Path, exchange: LocalExchange) -> StrategyJob:
    """`run cex_amm_arb --execute` from dev account 2: its own executor, funded with WETH and USDC (the
    chain inventory), the local venue's keys in the env vars the strategy reads, inventory bands around
    the starting balances."""
    import os
    from decimal import Decimal

    from defibots.chain.addresses import TOKENS
    from defibots.chain.calldata import calldata
    from defibots.devnet.exchange import ccxt_config
    from defibots.execution.executor_client import ExecutorClient
    from defibots.foundry.accounts import dev_account
    from defibots.jobs.runner import JobConfig, StrategyJob
    from defibots.strategies.cex_amm_arb import STRATEGY, CexAmmArbSettings

    owner = dev_account(2)
    client, _ = ExecutorClient.deploy(devnet.w3, owner, owner.address)
    weth, usdc = TOKENS["WETH"].address, TOKENS["USDC"].address
    wei, usdc_units = HEDGED_FUNDING["WETH"] * 10**18, HEDGED_FUNDING["USDC"] * 10**6
    for to, data, value in (
        (weth, calldata("deposit()"), wei),
        (weth, calldata("transfer(address,uint256)", client.address, wei), 0),
        (usdc, calldata("transfer(address,uint256)", client.address, usdc_units), 0),
    ):
        devnet.rpc(
            "eth_sendTransaction", {"from": owner.address, "to": to, "data": data, "value": hex(value)}
        )
    os.environ["DEFIBOTS_CEX_API_KEY"] = exchange.api_key  # the local venue's keys, as a user's env would
    os.environ["DEFIBOTS_CEX_API_SECRET"] = exchange.api_secret

    def band(target: int, width: Decimal) -> dict[str, str]:
        return {"target": str(target), "low": str(target * (1 - width)), "high": str(target * (1 + width))}

    inventory = {
        "bands": {
            "chain": {
                "WETH": band(HEDGED_FUNDING["WETH"], Decimal("0.25")),
                "USDC": band(HEDGED_FUNDING["USDC"], Decimal("0.25")),
            },
            "binance": {
                "ETH": band(VENUE_START["ETH"], Decimal("0.05")),
                "USDT": band(VENUE_START["USDT"], Decimal("0.01")),
            },
        },
        "transfer_minutes": {"ETH": 15, "USDT": 30},
        "same_asset": {"WETH": "ETH", "USDC": "USDT"},
    }
    settings = CexAmmArbSettings(
        url=exchange.url, sizes=[Decimal("0.5"), Decimal(1), Decimal(2)], min_edge_bps=Decimal(1),
        inventory=inventory,
    )  # fmt: skip
    urls = ccxt_config(exchange.url, "binance")["urls"]
    config = JobConfig(
        devnet.http_url, devnet.ws_url, journal, shadow=False, expected_chain_id=devnet.chain_id,
        executor=client.address, ws_required=False, ccxt_overrides={"urls": urls},
    )  # fmt: skip
    return StrategyJob(STRATEGY, settings, config, owner)


def _open_liquidations(devnet: Devnet) -> LiquidationDemo:
    """`watch liquidations --execute` on a relay-built fork of the replica (its own journal)."""
    from defibots.cli.liquidation_demo import LiquidationDemo
    from defibots.paths import state_dir

    journal = state_dir() / "demo-liquidations.sqlite"
    journal.unlink(missing_ok=True)
    with console.status("liquidations: forking the replica, indexing every Aave borrower"):
        demo = LiquidationDemo(devnet.http_url, journal)
    console.print(
        f"liquidations: {len(demo.watcher.strategy.book.accounts())} Aave accounts indexed on a fork built "
        f"by the local relay; the WETH feed dips {demo.dips} times by {demo.dip_bps / 100:g}% (pending "
        "updates), a rival races one borrower"
    )
    return demo


def _open_gmx() -> GmxDemo:
    """`run gmx_perp --execute` on the Arbitrum replica (its own anvil, exchange, keeper and journal)."""
    from defibots.cli.gmx_demo import GmxDemo
    from defibots.paths import state_dir

    journal = state_dir() / "demo-gmx.sqlite"
    journal.unlink(missing_ok=True)
    with console.status("gmx: starting the Arbitrum replica with the GMX stand-in"):
        demo = GmxDemo(journal)
    console.print(
        f"gmx: gmx_perp trades ETH/USD SMA crossovers of 1-s candles at 5x on the Arbitrum replica "
        f"({demo.devnet.http_url}); the keeper's oracle follows a local exchange's trend"
    )
    return demo


def _hedged_line(job: StrategyJob) -> str:
    """Round trips, P&L and inventory from the journal, as `defibots history` shows them."""
    from defibots.journal import Journal

    with Journal(job.config.journal_path, create=False) as journal:
        totals = [t for t in journal.round_trip_totals() if t.strategy == "cex_amm_arb"]

    def units(amount: int, decimals: int) -> str:
        return f"{amount / 10**decimals:,.2f}"

    trips = "; ".join(
        f"{t.trips} round trips ({', '.join(f'{k} {v}' for k, v in t.statuses.items())}), net "
        f"{units(t.net_pnl, t.quote_decimals)} {t.quote_token} after venue fees "
        f"{units(t.cex_fee_quote, t.quote_decimals)}, gas {units(t.gas_cost_quote, t.quote_decimals)} "
        f"and builder tips {units(t.builder_payment_quote, t.quote_decimals)}"
        for t in totals
    )
    trips = trips or "0 round trips (no gap cleared the fees)"
    return f"{trips}; {'; '.join(job.executor_summaries()[1:]) or 'inventory not tracked'}"


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


async def _watch(
    watcher: ArbWatcher,
    exchange: LocalExchange,
    seconds: float,
    jobs: list[StrategyJob | LiquidationDemo | GmxDemo],
) -> None:
    """The watcher and the jobs (loop rebalancer, hedged arbitrage, liquidations, GMX) plus, in the same event
    loop, the local exchange the price driver moves."""
    from defibots.cli.watch import render

    await exchange.start()
    try:
        await watcher.open()
        tasks = [asyncio.create_task(job.run(seconds)) for job in jobs]
        with Live(render(watcher), console=console, refresh_per_second=4) as live:
            await watcher.run(seconds, on_tick=lambda w: live.update(render(w)))
        await asyncio.gather(*tasks)
    finally:
        await watcher.close()
        for job in jobs:
            await job.close()
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
    watcher: ArbWatcher,
    noise_swaps: int,
    exchange_moves: int,
    eth_usd: float,
    loop: str = "",
    hedged: str = "",
    liquidations: str = "",
    gmx: str = "",
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
    if hedged:
        rows.append(("hedged AMM-CEX (cex_amm_arb)", hedged))
    if liquidations:
        rows.append(("aave liquidations (bundles)", liquidations))
    if gmx:
        rows.append(("gmx long/short (gmx_perp, Arbitrum replica)", gmx))
    decide = stats.latency.get("decide")
    if decide:
        rows.append(
            ("detection latency p50 / p99", f"{decide.p50_us / 1000:.2f} / {decide.p99_us / 1000:.2f} ms")
        )
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
