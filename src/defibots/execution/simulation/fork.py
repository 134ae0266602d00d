"""Simulation on a private anvil fork of the upstream RPC, so other clients never see simulated blocks."""

from __future__ import annotations

import asyncio
from pathlib import Path

from defibots.chain.async_rpc import HttpRpc, to_int
from defibots.execution.simulation.backend import SimulationBackend
from defibots.execution.simulation.mined_block import BlockSetup
from defibots.execution.simulation.result import BundleSimulationError
from defibots.foundry.anvil import AnvilConfig, AnvilNode


class ForkBackend(SimulationBackend):
    """A private `anvil --fork-url <upstream> --order fifo --no-mining`, re-pointed (anvil_reset) whenever
    the state block changes."""

    def __init__(self, upstream: HttpRpc, upstream_url: str, coinbase: str, log_path: Path | None) -> None:
        self.upstream = upstream
        self.upstream_url = upstream_url
        self.coinbase = coinbase
        self.log_path = log_path
        self._node: AnvilNode | None = None
        self._fork_at: tuple[int, str] | None = None

    @property
    def node_url(self) -> str:
        if self._node is not None:
            return self._node.http_url
        return self.upstream_url

    async def start(self) -> HttpRpc:
        head = to_int(await self.upstream.call("eth_blockNumber"))
        config = AnvilConfig(fork_url=self.upstream_url, fork_block=head, extra_args=["--no-mining"])
        node = AnvilNode(config, self.log_path)
        await asyncio.to_thread(node.start, 60.0)
        self._node = node
        rpc = self.rpc = HttpRpc(node.http_url)
        block = await rpc.call("eth_getBlockByNumber", ["latest", False])
        self._fork_at = (to_int(block["number"]), block["hash"])
        await rpc.call("anvil_setCoinbase", [self.coinbase])
        return rpc

    async def close(self) -> None:
        if self.rpc is not None:
            await self.rpc.close()
            self.rpc = None
        if self._node is not None:
            await asyncio.to_thread(self._node.stop)
            self._node = None

    async def prepare(self, state_block: int | None) -> None:
        await self._point_at(state_block)

    async def setup(self, state_block: int | None, coinbase_override: str | None) -> BlockSetup:
        next_base_fee = await self._point_at(state_block)
        assert self.rpc is not None
        parent = await self.rpc.call("eth_getBlockByNumber", ["latest", False])
        restore = self.coinbase if coinbase_override else None
        return BlockSetup(parent, restore, stash_pool=False, next_base_fee=next_base_fee)

    async def _point_at(self, state_block: int | None) -> int | None:
        """Point the private fork at the wanted upstream block unless it is there already.

        Returns the upstream's own base fee for the next block when simulating on its head: anvil's
        next base fee is not always the EIP-1559 formula (right after genesis, or after
        anvil_setNextBlockBaseFeePerGas), and the fork must use the value the upstream will use.
        """
        rpc = self.rpc
        assert rpc is not None
        latest, pending = await self.upstream.batch(
            [("eth_getBlockByNumber", ["latest", False]), ("eth_getBlockByNumber", ["pending", False])]
        )
        head = to_int(latest["number"])
        number = state_block if state_block is not None else head
        block = (
            latest
            if number == head
            else await self.upstream.call("eth_getBlockByNumber", [hex(number), False])
        )
        if block is None:
            raise BundleSimulationError(f"state block {number} not found at {self.upstream_url}")
        if self._fork_at != (number, block["hash"]):
            await rpc.call(
                "anvil_reset", [{"forking": {"jsonRpcUrl": self.upstream_url, "blockNumber": number}}]
            )
            await rpc.call("evm_setAutomine", [False])
            await rpc.call("anvil_setCoinbase", [self.coinbase])
            self._fork_at = (number, block["hash"])
        if number == head and isinstance(pending, dict) and pending.get("baseFeePerGas"):
            return to_int(pending["baseFeePerGas"])
        return None
