"""Simulation on the upstream node itself: an anvil ordering its pool FIFO; its pending pool is set aside
during the simulated block and restored after."""

from __future__ import annotations

from defibots.chain.async_rpc import HttpRpc, RpcReplyError, to_int
from defibots.errors import UserError
from defibots.execution.simulation.backend import SimulationBackend
from defibots.execution.simulation.mined_block import BlockSetup
from defibots.execution.simulation.result import BundleSimulationError


class InPlaceBackend(SimulationBackend):
    """Mines on the upstream anvil at its head and reverts; leaves the node's fee recipient as it was."""

    def __init__(self, upstream_url: str) -> None:
        self.upstream_url = upstream_url

    @property
    def node_url(self) -> str:
        return self.upstream_url

    async def start(self) -> HttpRpc:
        rpc = self.rpc = HttpRpc(self.upstream_url)
        await check_fifo_anvil(rpc, self.upstream_url)
        return rpc

    async def close(self) -> None:
        if self.rpc is not None:
            await self.rpc.close()
            self.rpc = None

    async def setup(self, state_block: int | None, coinbase_override: str | None) -> BlockSetup:
        assert self.rpc is not None
        parent, node_coinbase = await self.rpc.batch(
            [("eth_getBlockByNumber", ["latest", False]), ("eth_coinbase", [])]
        )
        if state_block is not None and to_int(parent["number"]) != state_block:
            raise BundleSimulationError(
                f"node head is {to_int(parent['number'])}; in-place simulation runs on the head"
            )
        return BlockSetup(parent, restore_coinbase=str(node_coinbase), stash_pool=True)


async def check_fifo_anvil(rpc: HttpRpc, url: str) -> None:
    """In-place simulation and the local relay need an anvil that keeps arrival order in blocks."""
    try:
        info = await rpc.call("anvil_nodeInfo")
    except RpcReplyError:
        raise UserError(f"{url} is not an anvil node; simulate on a fork instead") from None
    order = str(info.get("transactionOrder", "")).lower()
    if order != "fifo":
        raise UserError(
            f"anvil at {url} orders its pool by {order or 'fees'}; bundles need FIFO order "
            "(start it with `--order fifo`, or simulate on a fork)"
        )
