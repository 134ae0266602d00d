"""Command-line options several commands share, declared once so their flags and help read the same."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated

import typer

from defibots.errors import UserError

RpcOpt = Annotated[
    str | None, typer.Option("--rpc", help="Node RPC (default: rpc_url, else the running devnet).")
]
ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="defibots.toml to read (default ./defibots.toml).")
]
Keystore = Annotated[Path | None, typer.Option(help="Signer keystore (non-devnet chains).")]
KeyEnv = Annotated[str | None, typer.Option(help="Env var holding the signer key.")]


def decimal_arg(text: str, what: str) -> Decimal:
    """A number given on the command line, exactly; anything else is one error line."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise UserError(f"{what} {text!r} is not a number") from None
    if not value.is_finite():
        raise UserError(f"{what} {text!r} is not a number")
    return value


def symbol_amount(text: str, example: str) -> tuple[str, Decimal]:
    """`SYMBOL:AMOUNT` (e.g. `USDC:1000`), as --collateral takes it."""
    symbol, _, amount = text.partition(":")
    if not amount:
        raise UserError(f"--collateral {text!r}: give SYMBOL:AMOUNT, e.g. {example}")
    return symbol, decimal_arg(amount, "collateral amount")
