"""`defibots demo` (what `make demo` runs): the main job end to end on the embedded mainnet replica.

replica up -> deploy executor -> market noise -> arbitrage watcher with --execute -> summary; every process
and thread it starts is stopped at the end, also on Ctrl-C or an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Annotated

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table

console = Console()


def demo(
    seconds: Annotated[float, typer.Option(help="How long the watcher runs.", min=5)] = 60.0,
    rate: Annotated[float, typer.Option(help="Noise swaps per second.", min=0.1)] = 4.0,
    seed: Annotated[int, typer.Option(help="Noise RNG seed.")] = 7,
) -> None:
    """Run the arbitrage bot against the mainnet replica for a minute and print what it made."""
    from pathlib import Path

    from defibots.arb_watch import ArbWatcher, WatchConfig
    from defibots.chain.addresses import TOKENS
    from defibots.cli.deploy import DeployRequest, deploy_executor
    from defibots.cli.watch import render
    from defibots.devnet.node import Devnet, DevnetOptions
    from defibots.devnet.noise import MarketNoise
    from defibots.devnet.replica import USD_PRICE
    from defibots.paths import state_dir
    from defibots.strategies.amm_arb import ArbParams

    with console.status("starting the mainnet replica") as status:
        devnet = Devnet.start(DevnetOptions(), progress=lambda s: status.update(f"building the replica: {s}"))
    stop = threading.Event()
    noise_thread: threading.Thread | None = None
    try:
        console.print(f"[green]replica up[/] at {devnet.http_url} (block {devnet.block_number()})")
        record, _ = deploy_executor(DeployRequest(rpc=devnet.http_url, force=True))
        console.print(f"[green]executor deployed[/] at {record['address']} (owner {record['owner']})")
        noise = MarketNoise(devnet.http_url, devnet.accounts[5:], seed=seed)
        noise.approve_routers()
        noise_thread = threading.Thread(target=_noise_loop, args=(noise, rate, stop), daemon=True)
        noise_thread.start()
        journal = Path(state_dir() / "demo-journal.sqlite")
        journal.unlink(missing_ok=True)
        config = WatchConfig(
            rpc_url=devnet.http_url,
            ws_url=devnet.ws_url,
            executor=str(record["address"]),
            journal_path=journal,
            tokens=tuple(TOKENS),
            params=ArbParams(base_token=TOKENS["WETH"].address),
            shadow=False,
        )
        watcher = ArbWatcher(config, devnet.accounts[0])
        console.print(f"watching {len(watcher.states.pools)} pools for {seconds:g} s with --execute")
        with (
            Live(render(watcher), console=console, refresh_per_second=4) as live,
            contextlib.suppress(KeyboardInterrupt),
        ):
            asyncio.run(watcher.run(seconds, on_tick=lambda w: live.update(render(w))))
        stop.set()
        _summary(watcher, noise.stats.sent, USD_PRICE["WETH"])
    finally:
        stop.set()
        if noise_thread is not None:
            noise_thread.join(timeout=5)
        devnet.stop()


def _noise_loop(noise: object, rate: float, stop: threading.Event) -> None:
    from defibots.devnet.noise import MarketNoise

    assert isinstance(noise, MarketNoise)
    while not stop.is_set():
        stop.wait(noise.rng.expovariate(rate))
        if not stop.is_set():
            with contextlib.suppress(Exception):  # the node going away at shutdown is not an error
                noise.random_swap()


def _summary(watcher: object, noise_swaps: int, eth_usd: float) -> None:
    from defibots.arb_watch import ArbWatcher

    assert isinstance(watcher, ArbWatcher)
    ex = watcher.executor.stats
    stats = watcher.stats()
    table = Table(title="demo summary", show_header=False)
    net = ex.realized_profit - ex.gas_cost
    rows = [
        ("noise swaps sent", str(noise_swaps)),
        ("blocks watched", str(watcher.collector.blocks_seen)),
        ("opportunities acted on (simulated)", str(ex.simulated + ex.stale)),
        ("stale (model behind chain, not sent)", str(ex.stale)),
        ("executed", str(ex.included)),
        ("reverted", str(ex.reverted)),
        (
            "realized profit",
            f"{ex.realized_profit / 1e18:.6f} WETH (${ex.realized_profit / 1e18 * eth_usd:,.2f})",
        ),
        ("gas spent", f"{ex.gas_cost / 1e18:.6f} ETH (${ex.gas_cost / 1e18 * eth_usd:,.2f})"),
        ("net", f"{net / 1e18:.6f} WETH (${net / 1e18 * eth_usd:,.2f})"),
        ("events / drops", f"{stats.events_total} / {stats.drops_total}"),
    ]
    decide = stats.latency.get("decide")
    if decide:
        rows.append(
            ("detection latency p50 / p99", f"{decide.p50_us / 1000:.2f} / {decide.p99_us / 1000:.2f} ms")
        )
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
