"""Entry point: registers the command groups and turns UserErrors into one line + non-zero exit.

`defibots devnet ...` builds only its own group: it is what scripts and CI start first, and the other
groups import web3 and eth-account (seconds on a small machine) that starting a node never needs.
"""

from __future__ import annotations

import sys
from functools import cache

import typer

from defibots.cli import devnet
from defibots.errors import UserError


def _root() -> typer.Typer:
    root = typer.Typer(
        name="defibots",
        help="DeFi and MEV bot toolkit: mainnet-replica devnet, exact models, executor, bundles.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )
    root.add_typer(devnet.app, name="devnet")
    return root


@cache
def full_app() -> typer.Typer:
    from defibots.cli import aave, backrun, bundle, cex, demo, gmx, history, liquidations, watch
    from defibots.cli import deploy as deploy_cli
    from defibots.cli import run as run_cli

    root = _root()
    root.add_typer(cex.app, name="cex")
    root.add_typer(history.app, name="history")
    root.add_typer(bundle.app, name="bundle")
    root.add_typer(deploy_cli.app, name="deploy")
    root.add_typer(aave.app, name="aave")
    root.add_typer(gmx.app, name="gmx")
    watch.app.command(name="backrun")(backrun.backrun)
    watch.app.command(name="liquidations")(liquidations.liquidations)
    deploy_cli.app.command(name="liquidator")(liquidations.deploy_liquidator)
    root.add_typer(watch.app, name="watch")
    root.command(name="demo")(demo.demo)
    root.command(name="run")(run_cli.run)
    root.command(name="strategies")(run_cli.strategies)
    return root


def __getattr__(name: str) -> typer.Typer:
    """`from defibots.cli.main import app`: the full command tree (built on first use)."""
    if name == "app":
        return full_app()
    raise AttributeError(name)


def run() -> None:
    try:
        (_root() if sys.argv[1:2] == ["devnet"] else full_app())()
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    run()
