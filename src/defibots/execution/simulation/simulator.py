"""`AnvilSimulator`: bundle simulation by really mining the block on an anvil node, then reverting it.

By default the node is a private fork of the user's RPC (or of the devnet) that the simulator starts
(`fork.py`), so simulations never show other clients a block that later disappears; `fork=False` mines
on the upstream anvil itself (`in_place.py`). Both run the same procedure (`mined_block.py`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from eth_utils import to_checksum_address

from defibots.chain.async_rpc import HttpRpc
from defibots.execution.bundles import Bundle
from defibots.execution.simulation.backend import SimulationBackend
from defibots.execution.simulation.fork import ForkBackend
from defibots.execution.simulation.in_place import InPlaceBackend
from defibots.execution.simulation.mined_block import BUILDER_COINBASE, mine_and_revert
from defibots.execution.simulation.result import SimulationResult


class BundleSimulator(Protocol):
    """What an executor needs of a simulator: `AnvilSimulator` (mines on a node it may revert) or
    `SimulateV1Simulator` (eth_simulateV1 on the node itself)."""

    coinbase: str
    backend_name: str
    """The journal's name for it: "anvil_bundle" or "eth_simulateV1"."""
    needs_warming: bool
    """Whether `prepare` / `warm` ahead of a bundle save it time (a private fork fetches state lazily)."""

    @property
    def node_url(self) -> str: ...

    async def start(self) -> BundleSimulator: ...

    async def close(self) -> None: ...

    async def __aenter__(self) -> BundleSimulator: ...

    async def __aexit__(self, *exc: object) -> None: ...

    async def prepare(self, state_block: int | None = None) -> None: ...

    async def warm(self, calls: Sequence[tuple[str, list[Any]]]) -> None: ...

    async def simulate(
        self,
        bundle: Bundle,
        state_block: int | None = None,
        timestamp: int | None = None,
        watch: Sequence[str] = (),
        coinbase: str | None = None,
        trace: bool = True,
    ) -> SimulationResult: ...


class AnvilSimulator:
    """Simulates bundles on an anvil node it may mine on and revert.

    fork=True (default): start a private `anvil --fork-url <upstream> --order fifo --no-mining` and
    re-point it (anvil_reset) whenever the state block changes. fork=False: use the upstream node itself,
    which must be an anvil ordering its pool FIFO; its pending pool is set aside and restored.
    """

    def __init__(
        self,
        upstream_url: str,
        fork: bool = True,
        coinbase: str = BUILDER_COINBASE,
        log_path: Path | None = None,
    ) -> None:
        self.upstream_url = upstream_url
        self.fork = fork
        self.coinbase = str(to_checksum_address(coinbase))
        self.log_path = log_path
        self.upstream = HttpRpc(upstream_url)
        self.backend: SimulationBackend = (
            ForkBackend(self.upstream, upstream_url, self.coinbase, log_path)
            if fork
            else InPlaceBackend(upstream_url)
        )
        self._lock = asyncio.Lock()
        self.backend_name = "anvil_bundle"
        self.needs_warming = fork

    @property
    def node_url(self) -> str:
        return self.backend.node_url

    async def start(self) -> AnvilSimulator:
        if self.backend.rpc is None:
            await self.backend.start()
        return self

    async def close(self) -> None:
        await self.backend.close()
        await self.upstream.close()

    async def __aenter__(self) -> AnvilSimulator:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def prepare(self, state_block: int | None = None) -> None:
        """Point the private fork at `state_block` (default: the upstream head) now, so the next simulate
        on that block does not pay for the reset. A no-op for in-place simulation."""
        await self.start()
        async with self._lock:
            await self.backend.prepare(state_block)

    async def warm(self, calls: Sequence[tuple[str, list[Any]]]) -> None:
        """Run read-only calls on the simulation node so what they touch is cached there (see warmup.py);
        replies, errors included, are ignored."""
        await self.start()
        rpc = self.backend.rpc
        assert rpc is not None
        async with self._lock:
            await rpc.batch_replies(list(calls))

    async def simulate(
        self,
        bundle: Bundle,
        state_block: int | None = None,
        timestamp: int | None = None,
        watch: Sequence[str] = (),
        coinbase: str | None = None,
        trace: bool = True,
    ) -> SimulationResult:
        """Run the bundle at the top of the block after `state_block` (default: the latest block).

        timestamp defaults to the parent's + 1 (as eth_callBundle). Raises BundleSimulationError when a
        transaction cannot be executed at all; reverts are results. trace=False: see mine_and_revert.
        """
        await self.start()
        rpc = self.backend.rpc
        assert rpc is not None
        async with self._lock:
            setup = await self.backend.setup(state_block, coinbase)
            return await mine_and_revert(
                rpc, bundle, setup, timestamp, watch, coinbase or self.coinbase, trace
            )
