"""`defibots devnet ...`: run the local mainnet replica (or a fork) for bots and tests."""

from __future__ import annotations

import typer

app = typer.Typer(help="Run a local devnet: the mainnet replica, or a fork of any RPC.", no_args_is_help=True)


@app.command()
def status() -> None:
    """Show the devnet this checkout started, if any."""
    typer.echo("no devnet")
