"""`defibots watch arb`: the live arbitrage watcher with a rich table."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table

from defibots.cli.display import base_token_display, units
from defibots.cli.endpoints import chain_id_of, executor_address
from defibots.errors import UserError

if TYPE_CHECKING:
    from defibots.config import Settings
    from defibots.jobs.arb_watch import ArbWatcher, CexWatch, WatchConfig

app = typer.Typer(help="Watch the chain and act on opportunities.", no_args_is_help=True)
console = Console()


@dataclass(frozen=True)
class CexOptions:
    """The CEX flags of `watch arb`; the feed runs when [cex] is configured or --cex-url is given."""

    url: str | None = None
    disabled: bool = False
    min_edge_bps: Decimal = Decimal(5)
    usd_pegged_equal: bool = False


def cex_watch(settings: Settings, options: CexOptions) -> CexWatch | None:
    from defibots.jobs.arb_watch import CexWatch

    configured = "cex" in settings.model_fields_set
    if options.disabled or not (configured or options.url):
        return None
    cex = settings.cex
    return CexWatch(
        exchange=cex.exchange,
        url=options.url or cex.url,
        symbols=tuple(cex.symbols),
        taker_fee_bps=cex.taker_fee_bps,
        min_edge_bps=options.min_edge_bps,
        usd_pegged_equal=options.usd_pegged_equal,
    )


def watch_config(
    settings: Settings,
    rpc: str | None,
    ws: str | None,
    executor: str | None,
    shadow: bool,
    cex: CexOptions | None = None,
) -> WatchConfig:
    """Settings + flags -> WatchConfig, checking what needs no running watcher first (tokens, chain id)."""
    from defibots.chain.addresses import token
    from defibots.cli.endpoints import resolve_rpc, resolve_ws
    from defibots.jobs.arb_watch import WatchConfig
    from defibots.paths import state_dir
    from defibots.strategies.amm_arb import ArbParams

    arb = settings.arb
    base_token = token(arb.base_token)
    tokens = tuple(token(t).symbol for t in arb.tokens)
    rpc_url = resolve_rpc(rpc, settings)
    chain_id = chain_id_of(rpc_url)
    if settings.chain_id is not None and chain_id != settings.chain_id:
        raise UserError(f"RPC {rpc_url} serves chain {chain_id}, but the config expects {settings.chain_id}")
    ws_endpoint = resolve_ws(ws, settings, rpc_url)
    params = ArbParams(
        base_token=base_token.address,
        max_hops=arb.max_hops,
        min_net_profit=arb.min_profit_wei,
        priority_fee=arb.priority_fee_wei,
        builder_share_bps=0,  # the public path pays no builder; bundles do
    )
    return WatchConfig(
        rpc_url=rpc_url,
        ws_url=ws_endpoint.url if ws_endpoint else None,
        executor=executor_address(chain_id, executor),
        journal_path=settings.journal_path or state_dir() / "journal.sqlite",
        tokens=tokens,
        params=params,
        expected_chain_id=settings.chain_id,
        shadow=shadow,
        ws_required=ws_endpoint is not None and ws_endpoint.source != "devnet",
        cex=cex_watch(settings, cex or CexOptions()),
    )


def render(watcher: ArbWatcher) -> Group:
    from defibots.execution.public_tx import describe

    symbol, decimals = base_token_display(watcher.config.params.base_token)
    stats = watcher.stats()
    head = Table.grid(padding=(0, 2))
    latency = stats.latency.get("decide")
    total = stats.latency.get("total")
    ex = watcher.executor.stats
    head.add_row(
        f"block [bold]{watcher.last_block()}[/]",
        f"events/s {stats.events_per_s:.1f}",
        f"drops {stats.drops_total}" + (f" unrouted {stats.unrouted_total}" if stats.unrouted_total else ""),
        f"pools {len(watcher.pools)}",
        f"cycles {len(watcher.strategy.finder.cycles)}",
    )
    head.add_row(
        f"detect p50 {latency.p50_us / 1000:.2f} ms" if latency else "detect -",
        f"p99 {latency.p99_us / 1000:.2f} ms" if latency else "",
        f"to-send p50 {total.p50_us / 1000:.1f} ms" if total else "to-send -",
        f"sent {ex.sent} stale {ex.stale}",
        f"realized {units(ex.realized_profit, decimals)} {symbol}, gas {units(ex.gas_cost, 18)} ETH",
    )
    listener = watcher.listener.stats
    head.add_row(
        f"ws reconnects {listener.reconnects}",
        f"reorgs {listener.reorgs}",
        f"bad logs {watcher.state.stats.malformed}",
        f"bad messages {listener.malformed_messages}",
        f"cex signals {watcher.cex_signals}" if watcher.cex_journal else "cex off",
    )
    table = Table(title=f"best opportunities (amounts in {symbol})", expand=True)
    for column in ("route", "size", "gross", "gas cost", "net", "block"):
        table.add_column(column)
    for opp in watcher.best():
        table.add_row(
            describe(opp),
            units(opp.amount_in, decimals, 4),
            units(opp.gross_profit, decimals),
            units(opp.gas_cost, decimals),
            units(opp.net_profit, decimals),
            str(opp.block_number),
        )
    parts: list[RenderableType] = [head, table]
    if watcher.cex_journal is not None:
        parts.append(_cex_table(watcher))
    recent = [*ex.recent[-3:], *(watcher.cex_journal.stats.recent[-2:] if watcher.cex_journal else [])]
    return Group(*parts, *(f"[dim]{line}[/]" for line in recent))


def _cex_table(watcher: ArbWatcher) -> Table:
    """Best AMM-CEX round trip per symbol and direction right now (profitable or not)."""
    table = Table(title="AMM vs CEX (best size per direction, net of fees and gas)", expand=True)
    for column in ("symbol", "direction", "pool", "size", "AMM", "CEX", "net", "edge bps"):
        table.add_column(column)
    threshold = watcher.config.cex.min_edge_bps if watcher.config.cex else Decimal(0)
    for s in watcher.best_cex():
        size = Decimal(s.size).scaleb(-s.base.decimals).normalize()
        net = Decimal(s.net_profit).scaleb(-s.quote.decimals)
        style = "green" if s.edge_bps > threshold else "dim"
        table.add_row(
            s.symbol,
            s.direction.replace("_", " "),
            f"{s.protocol}-{s.pool_fee} {s.pool[:8]}" if s.protocol == "v3" else f"v2 {s.pool[:8]}",
            f"{size:f}",
            f"{s.amm_price:.2f}",
            f"{s.cex_price:.2f}",
            f"{net:.2f} {s.quote.symbol}",
            f"[{style}]{s.edge_bps}[/]",
        )
    return table


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
    rpc: Annotated[
        str | None, typer.Option(help="HTTP RPC URL (default: rpc_url, then the running devnet).")
    ] = None,
    ws: Annotated[
        str | None,
        typer.Option(
            help="Websocket RPC URL (default: ws_url, then the devnet's when --rpc is the devnet); "
            "must answer when given or configured."
        ),
    ] = None,
    executor: Annotated[str | None, typer.Option(help="Executor address (default: deployments/).")] = None,
    duration: Annotated[float | None, typer.Option(help="Stop after this many seconds.", min=0)] = None,
    keystore: Annotated[Path | None, typer.Option(help="Signer keystore (non-devnet chains).")] = None,
    key_env: Annotated[str | None, typer.Option(help="Env var holding the signer key.")] = None,
    cex_url: Annotated[
        str | None,
        typer.Option(help="Watch AMM vs CEX against this exchange URL (e.g. the local exchange)."),
    ] = None,
    no_cex: Annotated[
        bool, typer.Option("--no-cex", help="Do not run the CEX feed even if configured.")
    ] = False,
    min_edge_bps: Annotated[
        float, typer.Option(help="AMM-CEX signals need an edge above this, net of fees and gas.", min=0)
    ] = 5.0,
    usdc_as_usdt: Annotated[
        bool, typer.Option("--usdc-as-usdt", help="Treat USDC and USDT as 1:1 for AMM-CEX signals.")
    ] = False,
) -> None:
    """Watch tracked pools for AMM arbitrage (and AMM-CEX gaps); live table of opportunities, latency, P&L."""
    from defibots.config import load_settings
    from defibots.execution.keys import key_choice, load_signer
    from defibots.jobs.arb_watch import ArbWatcher

    if execute and shadow:
        raise UserError("--execute and --shadow exclude each other")
    settings = load_settings(config)
    cex = CexOptions(cex_url, no_cex, Decimal(str(min_edge_bps)), usdc_as_usdt)
    cfg = watch_config(settings, rpc, ws, executor, shadow=not execute, cex=cex)
    keystore, key_env = key_choice(keystore, key_env, settings.keystore, settings.key_env)
    signer = load_signer(chain_id_of(cfg.rpc_url), keystore, key_env)
    watcher = ArbWatcher(cfg, signer)
    mode = "EXECUTE" if execute else "shadow"

    async def session() -> None:
        try:
            await watcher.open()  # websocket and CEX checks: a failure is one error line, before the view
            cex_note = f", CEX {', '.join(cfg.cex.symbols)} on {cfg.cex.exchange}" if cfg.cex else ""
            console.print(
                f"watching {len(watcher.pools)} pools on chain {watcher.chain_id} ({mode}{cex_note}); "
                "Ctrl-C stops"
            )
            with Live(render(watcher), console=console, refresh_per_second=4) as live:
                await watcher.run(duration, on_tick=lambda w: live.update(render(w)))
        finally:
            await watcher.close()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(session())
    ex = watcher.executor.stats
    symbol, decimals = base_token_display(cfg.params.base_token)
    console.print(
        f"done: {ex.simulated} simulated, {ex.sent} sent, {ex.stale} stale; "
        f"realized {units(ex.realized_profit, decimals)} {symbol}, gas {units(ex.gas_cost, 18)} ETH"
        + (f"; {watcher.cex_signals} CEX signals" if cfg.cex else "")
    )
