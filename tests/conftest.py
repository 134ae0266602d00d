"""Session fixtures: one mainnet replica and one Arbitrum replica (each restored from its state cache),
shared by all devnet tests and reverted to a snapshot around each test that uses `devnet` / `arb_devnet`."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from defibots.devnet.node import Devnet, DevnetOptions

# pytest-xdist starts its workers with COLUMNS=80, and a rich Console made at import time keeps the width it
# saw then; without it, the CLI's consoles follow the COLUMNS each test's CliRunner sets.
os.environ.pop("COLUMNS", None)
os.environ.pop("LINES", None)


def _reverted(node: Devnet) -> Iterator[Devnet]:
    snap = node.snapshot()
    try:
        yield node
    finally:
        node.revert(snap)


@pytest.fixture(scope="session")
def replica() -> Iterator[Devnet]:
    with Devnet.start(DevnetOptions()) as node:
        yield node


@pytest.fixture
def devnet(replica: Devnet) -> Iterator[Devnet]:
    yield from _reverted(replica)


@pytest.fixture(scope="session")
def arbitrum() -> Iterator[Devnet]:
    """The Arbitrum replica with the GMX stand-in (built on the first run, then restored from its cache)."""
    with Devnet.start(DevnetOptions(chain="arbitrum")) as node:
        yield node


@pytest.fixture
def arb_devnet(arbitrum: Devnet) -> Iterator[Devnet]:
    yield from _reverted(arbitrum)
