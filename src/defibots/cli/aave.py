"""`defibots aave markets|account`: read-only views of the Aave v3 market, valued by the exact model.

Everything comes from one batched load pinned to one block (chain/aave_loader.py) and is valued with the
store's helpers, so the health factor printed is the one getUserAccountData returns at that block.
Floats appear only here, for display; the health factor prints exactly (18 decimals).
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import typer
from eth_utils import is_address, to_checksum_address
from rich.console import Console
from rich.table import Table

from defibots.chain.aave_addresses import AaveMarket, aave_v3_ethereum
from defibots.chain.rpc import JsonRpc
from defibots.cli import aave_loop
from defibots.cli.endpoints import resolve_rpc
from defibots.cli.options import ConfigOpt, RpcOpt
from defibots.config import load_settings
from defibots.errors import UserError
from defibots.protocols.aave_v3 import SECONDS_PER_YEAR
from defibots.protocols.aave_v3.math import MAX_UINT256, RAY, WAD
from defibots.state.aave import AaveReserve, AaveV3Market, account_data, liquidation_price

if TYPE_CHECKING:  # the loader pulls in eth-account (slow): imported when a command runs
    from defibots.chain.aave_loader import AaveSnapshot

app = typer.Typer(help="Aave v3: markets, accounts and leveraged loops.", no_args_is_help=True)
app.add_typer(aave_loop.app, name="loop")
console = Console()

AAVE_CHAINS = {1: "Ethereum", 31337: "devnet replica of Ethereum"}
BASE_UNIT = 10**8
"""AaveOracle's base currency: USD with 8 decimals."""


def _connect(rpc_flag: str | None, config: ConfigOpt) -> tuple[JsonRpc, AaveMarket]:
    """The RPC, checked to serve a chain with the Aave v3 Ethereum market deployed (one UserError if not)."""
    rpc = JsonRpc(resolve_rpc(rpc_flag, load_settings(config)))
    chain_id = int(rpc.call("eth_chainId"), 16)
    if chain_id not in AAVE_CHAINS:
        known = ", ".join(f"{c} ({n})" for c, n in AAVE_CHAINS.items())
        raise UserError(f"chain {chain_id} has no Aave v3 market this command knows (known: {known})")
    market = aave_v3_ethereum()
    if rpc.call("eth_getCode", market.pool, "latest") in ("0x", "0x0"):
        raise UserError(f"no Aave Pool at {market.pool} on chain {chain_id} (is this the replica?)")
    return rpc, market


def _apy(rate_ray: int) -> float:
    """A per-second-compounded APY from an APR in ray, as Aave's UI shows it."""
    return float((1 + Decimal(rate_ray) / RAY / SECONDS_PER_YEAR) ** SECONDS_PER_YEAR - 1)


def _tokens(amount: int, decimals: int) -> str:
    return f"{amount / 10**decimals:,.4f}"


def _usd(base: int) -> str:
    return f"${base / BASE_UNIT:,.2f}"


def _bps(value: int) -> str:
    return f"{value / 100:.2f}%"


def health_factor_text(hf: int) -> str:
    """Exact, as a decimal with 18 places (∞ without debt)."""
    return "∞ (no debt)" if hf == MAX_UINT256 else f"{hf // WAD}.{hf % WAD:018d}"


def _part(snapshot: AaveSnapshot, market: AaveMarket) -> AaveV3Market:
    return AaveV3Market(market.pool, snapshot.entries.items())


@app.command()
def markets(rpc: RpcOpt = None, config: ConfigOpt = None) -> None:
    """Per reserve: price, supply and borrow APY, utilization, caps, LTV / LT / bonus, totals."""
    chain, market = _connect(rpc, config)
    from defibots.chain.aave_loader import load_aave

    snapshot = load_aave(chain, market.pool, market.oracle)
    ts = snapshot.timestamp
    table = Table(title=f"Aave v3 reserves at block {snapshot.block_number}")
    for column in ("asset", "price", "supply APY", "borrow APY", "utilization", "supplied", "borrowed",
                   "supply cap", "borrow cap", "LTV", "LT", "bonus"):  # fmt: skip
        table.add_column(column, justify="left" if column == "asset" else "right")
    reserves = sorted(
        (e for e in snapshot.entries.values() if isinstance(e, AaveReserve)), key=lambda r: r.state.id
    )
    for r in reserves:
        c, s = r.state.configuration, r.state
        supplied, borrowed = s.total_a_token_supply(ts), s.total_variable_debt(ts)
        table.add_row(
            r.symbol, _usd(r.price), f"{_apy(s.current_liquidity_rate):.2%}",
            f"{_apy(s.current_variable_borrow_rate):.2%}",
            f"{borrowed / supplied:.2%}" if supplied else "-",
            _tokens(supplied, c.decimals), _tokens(borrowed, c.decimals),
            f"{c.supply_cap:,}" if c.supply_cap else "none", f"{c.borrow_cap:,}" if c.borrow_cap else "none",
            _bps(c.ltv), _bps(c.liquidation_threshold), _bps(c.liquidation_bonus - 10_000),
        )  # fmt: skip
    console.print(table)


@app.command()
def account(
    address: Annotated[
        str | None, typer.Argument(help="Account (default: devnet account 0 on the replica).")
    ] = None,
    rpc: RpcOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Collateral, debt, health factor, available borrows, each position and its liquidation price."""
    if address is not None and not is_address(address):
        raise UserError(f"{address!r} is not an address")
    chain, market = _connect(rpc, config)
    if address is None:
        if int(chain.call("eth_chainId"), 16) != 31337:
            raise UserError("pass the account's address (a default exists only on the devnet)")
        address = str(chain.call("eth_accounts")[0])
    user = to_checksum_address(address)
    from defibots.chain.aave_loader import load_aave

    snapshot = load_aave(chain, market.pool, market.oracle, [user])
    part, ts = _part(snapshot, market), snapshot.timestamp
    data = account_data(part, user, ts)
    holder = part.account(user)
    e_mode = part.e_mode(holder.e_mode) if holder else None
    console.print(f"[bold]{user}[/bold] at block {snapshot.block_number}")
    console.print(f"collateral      {_usd(data.total_collateral_base)}")
    console.print(f"debt            {_usd(data.total_debt_base)}")
    console.print(f"available       {_usd(data.available_borrows_base)}")
    console.print(f"LTV / LT        {_bps(data.ltv)} / {_bps(data.current_liquidation_threshold)}")
    console.print(f"e-mode          {e_mode.label if e_mode else 'none'}")
    console.print(f"health factor   {health_factor_text(data.health_factor)}")
    if holder is None or not holder.positions:
        console.print("no positions")
        return
    table = Table()
    for column in ("asset", "supplied", "collateral", "debt", "price", "liquidation price"):
        table.add_column(column, justify="left" if column == "asset" else "right")
    for asset, position in holder.positions:
        r = part.reserve(asset)
        decimals = r.state.configuration.decimals
        supplied = r.state.normalized_income(ts) * position.scaled_a_token // RAY
        debt = -(-r.state.normalized_debt(ts) * position.scaled_debt // RAY)
        liq = liquidation_price(part, user, asset, ts)
        table.add_row(
            r.symbol, _tokens(supplied, decimals), "yes" if position.collateral else "no",
            _tokens(debt, decimals), _usd(r.price), _usd(liq) if liq is not None else "-",
        )  # fmt: skip
    console.print(table)
