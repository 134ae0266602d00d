"""`defibots run NAME`: any registered strategy on the live market, with a generic live table;
`defibots strategies` (or `run --list`) lists what is registered."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console, Group
from rich.table import Table

from defibots.cli.options import ConfigOpt, RpcOpt
from defibots.errors import UserError

if TYPE_CHECKING:
    from defibots.jobs.runner import StrategyJob
    from defibots.strategies.registry import Registry

console = Console()


def strategies_table(registry: Registry) -> Table:
    table = Table(title="registered strategies")
    for column in ("name", "summary", "state", "executors", "from"):
        table.add_column(column)
    for entry in registry.entries():
        spec = entry.spec
        table.add_row(
            spec.name, spec.summary, ", ".join(spec.state), ", ".join(c.value for c in spec.executors),
            entry.origin,
        )  # fmt: skip
    return table


def render(job: StrategyJob) -> Group:
    stats = job.stats()
    decide = stats.latency.get("decide")
    head = Table.grid(padding=(0, 2))
    head.add_row(
        f"[bold]{job.spec.name}[/] chain {job.chain_id}",
        f"block {job.last_block()}",
        f"pools {len(job.states.pools)}",
        f"events/s {stats.events_per_s:.1f}",
        f"drops {stats.drops_total}",
        f"actions {stats.actions_total}",
        f"errors {sum(stats.strategy_errors.values()) + sum(stats.executor_errors.values())}",
        f"decide p50 {decide.p50_us / 1000:.2f} ms" if decide else "decide -",
    )
    head.add_row(*job.executor_summaries())
    table = Table(title=job.spec.summary, expand=True)
    for column in job.spec.columns:
        table.add_column(column)
    for row in job.rows():
        table.add_row(*row)
    return Group(head, table, *(f"[dim]{line}[/]" for line in job.recent()))


def strategies() -> None:
    """List the registered strategies (built-ins and installed packages' entry points)."""
    from defibots.strategies.registry import discover

    console.print(strategies_table(discover()))


def run(
    name: Annotated[str | None, typer.Argument(help="The registered strategy to run (see --list).")] = None,
    list_: Annotated[bool, typer.Option("--list", help="List the registered strategies and exit.")] = False,
    config: ConfigOpt = None,
    execute: Annotated[bool, typer.Option("--execute", help="Hand actions to executors that send.")] = False,
    shadow: Annotated[
        bool, typer.Option("--shadow", help="Record and simulate only, never send (default).")
    ] = False,
    duration: Annotated[float | None, typer.Option(help="Stop after this many seconds.", min=0)] = None,
    rpc: RpcOpt = None,
    ws: Annotated[
        str | None, typer.Option(help="Websocket RPC (default: ws_url, then the devnet's).")
    ] = None,
    executor: Annotated[
        str | None, typer.Option(help="Executor contract, for strategies that send (default: deployments/).")
    ] = None,
    keystore: Annotated[Path | None, typer.Option(help="Signer keystore (non-devnet chains).")] = None,
    key_env: Annotated[str | None, typer.Option(help="Env var holding the signer key.")] = None,
) -> None:
    """Run a registered strategy against the live market: its settings from [strategies.NAME]."""
    from defibots.config import load_settings
    from defibots.engine import Capability
    from defibots.jobs.runner import JobConfig, StrategyJob, check_spec
    from defibots.strategies.registry import discover

    registry = discover()
    if list_:
        console.print(strategies_table(registry))
        return
    if name is None:
        raise UserError(f"name a strategy to run (registered: {', '.join(registry.names()) or 'none'})")
    if execute and shadow:
        raise UserError("--execute and --shadow exclude each other")
    spec = registry.get(name)
    check_spec(spec)
    settings = load_settings(config)
    strategy_settings = spec.parse_settings(settings.strategies.get(name, {}))
    from defibots.cli.endpoints import resolve_rpc, resolve_ws
    from defibots.paths import state_dir

    rpc_url = resolve_rpc(rpc, settings)
    ws_endpoint = resolve_ws(ws, settings, rpc_url)
    signer, executor_addr = None, None
    if Capability.PUBLIC_TX in spec.executors:
        from defibots.chain.rpc import JsonRpc
        from defibots.cli.endpoints import executor_address
        from defibots.execution.keys import key_choice, load_signer

        chain_id = int(JsonRpc(rpc_url).call("eth_chainId"), 16)
        executor_addr = executor_address(chain_id, executor)
        keystore, key_env = key_choice(keystore, key_env, settings.keystore, settings.key_env)
        signer = load_signer(chain_id, keystore, key_env)
    job_config = JobConfig(
        rpc_url=rpc_url,
        ws_url=ws_endpoint.url if ws_endpoint else None,
        journal_path=settings.journal_path or state_dir() / "journal.sqlite",
        shadow=not execute,
        expected_chain_id=settings.chain_id,
        executor=executor_addr,
        ws_required=ws_endpoint is not None and ws_endpoint.source != "devnet",
    )
    job = StrategyJob(spec, strategy_settings, job_config, signer)
    mode = "EXECUTE" if execute else "shadow"

    async def session() -> None:
        from rich.live import Live

        try:
            await job.open()
            console.print(
                f"running {spec.name} on chain {job.chain_id}, {len(job.states.pools)} pools ({mode}); "
                "Ctrl-C stops"
            )
            with Live(render(job), console=console, refresh_per_second=4) as live:
                await job.run(duration, on_tick=lambda j: live.update(render(j)))
            console.print(render(job))
        finally:
            await job.close()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(session())
    stats = job.stats()
    console.print(
        f"done: {stats.events_total} events, {stats.actions_total} actions; "
        + "; ".join(job.executor_summaries())
    )
