"""`defibots watch backrun`: backrun pending router swaps with bundles [victim, ours] sent to relays.

Builder share: our transaction pays the builder `--builder-share-bps` of the gross profit (in ETH, to
block.coinbase, from the executor's WETH profit) and no priority fee by default. The default share is
settings.arb.builder_share_bps when it is set (non-zero), else 5000 (half): the public arbitrage path pays
no builder, so its default of 0 would leave a bundle nothing to outbid other bundles with. An explicit
`--builder-share-bps 0` is honoured (a private relay, a test).
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from defibots.errors import UserError

if TYPE_CHECKING:
    from defibots.config import Settings
    from defibots.jobs.backrun_watch import BackrunConfig, BackrunWatcher

console = Console()

DEFAULT_BUILDER_SHARE_BPS = 5_000


def builder_share(explicit: int | None, settings: Settings) -> int:
    if explicit is not None:
        return explicit
    return settings.arb.builder_share_bps or DEFAULT_BUILDER_SHARE_BPS


def backrun_config(
    settings: Settings,
    rpc: str | None,
    ws: str | None,
    executor: str | None,
    relays: list[str],
    share_bps: int,
    priority_fee: int,
    blocks: int,
    shadow: bool,
) -> BackrunConfig:
    from defibots.chain.addresses import token
    from defibots.cli.endpoints import chain_id_of, executor_address, resolve_rpc, resolve_ws
    from defibots.jobs.backrun_watch import BackrunConfig
    from defibots.paths import state_dir
    from defibots.strategies.amm_arb import ArbParams

    rpc_url = resolve_rpc(rpc, settings)
    ws_endpoint = resolve_ws(ws, settings, rpc_url)
    chain_id = chain_id_of(rpc_url)
    arb = settings.arb
    params = ArbParams(
        base_token=token(arb.base_token).address,
        max_hops=arb.max_hops,
        min_net_profit=arb.min_profit_wei,
        priority_fee=priority_fee,
        builder_share_bps=share_bps,
    )
    return BackrunConfig(
        rpc_url=rpc_url,
        ws_url=ws_endpoint.url if ws_endpoint else None,
        executor=executor_address(chain_id, executor),
        journal_path=settings.journal_path or state_dir() / "journal.sqlite",
        tokens=tuple(arb.tokens),
        params=params,
        relay_urls=tuple(relays),
        blocks=blocks,
        expected_chain_id=settings.chain_id,
        shadow=shadow,
    )


def render(watcher: BackrunWatcher) -> Group:
    from defibots.cli.display import base_token_display, units
    from defibots.execution.public_tx import describe

    symbol, decimals = base_token_display(watcher.config.params.base_token)
    st = watcher.strategy.stats
    ex = watcher.executor.stats
    head = watcher.strategy.head
    grid = Table.grid(padding=(0, 2))
    grid.add_row(
        f"block [bold]{head.number if head else '-'}[/]",
        f"pending swaps {st.pending_swaps}",
        f"backruns {st.actions}",
        f"no edge {st.no_opportunity}",
        f"unpredictable {st.unpredictable}",
        f"drops {watcher.stats().drops_total}"
        + (f" unrouted {u}" if (u := watcher.stats().unrouted_total) else ""),
    )
    samples = ex.trigger_to_sent_ms
    grid.add_row(
        f"trigger-to-sent p50 {statistics.median(samples):.1f} ms" if samples else "trigger-to-sent -",
        f"simulated {ex.simulated} stale {ex.stale}",
        f"sent {ex.sent} included {ex.included} missed {ex.not_included + ex.conflicted}",
        f"realized {units(ex.realized_profit, decimals)} {symbol}",
        f"builder {units(ex.builder_paid, 18)} ETH, gas {units(ex.gas_cost, 18)} ETH",
    )
    table = Table(title="last backrun", expand=True)
    for column in ("victim", "route", "size", "gross", "builder", "net", "target"):
        table.add_column(column)
    last = watcher.strategy.last
    if last is not None:
        opp = last.opportunity
        table.add_row(
            last.victim.hash[:18] + "…",
            describe(opp),
            units(opp.amount_in, decimals, 4),
            units(opp.gross_profit, decimals),
            units(opp.builder_payment, decimals),
            units(opp.net_profit, decimals),
            str(last.target_block),
        )
    lines = [f"[dim]{line}[/]" for line in ex.recent[-3:]]
    if ex.last_error:
        lines.append(f"[yellow]{ex.last_error}[/]")
    return Group(grid, table, *lines)


def backrun(
    config: Annotated[
        Path | None, typer.Option(help="defibots.toml to read (default ./defibots.toml).")
    ] = None,
    execute: Annotated[bool, typer.Option("--execute", help="Send bundles (default: shadow).")] = False,
    shadow: Annotated[
        bool, typer.Option("--shadow", help="Decide and simulate, never send (default).")
    ] = False,
    rpc: Annotated[
        str | None, typer.Option(help="HTTP RPC URL (default: rpc_url, then the running devnet).")
    ] = None,
    ws: Annotated[
        str | None,
        typer.Option(help="Websocket RPC URL (default: ws_url, then the devnet's when --rpc is the devnet)."),
    ] = None,
    executor: Annotated[str | None, typer.Option(help="Executor address (default: deployments/).")] = None,
    relay: Annotated[
        list[str] | None,
        typer.Option(
            "--relay",
            help="Relay URL (repeatable; default: relay_urls, else the running `defibots devnet relay`).",
        ),
    ] = None,
    builder_share_bps: Annotated[
        int | None,
        typer.Option(
            "--builder-share-bps",
            min=0,
            max=10_000,
            help="Builder's share of the gross profit, paid to coinbase "
            f"(default: arb.builder_share_bps if set, else {DEFAULT_BUILDER_SHARE_BPS}).",
        ),
    ] = None,
    priority_fee_wei: Annotated[
        int, typer.Option("--priority-fee-wei", min=0, help="Our transaction's tip per gas.")
    ] = 0,
    blocks: Annotated[
        int, typer.Option("--blocks", min=1, max=2, help="Target the next block (1) or the next two (2).")
    ] = 1,
    duration: Annotated[float | None, typer.Option(help="Stop after this many seconds.", min=0)] = None,
    keystore: Annotated[Path | None, typer.Option(help="Signer keystore (non-devnet chains).")] = None,
    key_env: Annotated[str | None, typer.Option(help="Env var holding the signer key.")] = None,
) -> None:
    """Backrun pending swaps: predict the pools, bundle the victim then our arbitrage, send to relays."""
    from defibots.cli.bundle import relay_signer
    from defibots.cli.display import base_token_display, units
    from defibots.cli.endpoints import chain_id_of, resolve_relays
    from defibots.config import load_settings
    from defibots.execution.keys import key_choice, load_signer
    from defibots.jobs.backrun_watch import BackrunWatcher

    if execute and shadow:
        raise UserError("--execute and --shadow exclude each other")
    settings = load_settings(config)
    relays = resolve_relays(relay, settings)
    share = builder_share(builder_share_bps, settings)
    cfg = backrun_config(
        settings, rpc, ws, executor, relays, share, priority_fee_wei, blocks, shadow=not execute
    )
    keystore, key_env = key_choice(keystore, key_env, settings.keystore, settings.key_env)
    signer = load_signer(chain_id_of(cfg.rpc_url), keystore, key_env)
    watcher = BackrunWatcher(cfg, signer, relay_signer(relays, settings))
    mode = "EXECUTE" if execute else "shadow"
    console.print(
        f"backrunning swaps through {len(watcher.pools)} pools on chain {watcher.chain_id} ({mode}), "
        f"builder share {share} bps, relays {', '.join(relays)}; Ctrl-C stops"
    )
    with (
        Live(render(watcher), console=console, refresh_per_second=4) as live,
        contextlib.suppress(KeyboardInterrupt),
    ):
        asyncio.run(watcher.run(duration, on_tick=lambda w: live.update(render(w))))
    ex = watcher.executor.stats
    symbol, decimals = base_token_display(watcher.config.params.base_token)
    console.print(
        f"done: {watcher.strategy.stats.actions} backruns, {ex.simulated} simulated, {ex.sent} sent, "
        f"{ex.included} included, {ex.stale} stale; realized {units(ex.realized_profit, decimals)} {symbol}, "
        f"builder {units(ex.builder_paid, 18)} ETH, gas {units(ex.gas_cost, 18)} ETH"
    )
