"""`defibots gmx markets|positions|open|close|cancel`: GMX V2 perps through the keeper flow.

Shadow first: open, close and cancel print the plan and the simulation of the exact transactions and send
nothing; with --execute they send, wait for the keeper's outcome (decoded reasons for a cancel), retry a
keeper-cancelled market order within the budget (gmx.max_attempts, default 3), and journal every step.
`positions` also journals outcomes that settled since (a take profit that fired later).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from defibots.cli.endpoints import resolve_gmx_oracle, resolve_rpc
from defibots.cli.options import ConfigOpt, KeyEnv, Keystore, RpcOpt, decimal_arg, symbol_amount
from defibots.config import load_settings
from defibots.errors import UserError
from defibots.paths import state_dir
from defibots.protocols.gmx_v2.precision import FLOAT_PRECISION

if TYPE_CHECKING:  # web3 loads slowly: imported when a command runs, not for --help
    from defibots.execution.gmx_trader import Executed, GmxTrader, OrderPlan

app = typer.Typer(
    help="GMX V2 perps: markets, positions, open / close / cancel orders.", no_args_is_help=True
)
console = Console()

OracleOpt = Annotated[
    str | None,
    typer.Option("--oracle-url", help="GMX oracle keeper (default: gmx.oracle_url, the devnet's, GMX's)."),
]
Execute = Annotated[
    bool, typer.Option("--execute", help="Send the simulated transactions (default: shadow).")
]
Slippage = Annotated[int, typer.Option("--slippage-bps", min=0, max=5000, help="Acceptable price move.")]
Attempts = Annotated[
    int | None, typer.Option("--max-attempts", min=1, max=10, help="Creations of a cancelled market order.")
]
Long = Annotated[bool, typer.Option("--long/--short", help="Position side.")]
MarketOpt = Annotated[str, typer.Option("--market", help="Market by index token, e.g. ETH or BTC.")]

USD = FLOAT_PRECISION
USD_CENT = Decimal("0.01")


def _trader(
    rpc: str | None,
    config: Path | None,
    oracle_url: str | None,
    keystore: Path | None = None,
    key_env: str | None = None,
    account: str | None = None,
    need_signer: bool = True,
    max_attempts: int | None = None,
) -> GmxTrader:
    from eth_utils import is_address

    from defibots.cli.endpoints import chain_id_of
    from defibots.execution.gmx_trader import GmxTrader
    from defibots.execution.keys import key_choice, load_explicit_signer, load_signer

    settings = load_settings(config)
    url = resolve_rpc(rpc, settings)
    chain_id = chain_id_of(url)
    if settings.chain_id is not None and settings.chain_id != chain_id:
        raise UserError(f"RPC serves chain {chain_id}, expected {settings.chain_id}")
    oracle = resolve_gmx_oracle(oracle_url, settings).url
    chosen = key_choice(keystore, key_env, settings.keystore, settings.key_env)
    load = need_signer or account is None
    signer = load_signer(chain_id, *chosen) if load else load_explicit_signer(*chosen)
    if account is not None and not is_address(account):
        raise UserError(f"{account!r} is not an address")
    journal = settings.journal_path or state_dir() / "journal.sqlite"
    return GmxTrader.from_settings(
        url, chain_id, settings.gmx, oracle, journal, signer, account, max_attempts, notify=_notify
    )


_status: list[object] = []


def _notify(message: str) -> None:
    if _status:
        _status[-1].update(message)  # type: ignore[attr-defined]
    console.print(f"[dim]{message}[/dim]")


@contextmanager
def _progress(message: str) -> Iterator[None]:
    with console.status(message) as status:
        _status.append(status)
        try:
            yield
        finally:
            _status.pop()


def _price(unit: int | None, decimals: int) -> str:
    if unit is None:
        return "-"
    return f"{Decimal(unit) * Decimal(10) ** decimals / Decimal(USD):,.2f}"


def _usd(amount: int) -> str:
    return f"{Decimal(amount) / Decimal(USD):,.2f}"


def _rate(factor: int) -> str:
    """A per-hour factor (1e30) as a signed percentage."""
    return f"{Decimal(factor) * 100 / Decimal(USD):+.8f}%"


def _amount(amount: int, decimals: int) -> str:
    return f"{Decimal(amount) / Decimal(10) ** decimals:,.6f}"


@app.command("markets")
def markets(rpc: RpcOpt = None, config: ConfigOpt = None, oracle_url: OracleOpt = None) -> None:
    """Markets on chain: price, open interest, funding and borrowing per hour, max leverage."""
    trader = _trader(rpc, config, oracle_url, need_signer=False, account="0x" + "00" * 20)
    table = Table(title=f"GMX V2 markets (chain {trader.chain_id})")
    for col in ("market", "tokens", "price", "OI long", "OI short", "borrow/h L", "borrow/h S",
                "funding/h L", "funding/h S", "max lev"):  # fmt: skip
        table.add_column(col, justify="left" if col in ("market", "tokens") else "right")
    for m in trader.markets().values():
        s = trader.summary(m)
        table.add_row(
            m.name, f"{m.long.name}/{m.short.name}", _price(s.index_price.mid_price, m.index.decimals),
            _usd(s.long_open_interest_usd), _usd(s.short_open_interest_usd),
            _rate(s.borrowing_per_hour_long), _rate(s.borrowing_per_hour_short),
            _rate(s.funding_per_hour_long), _rate(s.funding_per_hour_short),
            f"{s.max_leverage.normalize():f}x",
        )  # fmt: skip
    console.print(table)


def _show_positions(trader: GmxTrader) -> None:
    views = trader.positions()
    if not views:
        console.print(f"no open GMX positions for {trader.account}")
        return
    table = Table(title=f"GMX V2 positions of {trader.account}")
    for col in ("market", "side", "size $", "collateral", "entry", "mark", "PnL $", "fees $", "liq. price",
                "leverage"):  # fmt: skip
        table.add_column(col, justify="left" if col in ("market", "side") else "right")
    for v in views:
        dec = v.market.index.decimals
        table.add_row(
            v.market.name, "long" if v.is_long else "short", _usd(v.size_usd),
            f"{_amount(v.collateral_amount, v.collateral.decimals)} {v.collateral.name}",
            _price(v.entry_price, dec), _price(v.mark_price, dec), _usd(v.pnl_usd), _usd(v.fees_usd),
            _price(v.liquidation_price, dec), f"{v.leverage:.2f}x" if v.leverage else "-",
        )  # fmt: skip
    console.print(table)
    for v in views:
        console.print(
            f"{v.market.name} {'long' if v.is_long else 'short'} 0x{v.key.hex()}: fees borrowing "
            f"${_usd(v.borrowing_fee_usd)} + funding ${_usd(v.funding_fee_usd)} + close "
            f"${_usd(v.close_fee_usd)}; liquidation price from the {v.liquidation_source}"
        )


@app.command("positions")
def positions(
    account: Annotated[str | None, typer.Argument(help="Account (default: the signer).")] = None,
    rpc: RpcOpt = None,
    config: ConfigOpt = None,
    oracle_url: OracleOpt = None,
    keystore: Keystore = None,
    key_env: KeyEnv = None,
) -> None:
    """Open positions at the oracle's prices (and journal order outcomes that settled since)."""
    trader = _trader(rpc, config, oracle_url, keystore, key_env, account=account, need_signer=False)
    settled = trader.sync()
    if settled:
        console.print(f"journaled {settled} order outcome(s) that settled since the last look")
    _show_positions(trader)


def _show_plan(plan: OrderPlan, sent: bool) -> None:
    m = plan.market
    title = f"gmx {plan.kind} ({'sent' if sent else 'simulated, not sent'})"
    table = Table(title=title, show_header=False)
    table.add_column("")
    table.add_column("", justify="right")
    if m is not None:
        dec = m.index.decimals
        table.add_row("market", f"{m.name} ({m.address})")
        table.add_row("side", "long" if plan.is_long else "short")
        if plan.collateral is not None and plan.collateral_amount:
            table.add_row("collateral", f"{_amount(plan.collateral_amount, plan.collateral.decimals)} "
                                        f"{plan.collateral.name}")  # fmt: skip
        table.add_row("size", f"${_usd(plan.size_delta_usd)}")
        if plan.leverage is not None:
            table.add_row("leverage", f"{plan.leverage:.3f}x")
        if plan.mark_price:
            table.add_row("mark", _price(plan.mark_price, dec))
        table.add_row("acceptable price", _price(plan.acceptable_price, dec))
        for role, order in plan.orders[1:]:
            table.add_row(role.replace("_", " "), f"trigger {_price(order.trigger_price, dec)}, acceptable "
                                                  f"{_price(order.acceptable_price, dec)}")  # fmt: skip
    for key in plan.cancel_keys:
        table.add_row("cancel order", "0x" + key.hex())
    if plan.orders:
        table.add_row("execution fees", f"{Decimal(plan.execution_fees) / Decimal(10**18):.8f} ETH")
    console.print(table)
    for s in plan.simulations:
        verdict = f"ok, gas {s.gas_used:,}" if s.ok else f"REVERTS: {s.error}"
        console.print(f"simulated {s.what}: {verdict}")


def _show_done(trader: GmxTrader, done: Executed) -> None:
    console.print("sent: " + ", ".join(done.tx_hashes))
    for a in done.attempts:
        o = a.outcome
        head = f"attempt {a.number}: order 0x{a.keys[0].hex()}"
        if o is None:
            console.print(f"{head} still pending (not re-sent; `defibots gmx cancel 0x{a.keys[0].hex()}`)")
        elif o.executed:
            console.print(f"{head} executed in block {o.block_number} (keeper tx {o.tx_hash})")
        else:
            console.print(f"{head} {o.name.removeprefix('Order').lower()}: {o.reason}")
        for k in a.keys[1:]:
            console.print(f"  with order 0x{k.hex()}")
    if done.alert:
        console.print(f"[bold red]{done.alert}[/bold red]")
    console.print(f"outcome: {done.status}")
    if done.status == "executed":
        _show_positions(trader)
    if done.status == "retries_exhausted":
        print(done.alert, file=sys.stderr)
        raise typer.Exit(1)


def _finish(trader: GmxTrader, plan: OrderPlan, execute: bool) -> None:
    if not execute:
        _show_plan(plan, sent=False)
        if not plan.ok:
            failed = next(s for s in plan.simulations if not s.ok)
            raise UserError(f"{failed.what} reverts in simulation: {failed.error}")
        return
    if not plan.ok:
        _show_plan(plan, sent=False)
        failed = next(s for s in plan.simulations if not s.ok)
        raise UserError(f"not sent: {failed.what} reverts in simulation: {failed.error}")
    _show_plan(plan, sent=True)
    with _progress("sending and waiting for the keeper"):
        done = trader.execute(plan)
    _show_done(trader, done)


@app.command("open")
def open_(
    market: MarketOpt,
    collateral: Annotated[str, typer.Option(help="SYMBOL:AMOUNT from the signer, e.g. USDC:1000.")],
    leverage: Annotated[str, typer.Option(help="Size / collateral, e.g. 5.")],
    long: Long = True,
    tp: Annotated[str | None, typer.Option("--tp", help="Take-profit price (USD per index token).")] = None,
    sl: Annotated[str | None, typer.Option("--sl", help="Stop-loss price (USD per index token).")] = None,
    slippage_bps: Slippage = 30,
    max_attempts: Attempts = None,
    execute: Execute = False,
    rpc: RpcOpt = None,
    config: ConfigOpt = None,
    oracle_url: OracleOpt = None,
    keystore: Keystore = None,
    key_env: KeyEnv = None,
) -> None:
    """Open (or increase) a position with a market order, optionally with a take profit and a stop loss."""
    from defibots.execution.gmx_trader import OpenRequest

    symbol, amount = symbol_amount(collateral, "USDC:1000")
    request = OpenRequest(
        market, long, symbol, amount, decimal_arg(leverage, "leverage"),
        decimal_arg(tp, "take profit") if tp is not None else None,
        decimal_arg(sl, "stop loss") if sl is not None else None, slippage_bps,
    )  # fmt: skip
    trader = _trader(rpc, config, oracle_url, keystore, key_env, max_attempts=max_attempts)
    _finish(trader, trader.plan_open(request), execute)


@app.command("close")
def close(
    market: MarketOpt,
    long: Long = True,
    collateral: Annotated[str | None, typer.Option(help="Collateral token of the position.")] = None,
    slippage_bps: Slippage = 30,
    max_attempts: Attempts = None,
    execute: Execute = False,
    rpc: RpcOpt = None,
    config: ConfigOpt = None,
    oracle_url: OracleOpt = None,
    keystore: Keystore = None,
    key_env: KeyEnv = None,
) -> None:
    """Close a whole position with a market decrease."""
    trader = _trader(rpc, config, oracle_url, keystore, key_env, max_attempts=max_attempts)
    _finish(trader, trader.plan_close(market, long, collateral, slippage_bps), execute)


@app.command("cancel")
def cancel(
    key: Annotated[str, typer.Argument(help="Order key (0x + 64 hex digits).")],
    execute: Execute = False,
    rpc: RpcOpt = None,
    config: ConfigOpt = None,
    oracle_url: OracleOpt = None,
    keystore: Keystore = None,
    key_env: KeyEnv = None,
) -> None:
    """Cancel a pending order of the signer (collateral and the whole execution fee come back)."""
    raw = key.removeprefix("0x")
    try:
        order_key = bytes.fromhex(raw)
    except ValueError:
        order_key = b""
    if len(order_key) != 32:
        raise UserError(f"order key {key!r} is not 0x + 64 hex digits")
    trader = _trader(rpc, config, oracle_url, keystore, key_env)
    _finish(trader, trader.plan_cancel(order_key), execute)
