"""Command-line options several commands share, declared once so their flags and help read the same."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

RpcOpt = Annotated[
    str | None, typer.Option("--rpc", help="Node RPC (default: rpc_url, else the running devnet).")
]
ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="defibots.toml to read (default ./defibots.toml).")
]
