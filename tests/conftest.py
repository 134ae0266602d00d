"""Session fixtures: one mainnet replica (restored from the state cache) shared by all devnet tests,
reverted to a snapshot around each test that uses `devnet`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from defibots.devnet.node import Devnet, DevnetOptions


@pytest.fixture(scope="session")
def replica() -> Iterator[Devnet]:
    with Devnet.start(DevnetOptions()) as node:
        yield node


@pytest.fixture
def devnet(replica: Devnet) -> Iterator[Devnet]:
    snap = replica.snapshot()
    try:
        yield replica
    finally:
        replica.revert(snap)
