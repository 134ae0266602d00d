"""`defibots watch liquidations` and `defibots deploy liquidator`: Aave liquidations as bundles.

The Liquidator's address is kept in the state dir (`liquidator-<chainId>.json`) by `deploy liquidator`, and
`watch liquidations` falls back to it. Builder pay: `--builder-share-bps` of each liquidation's gross
profit, in ETH to block.coinbase (from the profit for WETH debt, else from the ETH the contract holds:
fund it with `--fund-eth`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from eth_utils import is_address, to_checksum_address
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from defibots.errors import UserError

if TYPE_CHECKING:
    from defibots.jobs.liquidation_watch import LiquidationWatcher

console = Console()


def _record_path(chain_id: int) -> Path:
    from defibots.paths import state_dir

    return state_dir() / f"liquidator-{chain_id}.json"


def liquidator_address(chain_id: int, flag: str | None) -> str:
    if flag is not None:
        if not is_address(flag):
            raise UserError(f"--liquidator {flag!r} is not an address")
        return str(to_checksum_address(flag))
    path = _record_path(chain_id)
    try:
        return str(json.loads(path.read_text())["address"])
    except (OSError, ValueError, KeyError):
        raise UserError(
            f"no Liquidator recorded for chain {chain_id} ({path}): run `defibots deploy liquidator` or pass "
            "--liquidator"
        ) from None


def deploy_liquidator(
    rpc: Annotated[
        str | None, typer.Option(help="RPC URL (default: rpc_url, else the running devnet).")
    ] = None,
    keystore: Annotated[Path | None, typer.Option(help="Deployer keystore JSON.")] = None,
    key_env: Annotated[str | None, typer.Option(help="Env var holding the deployer's private key.")] = None,
    allow: Annotated[
        list[str] | None, typer.Option("--allow", help="An address allowed to liquidate (repeatable).")
    ] = None,
    fund_eth: Annotated[
        float, typer.Option("--fund-eth", min=0, help="ETH sent to it for builder payments of non-WETH debt.")
    ] = 0.0,
) -> None:
    """Deploy the Liquidator (flash loan -> liquidationCall -> sell the collateral -> repay), owned by the
    deployer, and record its address for `watch liquidations`."""
    from web3 import HTTPProvider, Web3

    from defibots.cli.endpoints import chain_id_of, resolve_rpc
    from defibots.config import load_settings
    from defibots.execution.keys import key_choice, load_signer
    from defibots.execution.liquidator import LiquidatorClient

    settings = load_settings(None)
    url = resolve_rpc(rpc, settings)
    chain_id = chain_id_of(url)
    for a in allow or ():
        if not is_address(a):
            raise UserError(f"--allow {a!r} is not an address")
    keystore, key_env = key_choice(keystore, key_env, settings.keystore, settings.key_env)
    signer = load_signer(chain_id, keystore, key_env)
    w3 = Web3(HTTPProvider(url, request_kwargs={"timeout": 30}))
    client = LiquidatorClient.deploy(w3, signer, list(allow or ()))
    if fund_eth:
        tx = dict(client.sender.build(client.address, b"", 60_000))
        tx["value"] = int(fund_eth * 10**18)
        signed = signer.sign_transaction(tx)  # type: ignore[arg-type]
        w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(signed.raw_transaction), timeout=120)
    path = _record_path(chain_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"address": client.address, "owner": signer.address, "chain_id": chain_id}))
    console.print(f"Liquidator at {client.address} on chain {chain_id}, owner {signer.address} ({path})")


def render(watcher: LiquidationWatcher) -> Group:
    st, ex = watcher.strategy.stats, watcher.executor.stats
    grid = Table.grid(padding=(0, 2))
    grid.add_row(
        f"block [bold]{watcher.last_block()}[/]",
        f"accounts {len(watcher.strategy.book.accounts())} (near 1: {len(watcher.strategy.near)})",
        f"pending updates {st.pending_updates}, mined {st.mined_updates}",
        f"bad updates {watcher.mempool.stats.decode_errors + ex.update_reverts}",
    )
    samples = ex.latency_ms
    grid.add_row(
        f"update-to-sent p50 {statistics.median(samples):.1f} ms" if samples else "update-to-sent -",
        f"found {st.liquidatable} planned {st.planned} simulated {ex.simulated} stale {ex.stale}",
        f"sent {ex.sent} included {ex.included} lost {ex.lost} missed {ex.not_included}",
        f"profit ${ex.profit_base / 1e8:,.2f}, builder {ex.builder_paid / 1e18:.4f} ETH, "
        f"gas {ex.gas_cost / 1e18:.4f} ETH",
    )
    risk = Table(title="accounts most at risk", expand=True)
    for column in ("account", "health factor", "debt (USD)", "collateral", "liquidatable below"):
        risk.add_column(column)
    for row in watcher.strategy.at_risk(8):
        hf = "-" if row.health_factor >= 2**255 else f"{row.health_factor / 1e18:.4f}"
        price = "-" if row.liquidation_price is None else f"${row.liquidation_price / 1e8:,.2f}"
        symbol = _symbol(row.collateral)
        risk.add_row(row.user[:12] + "…", hf, f"{row.debt_base / 1e8:,.0f}", symbol, price)
    sent = Table(title="liquidations", expand=True)
    for column in ("block", "account", "result", "seized / predicted", "profit / predicted", "winner"):
        sent.add_column(column)
    for r in ex.results[-6:]:
        sent.add_row(
            str(r["block"]), r["user"][:12] + "…", r["status"],
            f"{r.get('seized')} / {r.get('predicted_seized')}" if "seized" in r else "",
            f"{r.get('profit')} / {r.get('predicted_profit')}" if "profit" in r else "",
            str(r.get("winner_tx") or "")[:18],
        )  # fmt: skip
    lines = [f"[dim]{line}[/]" for line in (st.recent[-2:] + ex.recent[-3:])]
    if ex.last_error:
        lines.append(f"[yellow]{ex.last_error}[/]")
    return Group(grid, risk, sent, *lines)


def _symbol(address: str) -> str:
    from defibots.execution.public_tx import TOKENS_BY_ADDRESS

    token = TOKENS_BY_ADDRESS.get(address.lower())
    return token.symbol if token else address[:10]


class Simulation(StrEnum):
    node = "node"
    fork = "fork"


def liquidations(
    config: Annotated[
        Path | None, typer.Option(help="defibots.toml to read (default ./defibots.toml).")
    ] = None,
    execute: Annotated[bool, typer.Option("--execute", help="Send bundles (default: shadow).")] = False,
    shadow: Annotated[
        bool, typer.Option("--shadow", help="Decide and simulate, never send (default).")
    ] = False,
    rpc: Annotated[str | None, typer.Option(help="HTTP RPC URL (default: rpc_url, then the devnet).")] = None,
    ws: Annotated[str | None, typer.Option(help="Websocket RPC URL.")] = None,
    liquidator: Annotated[
        str | None, typer.Option(help="Liquidator address (default: the recorded one).")
    ] = None,
    relay: Annotated[
        list[str] | None,
        typer.Option("--relay", help="Relay URL (repeatable; default: relay_urls / devnet relay)."),
    ] = None,
    min_profit_wei: Annotated[
        int, typer.Option("--min-profit-wei", min=0, help="Net profit floor per liquidation, in wei of ETH.")
    ] = 0,
    builder_share_bps: Annotated[
        int,
        typer.Option("--builder-share-bps", min=0, max=10_000, help="Builder's share of the gross profit."),
    ] = 2_000,
    block_time: Annotated[
        int, typer.Option(min=1, help="Seconds between blocks (plans are timed by it).")
    ] = 12,
    first_block: Annotated[int, typer.Option(min=0, help="Where borrower discovery starts.")] = 0,
    simulation: Annotated[
        Simulation,
        typer.Option(help="node: eth_simulateV1 on the RPC (fast); fork: mine on a private anvil fork."),
    ] = Simulation.node,
    duration: Annotated[float | None, typer.Option(help="Stop after this many seconds.", min=0)] = None,
    keystore: Annotated[Path | None, typer.Option(help="Signer keystore (non-devnet chains).")] = None,
    key_env: Annotated[str | None, typer.Option(help="Env var holding the signer key.")] = None,
) -> None:
    """Watch every Aave borrower's health factor and liquidate, backrunning pending price updates."""
    from defibots.chain.addresses import token
    from defibots.cli.bundle import relay_signer
    from defibots.cli.endpoints import chain_id_of, resolve_relays, resolve_rpc, resolve_ws
    from defibots.config import load_settings
    from defibots.execution.keys import key_choice, load_signer
    from defibots.jobs.liquidation_watch import LiquidationWatchConfig, LiquidationWatcher
    from defibots.paths import state_dir
    from defibots.strategies.liquidations import LiquidationParams

    if execute and shadow:
        raise UserError("--execute and --shadow exclude each other")
    settings = load_settings(config)
    rpc_url = resolve_rpc(rpc, settings)
    endpoint = resolve_ws(ws, settings, rpc_url)
    chain_id = chain_id_of(rpc_url)
    relays = resolve_relays(relay, settings)
    params = LiquidationParams(
        weth=token("WETH").address, min_profit_wei=min_profit_wei, builder_share_bps=builder_share_bps,
        block_time=block_time,
    )  # fmt: skip
    cfg = LiquidationWatchConfig(
        rpc_url=rpc_url, ws_url=endpoint.url if endpoint else None,
        liquidator=liquidator_address(chain_id, liquidator),
        journal_path=settings.journal_path or state_dir() / "journal.sqlite", relay_urls=tuple(relays),
        params=params, shadow=not execute, expected_chain_id=settings.chain_id, first_block=first_block,
        simulation="node" if simulation is Simulation.node else "fork",
    )  # fmt: skip
    keystore, key_env = key_choice(keystore, key_env, settings.keystore, settings.key_env)
    signer = load_signer(chain_id, keystore, key_env)
    watcher = LiquidationWatcher(cfg, signer, relay_signer(relays, settings))
    mode = "EXECUTE" if execute else "shadow"
    console.print(
        f"watching {len(watcher.strategy.book.accounts())} Aave accounts on chain {chain_id} ({mode}), "
        f"builder share {builder_share_bps} bps, relays {', '.join(relays)}; Ctrl-C stops"
    )
    with (
        Live(render(watcher), console=console, refresh_per_second=4) as live,
        contextlib.suppress(KeyboardInterrupt),
    ):
        asyncio.run(watcher.run(duration, on_tick=lambda w: live.update(render(w))))
    console.print(f"done: {watcher.summary()}")
