"""`defibots history`: the trades in the journal, with fees, P&L and return (hummingbot's `history`), and the
hedged AMM-CEX round trips with both legs side by side."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from defibots.config import load_settings
from defibots.journal import (
    Journal,
    RoundTrip,
    RoundTripLegs,
    RoundTripTotals,
    TokenTotals,
    Trade,
    format_units,
)
from defibots.paths import state_dir

app = typer.Typer(help="Show past trades from the journal: gas, builder payments, profit, totals.")

STATUS_STYLE = {
    "included": "green", "reverted": "red", "not_included": "yellow", "lost": "yellow", "pending": "cyan",
    "unknown": "magenta",
}  # fmt: skip
UNSETTLED = ("pending", "unknown")
ROUND_TRIP_STYLE = {
    "pending": "cyan", "closed": "green", "hedged": "green", "unwound": "yellow", "chain_failed": "red",
    "unhedged": "bold red", "reorged": "magenta",
}  # fmt: skip
DIRECTIONS = {"sell_amm_buy_cex": "sell AMM, buy CEX", "buy_amm_sell_cex": "buy AMM, sell CEX"}


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
        trips = [(rt, j.round_trip_legs(rt)) for rt in j.round_trips(limit=limit, chain_id=chain_id)]
        trip_totals = j.round_trip_totals(chain_id=chain_id)
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
    if trips:
        table = Table(title=f"Last {len(trips)} round trips{on_chain} (both legs; P&L in the quote token)")
        if several_chains:
            table.add_column("chain", justify="right", no_wrap=True)
        _round_trip_columns(table)
        for rt, legs in trips:
            table.add_row(*([str(rt.chain_id)] if several_chains else []), *round_trip_cells(rt, legs))
        console.print(table)
    for rtt in trip_totals:
        console.print(round_trip_totals_line(rtt))
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


def _round_trip_columns(table: Table) -> None:
    table.add_column("id", justify="right", no_wrap=True)
    table.add_column("block", justify="right", no_wrap=True)
    table.add_column("strategy", no_wrap=True)
    table.add_column("direction", no_wrap=True)
    table.add_column("chain leg", overflow="fold")
    table.add_column("CEX leg", overflow="fold")
    table.add_column("fees", justify="right", overflow="fold")
    table.add_column("predicted", justify="right", no_wrap=True)
    table.add_column("net", justify="right", no_wrap=True)
    table.add_column("residual", justify="right", no_wrap=True)
    table.add_column("status", no_wrap=True)


def round_trip_cells(rt: RoundTrip, legs: RoundTripLegs) -> tuple[str, ...]:
    """One round trip as `history` prints it: what each leg moved, where it is in the journal, the fees,
    and predicted against realized net, all in the trip's token units."""
    q, qd, b, bd = rt.quote_token, rt.quote_decimals, rt.base_token, rt.base_decimals
    return (
        str(rt.id),
        str(rt.block_number),
        f"{rt.strategy} {rt.venue} {rt.symbol}",
        DIRECTIONS.get(rt.direction, rt.direction),
        f"{_signed(rt.chain_base, bd)} {b} {_signed(rt.chain_quote, qd)} {q} ({_sends(legs) or 'no send'})",
        f"{_signed(rt.cex_base, bd)} {b} {_signed(rt.cex_quote, qd)} {q} ({_orders(legs) or 'no order'})",
        f"CEX {format_units(rt.cex_fee_quote, qd)} gas {format_units(rt.gas_cost_quote, qd)}"
        f" builder {format_units(rt.builder_payment_quote, qd)} {q}",
        f"{format_units(rt.predicted_net, qd)} {q}",
        f"{format_units(rt.net_pnl, qd)} {q}",
        f"{format_units(rt.residual_base, bd)} {b}",
        f"[{ROUND_TRIP_STYLE.get(rt.status, 'white')}]{rt.status}[/]",
    )


def round_trip_totals_line(t: RoundTripTotals) -> str:
    """One strategy's round trips in one quote token: outcomes, exact sums, and the exposure left open."""
    q, d = t.quote_token, t.quote_decimals
    statuses = ", ".join(f"{status} {n}" for status, n in t.statuses.items())
    residual = ", ".join(f"{format_units(r.amount, r.base_decimals)} {r.base_token}" for r in t.open_residual)
    return (
        f"round trips {t.strategy} ({q}): {t.trips} ({statuses})"
        f" | net {format_units(t.net_pnl, d)} {q} (predicted {format_units(t.predicted_net, d)})"
        f" | CEX fees {format_units(t.cex_fee_quote, d)} {q}"
        f" | gas {format_units(t.gas_cost_quote, d)} {q}"
        f" | builder {format_units(t.builder_payment_quote, d)} {q}"
        f" | open residual {residual or '0'}"
    )


def _signed(amount: int, decimals: int) -> str:
    return ("+" if amount > 0 else "") + format_units(amount, decimals)


def _sends(legs: RoundTripLegs) -> str:
    return ", ".join(f"send {s.id} {_short(s.ident)}" for s in legs.sends)


def _orders(legs: RoundTripLegs) -> str:
    """Per CEX order: side, filled amount and average price from its journaled fills."""
    parts = []
    for o in legs.orders:
        fills = legs.fills.get(o.id or 0, ())
        filled = sum((f.amount for f in fills), Decimal(0))
        base = o.symbol.split("/")[0]
        if filled:
            avg = sum((f.price * f.amount for f in fills), Decimal(0)) / filled
            parts.append(f"order {o.id} {o.side} {_decimal(filled)} {base} @ {_decimal(avg)}")
        else:
            parts.append(f"order {o.id} {o.side} unfilled ({o.status})")
    return ", ".join(parts)


def _decimal(value: Decimal) -> str:
    """A venue Decimal for display: at most 8 places, no exponent, no trailing zeros."""
    text = f"{value.quantize(Decimal('1e-8')):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _short(ident: str) -> str:
    return ident if len(ident) <= 12 else f"{ident[:10]}…"
