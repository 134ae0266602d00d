"""Session fixtures: one mainnet replica and one Arbitrum replica (each restored from its state cache),
shared by all devnet tests and reverted to a snapshot around each test that uses `devnet` / `arb_devnet`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from defibots.devnet.node import Devnet, DevnetOptions


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
