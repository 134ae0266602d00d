"""Entry point: registers the command groups and turns UserErrors into one line + non-zero exit."""

from __future__ import annotations

import sys

import typer

from defibots.cli import aave, backrun, bundle, demo, devnet, history, watch
from defibots.cli import deploy as deploy_cli
from defibots.cli import run as run_cli
from defibots.errors import UserError

app = typer.Typer(
    name="defibots",
    help="DeFi and MEV bot toolkit: mainnet-replica devnet, exact models, executor, bundles.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(devnet.app, name="devnet")
app.add_typer(history.app, name="history")
app.add_typer(bundle.app, name="bundle")
app.add_typer(deploy_cli.app, name="deploy")
app.add_typer(aave.app, name="aave")
watch.app.command(name="backrun")(backrun.backrun)
app.add_typer(watch.app, name="watch")
app.command(name="demo")(demo.demo)
app.command(name="run")(run_cli.run)
app.command(name="strategies")(run_cli.strategies)


def run() -> None:
    try:
        app()
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    run()
