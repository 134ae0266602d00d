"""The devnet's rival liquidator: it races ours for the same borrowers, as other searchers do on mainnet.

On each pending feed update it waits `delay_s`, then sends the relay a bundle [the update, a plain
`liquidationCall` of each borrower it watches] for the next block, paying the builder through its priority
fee (`tip_gwei` per gas). It does not check the liquidations first: the relay drops a bundle whose
liquidation reverts (a healthy borrower), as real builders do.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from contextlib import aclosing
from dataclasses import dataclass, field

from eth_account.signers.local import LocalAccount

from defibots.chain.aave_addresses import aave_v3_ethereum
from defibots.chain.async_rpc import HttpRpc, to_int
from defibots.chain.calldata import calldata
from defibots.chain.mempool import MempoolWatcher
from defibots.chain.price_updates import DecodedUpdate, PriceUpdateDecoder
from defibots.devnet.aave_params import RESERVE_ORDER
from defibots.devnet.aave_replica import feed_aggregator
from defibots.execution.bundles import Bundle, FeeDefaults, SignedTx, TxRequest, sign_request
from defibots.execution.liquidation_bundles import LIQUIDATION_CALL_SIGNATURE
from defibots.execution.relay_client import RelayClient
from defibots.foundry.anvil import rpc_call
from defibots.protocols.liquidation_plan import MAX_UINT256

LIQUIDATION_GAS = 700_000


@dataclass(frozen=True)
class Target:
    user: str
    collateral: str
    debt: str


@dataclass
class RivalStats:
    updates: int = 0
    bundles: int = 0
    sent: list[str] = field(default_factory=list)
    """Hashes of the rival's liquidation transactions."""


class RivalLiquidator:
    def __init__(
        self,
        node_url: str,
        relay_url: str,
        account: LocalAccount,
        targets: Sequence[Target],
        delay_s: float = 0.0,
        tip_gwei: int = 100,
    ) -> None:
        self.node_url, self.relay_url, self.account = node_url, relay_url, account
        self.targets = tuple(targets)
        self.delay_s, self.tip = delay_s, tip_gwei * 10**9
        self.stats = RivalStats()
        market = aave_v3_ethereum()
        self.pool = market.pool
        self.feeds = [feed_aggregator(symbol) for symbol in RESERVE_ORDER]

    def approve(self) -> None:
        """Let the Pool pull the debt assets (sent from the unlocked dev account; needs a mining devnet)."""
        for debt in sorted({t.debt for t in self.targets}):
            data = calldata("approve(address,uint256)", self.pool, MAX_UINT256)
            rpc_call(
                self.node_url,
                "eth_sendTransaction",
                [{"from": self.account.address, "to": debt, "data": data}],
            )

    async def run(self) -> None:
        """Race every pending update until cancelled."""
        watcher: MempoolWatcher[DecodedUpdate] = MempoolWatcher(
            None, self.node_url, poll_interval=0.02, decoder=PriceUpdateDecoder(self.feeds)
        )
        async with HttpRpc(self.node_url) as node, aclosing(watcher.swaps()) as updates:
            relay = RelayClient(self.relay_url, self.account)
            try:
                async for update in updates:
                    self.stats.updates += 1
                    if update.raw is None:
                        continue
                    await asyncio.sleep(self.delay_s)
                    with contextlib.suppress(Exception):  # a rival that fails only loses the race
                        await self._race(node, relay, update.raw)
            finally:
                await relay.close()

    async def _race(self, node: HttpRpc, relay: RelayClient, update: bytes) -> None:
        head = await node.call("eth_getBlockByNumber", ["latest", False])
        nonce = to_int(await node.call("eth_getTransactionCount", [self.account.address, "latest"]))
        chain_id = to_int(await node.call("eth_chainId", []))
        fees = FeeDefaults(base_fee=to_int(head.get("baseFeePerGas") or 0), priority_fee=self.tip)
        signature = LIQUIDATION_CALL_SIGNATURE
        txs = [SignedTx.decode(update)]
        for i, t in enumerate(self.targets):
            data = bytes.fromhex(calldata(signature, t.collateral, t.debt, t.user, MAX_UINT256, False)[2:])
            request = TxRequest(to=self.pool, data=data)
            txs.append(sign_request(self.account, request, chain_id, nonce + i, LIQUIDATION_GAS, fees))
        await relay.send_bundle(Bundle(tuple(txs), to_int(head["number"]) + 1))
        self.stats.bundles += 1
        self.stats.sent += [tx.hash_hex for tx in txs[1:]]
