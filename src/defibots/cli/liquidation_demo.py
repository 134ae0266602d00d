"""The demo's liquidation race: `watch liquidations --execute` on a private fork of the replica whose
blocks the local relay builds (12-s slots, one a second of wall-clock time). The devnet dips the WETH feed
through signed updates left in the mempool, and a rival paying a larger tip races one seeded borrower.

A fork, because in relay mode anvil mines only when the relay builds a block, while the demo's other jobs
use the replica's automine.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from eth_account import Account
from web3 import HTTPProvider, Web3

from defibots.chain.addresses import TOKENS
from defibots.chain.rpc import JsonRpc
from defibots.devnet.aave_replica import seeded_address, send_price_update
from defibots.devnet.relay import LocalRelay
from defibots.devnet.rival import RivalLiquidator, Target
from defibots.execution.liquidator import LiquidatorClient
from defibots.foundry.accounts import dev_accounts
from defibots.foundry.anvil import AnvilConfig, AnvilNode
from defibots.jobs.liquidation_watch import LiquidationWatchConfig, LiquidationWatcher
from defibots.strategies.liquidations import LiquidationParams

SLOT_SECONDS = 12


class LiquidationDemo:
    """Fork, Liquidator (dev account 3), rival (dev account 4, on seeded borrower 1), relay and watcher."""

    def __init__(
        self, replica_url: str, journal: Path, dips: int = 8, dip_bps: int = 150, first_dip_block: int = 3
    ) -> None:
        self.dips, self.dip_bps, self.first_dip_block = dips, dip_bps, first_dip_block
        self.node = AnvilNode(AnvilConfig(fork_url=replica_url)).start()
        try:
            url = self.node.http_url
            searcher, rival = dev_accounts(5)[3], dev_accounts(5)[4]
            self.liquidator = LiquidatorClient.deploy(Web3(HTTPProvider(url)), searcher)
            fund = {"from": searcher.address, "to": self.liquidator.address, "value": hex(5 * 10**18)}
            JsonRpc(url).call("eth_sendTransaction", fund)
            self.relay = LocalRelay(url, block_time=1.0, slot_seconds=SLOT_SECONDS)
            weth, dai = TOKENS["WETH"].address, TOKENS["DAI"].address
            target = Target(seeded_address("borrower", 1), weth, dai)  # 50 WETH against DAI at HF 1.1
            self.rival = RivalLiquidator(url, self.relay.url, rival, [target], tip_gwei=50_000)
            self.rival.approve()
            config = LiquidationWatchConfig(
                rpc_url=url, ws_url=self.node.ws_url, liquidator=self.liquidator.address,
                journal_path=journal, relay_urls=(self.relay.url,),
                params=LiquidationParams(weth=weth, block_time=SLOT_SECONDS), shadow=False,
            )  # fmt: skip
            self.watcher = LiquidationWatcher(config, searcher, Account.create())
        except BaseException:
            self.node.stop()
            raise
        self.dipped = 0

    async def run(self, seconds: float) -> None:
        await self.relay.start()
        side = [asyncio.create_task(self.rival.run()), asyncio.create_task(self._dip())]
        try:
            await self.watcher.run(seconds)
        finally:
            for task in side:
                task.cancel()
            await asyncio.gather(*side, return_exceptions=True)

    async def _dip(self) -> None:
        """One WETH feed update every other block from `first_dip_block` on, each `dip_bps` lower, left in
        the mempool for the relay's next block (the watcher sees it pending)."""
        price = self.watcher.aave.reserve(TOKENS["WETH"].address).price
        start = self.watcher.strategy.head.number
        while self.dipped < self.dips:
            await asyncio.sleep(0.2)
            head = self.watcher.strategy.head.number
            if head - start < self.first_dip_block + 2 * self.dipped:
                continue
            await asyncio.sleep(0.3)  # mid-slot
            price = price * (10_000 - self.dip_bps) // 10_000
            await asyncio.to_thread(send_price_update, self.node.http_url, "WETH", price)
            self.dipped += 1

    async def close(self) -> None:
        await self.watcher.close()
        with contextlib.suppress(Exception):
            await self.relay.stop()
        self.node.stop()

    def summary(self) -> str:
        rival = self.rival.stats
        return f"{self.watcher.summary()}; {self.dipped} WETH dips, rival bundles {rival.bundles}"
