"""`defibots watch arb`: the live arbitrage watcher with a rich table."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from defibots.errors import UserError

if TYPE_CHECKING:
    from defibots.arb_watch import ArbWatcher, WatchConfig
    from defibots.config import Settings

app = typer.Typer(help="Watch the chain and act on opportunities.", no_args_is_help=True)
console = Console()


def executor_address(chain_id: int, explicit: str | None) -> str:
    """--executor, else what `deploy executor` recorded for this chain."""
    from defibots.paths import project_root

    if explicit:
        return explicit
    path = project_root() / "deployments" / f"{chain_id}.json"
    try:
        record = json.loads(path.read_text())["contracts"]["Executor"]
        return str(record["address"])
    except (OSError, KeyError, TypeError, json.JSONDecodeError):
        raise UserError(
            f"no executor recorded for chain {chain_id} in {path}; deploy one or pass --executor"
        ) from None


def watch_config(
    settings: Settings, rpc: str | None, ws: str | None, executor: str | None, shadow: bool
) -> WatchConfig:
    from defibots.arb_watch import WatchConfig
    from defibots.chain.addresses import token
    from defibots.chain.rpc import JsonRpc
    from defibots.devnet.node import read_state
    from defibots.paths import state_dir
    from defibots.strategies.amm_arb import ArbParams

    devnet = read_state() or {}
    rpc_url = rpc or settings.rpc_url or devnet.get("http_url")
    if not rpc_url:
        raise UserError("no RPC: pass --rpc, set rpc_url in defibots.toml, or start `defibots devnet up`")
    ws_url = ws or settings.ws_url or (devnet.get("ws_url") if rpc_url == devnet.get("http_url") else None)
    chain_id = int(JsonRpc(str(rpc_url)).call("eth_chainId"), 16)
    arb = settings.arb
    params = ArbParams(
        base_token=token(arb.base_token).address,
        max_hops=arb.max_hops,
        min_net_profit=arb.min_profit_wei,
        priority_fee=arb.priority_fee_wei,
        builder_share_bps=0,  # the public path pays no builder; bundles do
    )
    return WatchConfig(
        rpc_url=str(rpc_url),
        ws_url=str(ws_url) if ws_url else None,
        executor=executor_address(chain_id, executor),
        journal_path=settings.journal_path or state_dir() / "journal.sqlite",
        tokens=tuple(arb.tokens),
        params=params,
        expected_chain_id=settings.chain_id,
        shadow=shadow,
    )


def render(watcher: ArbWatcher) -> Group:
    from defibots.execution.public_tx import describe

    stats = watcher.stats()
    head = Table.grid(padding=(0, 2))
    latency = stats.latency.get("decide")
    total = stats.latency.get("total")
    ex = watcher.executor.stats
    head.add_row(
        f"block [bold]{watcher.last_block()}[/]",
        f"events/s {stats.events_per_s:.1f}",
        f"drops {stats.drops_total}",
        f"pools {len(watcher.states.pools)}",
        f"cycles {len(watcher.strategy.finder.cycles)}",
    )
    head.add_row(
        f"detect p50 {latency.p50_us / 1000:.2f} ms" if latency else "detect -",
        f"p99 {latency.p99_us / 1000:.2f} ms" if latency else "",
        f"to-send p50 {total.p50_us / 1000:.1f} ms" if total else "to-send -",
        f"sent {ex.sent} stale {ex.stale}",
        f"realized {ex.realized_profit / 1e18:.6f} WETH, gas {ex.gas_cost / 1e18:.6f} ETH",
    )
    table = Table(title="best opportunities", expand=True)
    for column in ("route", "size", "gross", "gas cost", "net", "block"):
        table.add_column(column)
    for opp in watcher.best():
        table.add_row(
            describe(opp),
            f"{opp.amount_in / 1e18:.4f}",
            f"{opp.gross_profit / 1e18:.6f}",
            f"{opp.gas_cost / 1e18:.6f}",
            f"{opp.net_profit / 1e18:.6f}",
            str(opp.block_number),
        )
    return Group(head, table, *(f"[dim]{line}[/]" for line in ex.recent[-3:]))


@app.command()
def arb(
    config: Annotated[
        Path | None, typer.Option(help="defibots.toml to read (default ./defibots.toml).")
    ] = None,
    execute: Annotated[
        bool, typer.Option("--execute", help="Send profitable trades (default: shadow).")
    ] = False,
    shadow: Annotated[
        bool, typer.Option("--shadow", help="Decide and simulate, never send (default).")
    ] = False,
    rpc: Annotated[str | None, typer.Option(help="HTTP RPC URL (default: config, then the devnet).")] = None,
    ws: Annotated[
        str | None, typer.Option(help="Websocket RPC URL (default: config, then the devnet).")
    ] = None,
    executor: Annotated[str | None, typer.Option(help="Executor address (default: deployments/).")] = None,
    duration: Annotated[float | None, typer.Option(help="Stop after this many seconds.", min=0)] = None,
    keystore: Annotated[Path | None, typer.Option(help="Signer keystore (non-devnet chains).")] = None,
    key_env: Annotated[str | None, typer.Option(help="Env var holding the signer key.")] = None,
) -> None:
    """Watch tracked pools for AMM arbitrage; live table of opportunities, latency and P&L."""
    from defibots.arb_watch import ArbWatcher
    from defibots.config import load_settings
    from defibots.execution.keys import load_signer

    if execute and shadow:
        raise UserError("--execute and --shadow exclude each other")
    settings = load_settings(config)
    cfg = watch_config(settings, rpc, ws, executor, shadow=not execute)
    signer = load_signer(_chain_id(cfg.rpc_url), keystore or settings.keystore, key_env or settings.key_env)
    watcher = ArbWatcher(cfg, signer)
    mode = "EXECUTE" if execute else "shadow"
    console.print(
        f"watching {len(watcher.states.pools)} pools on chain {watcher.chain_id} ({mode}); Ctrl-C stops"
    )
    with (
        Live(render(watcher), console=console, refresh_per_second=4) as live,
        contextlib.suppress(KeyboardInterrupt),
    ):
        asyncio.run(watcher.run(duration, on_tick=lambda w: live.update(render(w))))
    ex = watcher.executor.stats
    console.print(
        f"done: {ex.simulated} simulated, {ex.sent} sent, {ex.stale} stale; "
        f"realized {ex.realized_profit / 1e18:.6f} WETH, gas {ex.gas_cost / 1e18:.6f} ETH"
    )


def _chain_id(url: str) -> int:
    from defibots.chain.rpc import JsonRpc

    return int(JsonRpc(url).call("eth_chainId"), 16)
