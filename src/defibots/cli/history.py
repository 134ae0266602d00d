"""`defibots history`: the trades in the journal, with fees, P&L and return (hummingbot's `history`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from defibots.config import load_settings
from defibots.journal import Journal, TokenTotals, Trade, format_units
from defibots.paths import state_dir

app = typer.Typer(help="Show past trades from the journal: gas, builder payments, profit, totals.")

STATUS_STYLE = {
    "included": "green", "reverted": "red", "not_included": "yellow", "pending": "cyan", "unknown": "magenta",
}  # fmt: skip
UNSETTLED = ("pending", "unknown")


def default_journal_path() -> Path:
    """settings.journal_path, else .defibots/journal.sqlite in this checkout's state dir."""
    configured = load_settings().journal_path
    return configured if configured is not None else state_dir() / "journal.sqlite"


@app.callback(invoke_without_command=True)
def history(
    journal: Annotated[
        Path | None, typer.Option("--journal", help="Journal file (default: settings or .defibots).")
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, help="Show the N most recent trades (totals cover all).")
    ] = 20,
    chain_id: Annotated[
        int | None, typer.Option("--chain-id", min=0, help="Only trades (and totals) on this chain.")
    ] = None,
) -> None:
    """List recent trades and the totals over the whole journal (or one chain of it)."""
    path = journal if journal is not None else default_journal_path()
    console = Console(soft_wrap=True)
    with Journal(path, create=False) as j:
        trades = j.trades(limit=limit, chain_id=chain_id)
        totals = j.totals(chain_id=chain_id)
        strategies = j.strategy_totals(chain_id=chain_id)
        counts = j.record_counts(chain_id=chain_id)
        several_chains = chain_id is None and len(j.chain_ids()) > 1
    on_chain = "" if chain_id is None else f" on chain {chain_id}"
    if not trades:
        console.print(f"no trades{on_chain} in {path}")
    else:
        table = Table(
            title=f"Last {len(trades)} trades{on_chain} in {path} (gas cost and builder payment in ETH)"
        )
        if several_chains:
            table.add_column("chain", justify="right", no_wrap=True)
        _trade_columns(table)
        for t in trades:
            table.add_row(*([str(t.chain_id)] if several_chains else []), *trade_cells(t))
        console.print(table)
        for total in totals:
            console.print(totals_line(total))
    if counts["opportunities"] or counts["simulations"]:
        console.print(
            f"recorded{on_chain}: {counts['opportunities']} opportunities, "
            f"{counts['simulations']} simulations, {counts['sends']} sends"
        )
    for s in strategies:
        amount = format_units(s.amount, s.token_decimals)
        console.print(f"strategy {s.strategy}: {s.entries} P&L entries, {amount} {s.token}")


def _trade_columns(table: Table) -> None:
    table.add_column("block", justify="right", no_wrap=True)
    table.add_column("route", overflow="fold")
    table.add_column("gas used", justify="right", no_wrap=True)
    table.add_column("gas cost", justify="right", no_wrap=True)
    table.add_column("builder payment", justify="right")
    table.add_column("profit", justify="right", no_wrap=True)
    table.add_column("status", no_wrap=True)


def trade_cells(t: Trade) -> tuple[str, ...]:
    """One trade's row as `history` prints it (settled amounts only once the outcome is recorded)."""
    pending = t.status in UNSETTLED
    return (
        str(t.block_number),
        t.route,
        f"{t.gas_used:,}",
        "-" if pending else format_units(t.gas_cost, 18),
        format_units(t.promised_payment if pending else t.builder_payment, 18),
        "-" if pending else f"{format_units(t.net_profit, t.base_decimals)} {t.base_token}",
        f"[{STATUS_STYLE.get(t.status, 'white')}]{t.status}[/]",
    )


def totals_line(total: TokenTotals) -> str:
    """One base token's totals as `history` prints them; the demo summary prints the same line, so the
    two always agree (reverted trades and their gas included)."""
    ret = total.return_pct
    return (
        f"{total.base_token}: trades {total.trades} (included {total.included}, reverted {total.reverted})"
        f" | fees {format_units(total.fees, 18)} ETH"
        f" (gas {format_units(total.gas_cost, 18)}, builder {format_units(total.builder_payment, 18)})"
        f" | P&L {format_units(total.net_profit, total.base_decimals)} {total.base_token}"
        f" | return {'n/a' if ret is None else f'{ret:.4f}%'}"
    )
