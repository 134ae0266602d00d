"""The interface of a simulation backend: the node a bundle's block is mined on, and how it is set up."""

from __future__ import annotations

from abc import ABC, abstractmethod

from defibots.chain.async_rpc import HttpRpc
from defibots.execution.simulation.mined_block import BlockSetup


class SimulationBackend(ABC):
    """A node the simulator may mine on and revert; `rpc` is None until `start`."""

    rpc: HttpRpc | None = None

    @property
    @abstractmethod
    def node_url(self) -> str:
        """HTTP URL of the node blocks are mined on."""

    @abstractmethod
    async def start(self) -> HttpRpc:
        """Start or check the node; returns the connection to mine on (also kept in `rpc`)."""

    @abstractmethod
    async def close(self) -> None: ...

    async def prepare(self, state_block: int | None) -> None:
        """Get ready to simulate on `state_block` ahead of time (default: nothing to do)."""
        return None

    @abstractmethod
    async def setup(self, state_block: int | None, coinbase_override: str | None) -> BlockSetup:
        """Bring the node to `state_block` (None: the head) and say how the next block must be mined."""
