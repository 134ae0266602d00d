"""The demo's GMX leg: `run gmx_perp --execute` on the Arbitrum replica (a second anvil), next to the
mainnet jobs. Its local exchange (ETH/USDT, BTC/USDT) walks a scripted trend, the keeper's oracle follows
the exchange, and the strategy trades the SMA crossovers of the exchange's 1-second candles: each entry
with its take profit and stop loss on GMX, which the keeper fires as the trend runs on or turns.
"""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal
from pathlib import Path

from defibots.devnet.exchange import LocalExchange, MarketSpec
from defibots.devnet.gmx_service import GmxService, GmxServiceConfig
from defibots.devnet.node import Devnet, DevnetOptions
from defibots.execution.gmx_orders import GmxOrderExecutor
from defibots.foundry.accounts import dev_account
from defibots.foundry.anvil import free_port
from defibots.jobs.runner import JobConfig, StrategyJob
from defibots.journal import Journal
from defibots.strategies.gmx_perp import STRATEGY, GmxPerpSettings

ETH_START = Decimal(3000)
STEP_S = 0.25
TREND = ((48, Decimal("0.0006")), (72, Decimal("-0.0006")), (200, Decimal("0.0006")))
"""(steps, relative move per step): up 3%, down 4.2%, then up again until the demo ends."""
TRADER = 6
"""The dev account that trades (mainnet jobs use 0-5 on their own chain; this is another chain)."""


class GmxDemo:
    """Arbitrum replica, local exchange, keeper service and the gmx_perp job."""

    def __init__(self, journal: Path, seed: int = 7) -> None:
        self.devnet = Devnet.start(DevnetOptions(chain="arbitrum", port=free_port()))
        self.exchange = LocalExchange(
            None, [MarketSpec("ETH/USDT", ETH_START), MarketSpec("BTC/USDT", Decimal(60000))], seed=seed
        )
        self.journal = journal
        self.service: GmxService | None = None
        self.job: StrategyJob | None = None
        self.line = "did not finish"
        self.settings = GmxPerpSettings(
            url=self.exchange.url, timeframe="1s", fast=3, slow=8, poll_interval_s=0.25,
            collateral_usd=Decimal(5000), leverage=Decimal(5), take_profit_pct=Decimal(1),
            stop_loss_pct=Decimal("1.2"),
        )  # fmt: skip

    async def run(self, seconds: float) -> None:
        await self.exchange.start()
        self.exchange.load_history("ETH/USDT", [ETH_START] * 10, 1000)
        url = self.devnet.http_url
        self.service = GmxService(GmxServiceConfig(url, exchange_url=self.exchange.url, poll_seconds=0.25))
        self.service.start()
        config = JobConfig(
            url, self.devnet.ws_url, self.journal, shadow=False, expected_chain_id=self.devnet.chain_id,
            ws_required=False, gmx_oracle_url=self.service.url,
        )  # fmt: skip
        self.job = StrategyJob(STRATEGY, self.settings, config, dev_account(TRADER))
        drive = asyncio.create_task(self._drive())
        try:
            await self.job.run(seconds)
        finally:
            drive.cancel()
            await asyncio.gather(drive, return_exceptions=True)
        self.line = await asyncio.to_thread(self._summarize)  # while the chain is still up

    async def _drive(self) -> None:
        mid = ETH_START
        for steps, move in TREND:
            for _ in range(steps):
                await asyncio.sleep(STEP_S)
                mid = (mid * (1 + move)).quantize(Decimal("0.01"))
                self.exchange.set_mid("ETH/USDT", mid)

    async def close(self) -> None:
        if self.job is not None:
            await self.job.close()
        if self.service is not None:
            self.service.stop()
        with contextlib.suppress(Exception):
            await self.exchange.stop()
        self.devnet.stop()

    def summary(self) -> str:
        return self.line

    def _summarize(self) -> str:
        """Positions and their ends from the journal; net wallet flows per token (collateral in and out,
        execution fees less refunds, gas), which is the realized P&L."""
        assert self.job is not None
        executor = next(e for e in self.job.executors if isinstance(e, GmxOrderExecutor))
        executor.trader.sync()  # take profits and stop losses the keeper fired since the last order
        with Journal(self.journal, create=False) as journal:
            positions = journal.positions(limit=1000, protocol="gmx_v2")
            flows = journal.strategy_pnl(limit=100_000, strategy="gmx_perp")
            fired = [
                o.type for o in journal.orders(limit=10_000) if o.venue == "gmx_v2" and o.status == "filled"
            ]
        ends: dict[str, int] = {}
        for p in positions:
            ends[p.status] = ends.get(p.status, 0) + 1
        net: dict[str, Decimal] = {}
        for f in flows:
            net[f.token] = net.get(f.token, Decimal(0)) + Decimal(f.amount) / 10**f.token_decimals
        sides = ", ".join(sorted({p.side for p in positions})) or "none"
        state = ", ".join(f"{k} {v}" for k, v in sorted(ends.items())) or "none"
        pnl = ", ".join(f"{v:+,.4f} {k}" for k, v in sorted(net.items())) or "none"
        s = executor.stats
        exits = f"take profits {fired.count('take_profit')}, stop losses {fired.count('stop_loss')}"
        return (
            f"{len(positions)} positions ({sides}; {state}: {exits}); orders sent {s.sent}, skipped "
            f"{s.skipped}, refused {s.failed}; net wallet P&L {pnl} (collateral, fees, gas)"
        )
