"""`defibots demo` (what `make demo` runs): the main job end to end on the embedded mainnet replica.

replica up -> deploy executor -> market noise (swaps on chain, price moves on a local exchange) -> arbitrage
watcher with --execute and the AMM-CEX signals -> summary; every process, thread and server it starts is
stopped at the end, also on Ctrl-C or an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table

if TYPE_CHECKING:
    from defibots.devnet.exchange import LocalExchange
    from defibots.devnet.noise import ExchangeNoise, MarketNoise
    from defibots.jobs.arb_watch import ArbWatcher

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
    from defibots.devnet.exchange import LocalExchange, MarketSpec
    from defibots.devnet.node import Devnet, DevnetOptions
    from defibots.devnet.noise import ExchangeNoise, MarketNoise
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
        noise_thread = threading.Thread(target=_noise_loop, args=(noise, rate, stop), daemon=True)
        noise_thread.start()
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
        mover = ExchangeNoise(exchange.set_mid, CEX_SYMBOL, seed=seed)
        console.print(
            f"watching {len(watcher.pools)} pools and {CEX_SYMBOL} on a local exchange "
            f"({exchange.url}) for {seconds:g} s with --execute"
        )
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_watch(watcher, exchange, mover, seconds))
        stop.set()
        _summary(watcher, noise.stats.sent, mover.moves, USD_PRICE["WETH"])
    finally:
        stop.set()
        if noise_thread is not None:
            noise_thread.join(timeout=5)
        devnet.stop()


async def _watch(watcher: ArbWatcher, exchange: LocalExchange, mover: ExchangeNoise, seconds: float) -> None:
    """The watcher plus, in the same event loop, the local exchange whose mid follows the replica's pool."""
    from defibots.cli.watch import render

    await exchange.start()
    follower: asyncio.Task[None] | None = None
    try:
        _follow_once(watcher, mover)  # a realistic book before the feed's first poll
        follower = asyncio.create_task(_follow(watcher, mover))
        await watcher.open()
        with Live(render(watcher), console=console, refresh_per_second=4) as live:
            await watcher.run(seconds, on_tick=lambda w: live.update(render(w)))
    finally:
        if follower is not None:
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follower
        await watcher.close()
        await exchange.stop()


def _follow_once(watcher: ArbWatcher, mover: ExchangeNoise) -> None:
    """Move the exchange's mid from the synced model of the reference pool (no RPC round trip)."""
    from defibots.chain.addresses import TOKENS
    from defibots.strategies.cex_arb import CexToken, pool_mid_price

    pool = watcher.pools.get(mover.pool.address)
    if pool is None:
        return
    base, quote = TOKENS[mover.base], TOKENS[mover.quote]
    mid = pool_mid_price(
        pool,
        CexToken(base.address, base.symbol, base.decimals),
        CexToken(quote.address, quote.symbol, quote.decimals),
    )
    mover.step(mid)


async def _follow(watcher: ArbWatcher, mover: ExchangeNoise) -> None:
    while True:
        await asyncio.sleep(CEX_MOVE_INTERVAL_S)
        _follow_once(watcher, mover)


def _noise_loop(noise: MarketNoise, rate: float, stop: threading.Event) -> None:
    while not stop.is_set():
        stop.wait(noise.rng.expovariate(rate))
        if not stop.is_set():
            with contextlib.suppress(Exception):  # the node going away at shutdown is not an error
                noise.random_swap()


def _summary(watcher: ArbWatcher, noise_swaps: int, exchange_moves: int, eth_usd: float) -> None:
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
    decide = stats.latency.get("decide")
    if decide:
        rows.append(
            ("detection latency p50 / p99", f"{decide.p50_us / 1000:.2f} / {decide.p99_us / 1000:.2f} ms")
        )
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
