"""`defibots aave loop open|adjust|close`: one leveraged Aave position per signer, one transaction per step.

Shadow first: each command prints the simulated result of the real transaction and sends only with
--execute (then prints what the chain did, and journals it). Close and adjust find the loop's assets in
the journal's open position.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from defibots.cli.endpoints import resolve_rpc
from defibots.cli.options import ConfigOpt, KeyEnv, Keystore, RpcOpt, decimal_arg, symbol_amount
from defibots.config import load_settings
from defibots.errors import UserError
from defibots.paths import state_dir

if TYPE_CHECKING:  # web3 and eth-account load slowly: imported when a command runs, not for --help
    from defibots.execution.loop_operator import Executed, LoopOperator, Planned

app = typer.Typer(help="Leveraged Aave loops (flash-funded, one transaction per step).", no_args_is_help=True)
console = Console()

Execute = Annotated[bool, typer.Option("--execute", help="Send the simulated transaction (default: shadow).")]
Slippage = Annotated[
    int, typer.Option("--max-slippage-bps", min=0, max=1000, help="Price move the swap may absorb.")
]
MinHf = Annotated[str, typer.Option("--min-health-factor", help="Guard: the step reverts below this HF.")]


def _operator(
    rpc: str | None, config: Path | None, keystore: Path | None, key_env: str | None
) -> LoopOperator:
    from defibots.execution.keys import key_choice, load_signer
    from defibots.execution.loop_operator import LoopOperator

    settings = load_settings(config)
    url = resolve_rpc(rpc, settings)
    chosen = key_choice(keystore, key_env, settings.keystore, settings.key_env)
    probe = LoopOperator.chain_id_of(url)
    signer = load_signer(probe, *chosen)
    journal = settings.journal_path or state_dir() / "journal.sqlite"
    return LoopOperator(url, signer, journal, settings.chain_id)


def _assets(op: LoopOperator) -> tuple[str, str]:
    from defibots.journal import Journal

    with Journal(op.journal_path) as journal:
        for p in journal.positions(chain_id=op.chain_id, status="open", protocol="aave_v3"):
            if p.key == op.client.address:
                return str(p.details["collateral"]), str(p.details["debt"])
    raise UserError(f"no open Aave loop of {op.signer.address} in {op.journal_path}: open one first")


def _fmt(amount: int, decimals: int) -> str:
    return f"{Decimal(amount) / Decimal(10) ** decimals:,.6f}"


def _show(planned: Planned, done: Executed | None) -> None:
    c, d = planned.market.collateral, planned.market.debt
    sim, step = planned.simulation, planned.step
    table = Table(title=f"aave loop {step.kind} ({'sent' if done else 'simulated, not sent'})")
    table.add_column("")
    table.add_column("before", justify="right")
    table.add_column("after (simulated)", justify="right")
    if done:
        table.add_column("after (chain)", justify="right")
    after = done.holdings if done else None
    rows = [
        (f"collateral {c.symbol}", planned.before.collateral, sim.holdings.collateral,
         after.collateral if after else 0, c.decimals),
        (f"debt {d.symbol}", planned.before.debt, sim.holdings.debt, after.debt if after else 0, d.decimals),
    ]  # fmt: skip
    for name, before, simulated, chain, decimals in rows:
        cells = [name, _fmt(before, decimals), _fmt(simulated, decimals)]
        table.add_row(*cells, *([_fmt(chain, decimals)] if done else []))
    hf = [_fmt(sim.account.health_factor, 18)] + ([_fmt(done.health_factor, 18)] if done else [])
    table.add_row("health factor", "", *hf)
    table.add_row("leverage", "", f"{planned.leverage_after:.3f}", *([""] if done else []))
    console.print(table)
    flash = c if step.kind in ("open", "boost") else d
    console.print(
        f"flash {_fmt(step.flash_amount, flash.decimals)} {flash.symbol} "
        f"(premium {_fmt(step.min_out - step.flash_amount, flash.decimals)}), swap in {step.swap_in} "
        f"-> out {step.predicted_out} (fee tier {step.swap_fee or 'V2'}), gas {sim.gas_used:,}"
    )
    if done:
        console.print("sent: " + ", ".join(r["transactionHash"].to_0x_hex() for r in done.receipts))


def _finish(op: LoopOperator, planned: Planned, execute: bool) -> None:
    done = op.execute(planned) if execute else None
    _show(planned, done)
    if done is not None and planned.step.kind == "close":
        _reconcile(op, planned)


def _reconcile(op: LoopOperator, planned: Planned) -> None:
    """What the close returned, per token, as the deposit plus the costs the journal lists for this loop's
    life (swaps, flash premiums, interest): the two sides are equal to the wei."""
    from defibots.journal import Journal

    address = op.client.address
    with Journal(op.journal_path) as journal:
        lives = [p for p in journal.positions(chain_id=op.chain_id, protocol="aave_v3") if p.key == address]
        opened = lives[0].block_number if lives else 0  # newest first: this life's opening block
        entries = [
            e for e in journal.strategy_pnl(strategy="aave_loop")
            if e.ref.endswith(address) and (e.block_number or 0) >= opened
        ]  # fmt: skip
    for asset in (planned.market.collateral, planned.market.debt):
        total = {
            k: sum(e.amount for e in entries if e.token == asset.symbol and e.kind == k) for k in COST_KINDS
        }
        if not any(total.values()):
            continue
        costs = total["swap"] + total["flash_premium"] + total["interest"]
        moved = total["returned"] + total["deposit"]
        check = "equal to the wei" if moved == costs else f"off by {moved - costs}"
        lines = ", ".join(
            f"{k} {_fmt(total[k], asset.decimals)}" for k in ("swap", "flash_premium", "interest")
        )
        console.print(
            f"{asset.symbol}: returned {_fmt(total['returned'], asset.decimals)} = deposit "
            f"{_fmt(-total['deposit'], asset.decimals)} + ({lines}); journal: {check}"
        )


COST_KINDS = ("deposit", "returned", "swap", "flash_premium", "interest")


@app.command("open")
def open_(
    collateral: Annotated[str, typer.Option(help="SYMBOL:AMOUNT supplied from the signer, e.g. WETH:10.")],
    debt: Annotated[str, typer.Option(help="Reserve borrowed, e.g. USDC.")],
    leverage: Annotated[str, typer.Option(help="Target leverage (collateral / equity).")],
    max_slippage_bps: Slippage = 30,
    min_health_factor: MinHf = "1.05",
    execute: Execute = False,
    rpc: RpcOpt = None,
    config: ConfigOpt = None,
    keystore: Keystore = None,
    key_env: KeyEnv = None,
) -> None:
    """Open a loop: supply, flash-borrow collateral, borrow the debt asset that buys it back."""
    symbol, amount = symbol_amount(collateral, "WETH:10")
    op = _operator(rpc, config, keystore, key_env)
    planned = op.plan_open(
        symbol, debt, amount, decimal_arg(leverage, "leverage"),
        decimal_arg(min_health_factor, "health factor"), max_slippage_bps,
    )  # fmt: skip
    _finish(op, planned, execute)


@app.command("adjust")
def adjust(
    leverage: Annotated[str, typer.Option(help="New target leverage.")],
    max_slippage_bps: Slippage = 30,
    min_health_factor: MinHf = "1.05",
    execute: Execute = False,
    rpc: RpcOpt = None,
    config: ConfigOpt = None,
    keystore: Keystore = None,
    key_env: KeyEnv = None,
) -> None:
    """Boost or repay the open loop to a new leverage."""
    op = _operator(rpc, config, keystore, key_env)
    c, d = _assets(op)
    planned = op.plan_adjust(
        c,
        d,
        decimal_arg(leverage, "leverage"),
        decimal_arg(min_health_factor, "health factor"),
        max_slippage_bps,
    )
    _finish(op, planned, execute)


@app.command("close")
def close(
    max_slippage_bps: Slippage = 30,
    execute: Execute = False,
    rpc: RpcOpt = None,
    config: ConfigOpt = None,
    keystore: Keystore = None,
    key_env: KeyEnv = None,
) -> None:
    """Repay all debt, withdraw all collateral, return what is left to the signer."""
    op = _operator(rpc, config, keystore, key_env)
    c, d = _assets(op)
    _finish(op, op.plan_close(c, d, max_slippage_bps), execute)
