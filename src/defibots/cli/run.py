"""`defibots run NAME`: any registered strategy on the live market, with a generic live table;
`defibots strategies` (or `run --list`) lists what is registered."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console, Group
from rich.table import Table

from defibots.cli.options import ConfigOpt, RpcOpt
from defibots.config import DEFAULT_CHAIN
from defibots.errors import UserError

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from defibots.config import Settings
    from defibots.jobs.runner import JobConfig, StrategyJob
    from defibots.strategies.registry import AnySpec, Registry

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
        f"pools {len(job.pools)}",
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
    chain: Annotated[
        list[str] | None,
        typer.Option(
            "--chain", help="A [chains.NAME] to run on (repeatable; default: every configured chain)."
        ),
    ] = None,
) -> None:
    """Run a registered strategy against the live market: its settings from [strategies.NAME], one job per
    chain, all in one process and one journal."""
    from defibots.config import load_settings
    from defibots.jobs.runner import StrategyJob, check_spec, run_jobs
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
    sections = settings.chain_sections()
    names = list(dict.fromkeys(chain or sections))
    for chain_name in names:
        if chain_name not in sections:
            raise UserError(f"unknown chain {chain_name!r} (configured: {', '.join(sections)})")
    if len(names) > 1:
        for flag, value in (("--rpc", rpc), ("--ws", ws), ("--executor", executor)):
            if value is not None:
                raise UserError(
                    f"{flag} names one chain's endpoint; with several chains set it per [chains.NAME]"
                )
    overrides = venue_overrides(strategy_settings)
    job_configs = [
        chain_job_config(spec, settings, chain_name, rpc, ws, executor, keystore, key_env, not execute)
        for chain_name in names
    ]
    job_configs = [(replace(c, ccxt_overrides=overrides), s) for c, s in job_configs]
    rpcs = [c.rpc_url for c, _ in job_configs]
    if len(set(rpcs)) != len(rpcs):
        raise UserError(
            f"chains {', '.join(names)} resolve to the same RPC; set rpc_url in each [chains.NAME]"
        )
    jobs: list[StrategyJob] = []
    try:
        for job_config, signer in job_configs:
            jobs.append(StrategyJob(spec, strategy_settings, job_config, signer))
    except BaseException:
        for job in jobs:
            job.journal.close()
        raise
    mode = "EXECUTE" if execute else "shadow"

    async def session() -> None:
        from rich.live import Live

        try:
            for job in jobs:
                await job.open()
                console.print(
                    f"running {spec.name} on chain {job.chain_id}{chain_label(job)}, "
                    f"{len(job.pools)} pools ({mode}); Ctrl-C stops"
                )

            def view() -> Group:
                return Group(*(render(j) for j in jobs))

            with Live(view(), console=console, refresh_per_second=4) as live:
                await run_jobs(jobs, duration, on_tick=lambda _job: live.update(view()))
            console.print(view())
        finally:
            for job in jobs:
                await job.close()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(session())
    for job in jobs:
        stats = job.stats()
        console.print(
            f"done{chain_label(job)}: {stats.events_total} events, {stats.actions_total} actions; "
            + "; ".join(job.executor_summaries())
        )


def venue_overrides(settings: object) -> dict[str, object] | None:
    """ccxt's URLs for a strategy whose `url` names a local venue (`defibots devnet`'s exchanges serve
    Binance's and Bybit's paths on one host); None for the real venues."""
    url, exchange = getattr(settings, "url", None), getattr(settings, "exchange", None)
    if not url or exchange not in ("binance", "bybit"):
        return None
    from defibots.devnet.exchange import ccxt_config

    return {"urls": ccxt_config(url, exchange)["urls"]}


def chain_label(job: StrategyJob) -> str:
    name = job.config.chain_name
    return f" ({name})" if name and name != DEFAULT_CHAIN else ""


def chain_job_config(
    spec: AnySpec,
    settings: Settings,
    chain_name: str,
    rpc: str | None,
    ws: str | None,
    executor: str | None,
    keystore: Path | None,
    key_env: str | None,
    shadow: bool,
) -> tuple[JobConfig, LocalAccount | None]:
    """One chain's job config: its section's endpoints in the usual order (flag, then config, then the
    running devnet; endpoints.py), its executor contract and signer when the strategy sends."""
    from defibots.cli.endpoints import executor_address, resolve_gmx_oracle, resolve_rpc, resolve_ws
    from defibots.engine import Capability
    from defibots.jobs.runner import JobConfig
    from defibots.paths import state_dir

    section = settings.chain_sections()[chain_name]
    # The chain's own section in the places the endpoint order reads: the same order for every chain.
    view = settings.model_copy(
        update={"rpc_url": section.rpc_url, "ws_url": section.ws_url, "chain_id": section.chain_id}
    )
    rpc_url = resolve_rpc(rpc, view)
    ws_endpoint = resolve_ws(ws, view, rpc_url)
    signer, executor_addr = None, None
    sends_tx = {Capability.PUBLIC_TX, Capability.HEDGED_ARB}
    if (sends_tx | {Capability.AAVE_LOOP, Capability.GMX_ORDER}) & set(spec.executors):
        from defibots.chain.rpc import JsonRpc
        from defibots.execution.keys import key_choice, load_signer

        chain_id = int(JsonRpc(rpc_url).call("eth_chainId"), 16)
        if sends_tx & set(spec.executors):
            executor_addr = executor_address(chain_id, executor or section.executor)
        keystore, key_env = key_choice(keystore, key_env, settings.keystore, settings.key_env)
        signer = load_signer(chain_id, keystore, key_env)
    job_config = JobConfig(
        rpc_url=rpc_url,
        ws_url=ws_endpoint.url if ws_endpoint else None,
        journal_path=settings.journal_path or state_dir() / "journal.sqlite",
        shadow=shadow,
        expected_chain_id=section.chain_id,
        executor=executor_addr,
        ws_required=ws_endpoint is not None and ws_endpoint.source != "devnet",
        address_book=section.address_book,
        chain_name=chain_name,
        gmx=settings.gmx,
        gmx_oracle_url=(
            resolve_gmx_oracle(None, settings).url if Capability.GMX_ORDER in spec.executors else None
        ),
    )
    return job_config, signer
