"""`defibots history`: the trades in the journal, with fees, P&L and return (hummingbot's `history`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from defibots.config import load_settings
from defibots.journal import Journal, TokenTotals, format_units
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
) -> None:
    """List recent trades and the totals over the whole journal."""
    path = journal if journal is not None else default_journal_path()
    console = Console(soft_wrap=True)
    with Journal(path, create=False) as j:
        trades = j.trades(limit=limit)
        totals = j.totals()
    if not trades:
        console.print(f"no trades in {path}")
        return
    table = Table(title=f"Last {len(trades)} trades in {path} (gas cost and builder payment in ETH)")
    table.add_column("block", justify="right", no_wrap=True)
    table.add_column("route", overflow="fold")
    table.add_column("gas used", justify="right", no_wrap=True)
    table.add_column("gas cost", justify="right", no_wrap=True)
    table.add_column("builder payment", justify="right")
    table.add_column("profit", justify="right", no_wrap=True)
    table.add_column("status", no_wrap=True)
    for t in trades:
        pending = t.status in UNSETTLED
        table.add_row(
            str(t.block_number),
            t.route,
            f"{t.gas_used:,}",
            "-" if pending else format_units(t.gas_cost, 18),
            format_units(t.promised_payment if pending else t.builder_payment, 18),
            "-" if pending else f"{format_units(t.net_profit, t.base_decimals)} {t.base_token}",
            f"[{STATUS_STYLE.get(t.status, 'white')}]{t.status}[/]",
        )
    console.print(table)
    for total in totals:
        console.print(totals_line(total))


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
