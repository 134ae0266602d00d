"""The public-transaction executor for arbitrage: route -> simulate (eth_call) -> send -> receipt -> P&L.

Nothing is sent unless the on-chain simulation returns exactly the profit the models predicted: a
mismatch means the models are behind the chain (more logs of the block to come, or a competing trade),
so the opportunity is dropped and journaled as stale, not sent on a hope. Every step is journaled.
Blocking web3 calls run in a worker thread; the journal is only touched from the event loop.
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass, field

from eth_abi import decode as abi_decode
from eth_typing import HexStr
from web3 import Web3

from defibots.chain.addresses import TOKENS
from defibots.chain.calldata import calldata
from defibots.engine import Action, Executor
from defibots.execution.executor_client import ExecutorClient, ExecutorRevert
from defibots.execution.route import Funding, Hop, Route
from defibots.journal import Journal, Pnl, Receipt, Send, Simulation
from defibots.journal import Opportunity as OpportunityRecord
from defibots.strategies.amm_arb import ArbAction, Opportunity

V2_FEE_PER_10K = 9970
TOKENS_BY_ADDRESS = {t.address.lower(): t for t in TOKENS.values()}


def route_for(opp: Opportunity, min_profit: int) -> Route:
    """The executor route for an opportunity, funded by a flash swap from its first pool."""
    hops = tuple(
        Hop.v2(h.pool, h.token_out, V2_FEE_PER_10K)
        if h.protocol == "v2"
        else Hop.v3(h.pool, h.token_out, h.fee)
        for h in opp.cycle.hops
    )
    funding = Funding.V2_FLASH_SWAP if opp.cycle.hops[0].protocol == "v2" else Funding.V3_FLASH_SWAP
    token_in = Web3.to_checksum_address(opp.cycle.base)
    return Route(
        token_in=token_in, amount_in=opp.amount_in, hops=hops, funding=funding, min_profit=min_profit
    )


def describe(opp: Opportunity) -> str:
    symbols: dict[str, str] = {t.address: t.symbol for t in TOKENS.values()}
    return opp.cycle.describe(symbols)


@dataclass
class ExecutorStats:
    simulated: int = 0
    stale: int = 0
    sent: int = 0
    included: int = 0
    reverted: int = 0
    skipped_busy: int = 0
    realized_profit: int = 0
    gas_cost: int = 0
    last_error: str = ""
    recent: list[str] = field(default_factory=list)


class PublicTxExecutor(Executor):
    def __init__(
        self,
        client: ExecutorClient,
        journal: Journal,
        chain_id: int,
        shadow: bool = True,
        min_net_profit: int = 0,
    ) -> None:
        self.client = client
        self.journal = journal
        self.chain_id = chain_id
        self.shadow = shadow
        self.min_net_profit = min_net_profit
        self.stats = ExecutorStats()

    @property
    def name(self) -> str:
        return "public_tx"

    def accepts(self, action: Action) -> bool:
        return isinstance(action, ArbAction)

    async def execute(self, action: Action) -> None:
        assert isinstance(action, ArbAction)
        opp = action.opportunity
        base = TOKENS_BY_ADDRESS.get(opp.cycle.base.lower())
        opp_id = self.journal.record_opportunity(
            OpportunityRecord(
                chain_id=self.chain_id,
                block_number=opp.block_number,
                strategy=action.strategy or "amm_arb",
                route=describe(opp),
                base_token=base.symbol if base else opp.cycle.base,
                base_decimals=base.decimals if base else 18,
                amount_in=opp.amount_in,
                expected_profit=opp.net_profit,
                details={
                    "gross_profit": str(opp.gross_profit),
                    "gas": opp.gas,
                    "gas_cost": str(opp.gas_cost),
                },
            )
        )
        route = route_for(opp, min_profit=max(1, opp.gas_cost + self.min_net_profit))
        try:
            sim = await asyncio.to_thread(self.client.simulate, route)
        except ExecutorRevert as exc:
            action.stamps.mark("simulated")
            self.stats.stale += 1
            self._record_sim(opp, opp_id, False, 0, 0, f"revert: {exc}")
            return
        action.stamps.mark("simulated")
        self.stats.simulated += 1
        if sim.profit != opp.gross_profit:
            self.stats.stale += 1
            self._record_sim(
                opp, opp_id, False, sim.gas, sim.profit, "stale: chain profit differs from model"
            )
            return
        self._record_sim(opp, opp_id, True, sim.gas, sim.profit, None)
        if self.shadow:
            return
        await self._send(action, opp, opp_id, route)

    def _record_sim(
        self, opp: Opportunity, opp_id: int, ok: bool, gas: int, profit: int, error: str | None
    ) -> None:
        self.journal.record_simulation(
            Simulation(
                chain_id=self.chain_id,
                block_number=opp.block_number,
                backend="eth_call",
                success=ok,
                gas_used=gas,
                profit=profit,
                opportunity_id=opp_id,
                error=error,
            )
        )

    async def _send(self, action: ArbAction, opp: Opportunity, opp_id: int, route: Route) -> None:
        token = opp.cycle.base
        before_block = await asyncio.to_thread(lambda: self.client.w3.eth.block_number)
        try:
            # with an access list when it lowers the estimate (~1.7k gas on a 2-hop route)
            receipt = await asyncio.to_thread(
                functools.partial(self.client.execute, route, use_access_list=True)
            )
        except ExecutorRevert as exc:
            self.stats.reverted += 1
            self.stats.last_error = str(exc)
            self.journal.record_send(
                Send(
                    chain_id=self.chain_id,
                    block_number=before_block + 1,
                    kind="public_tx",
                    ident=exc.tx_hash or "",
                    opportunity_id=opp_id,
                )
            )
            return
        action.stamps.mark("sent")
        tx_hash = receipt["transactionHash"].to_0x_hex()
        block = int(receipt["blockNumber"])
        send_id = self.journal.record_send(
            Send(
                chain_id=self.chain_id,
                block_number=block,
                kind="public_tx",
                ident=tx_hash,
                opportunity_id=opp_id,
                tx_hashes=(tx_hash,),
            )
        )
        gas_used, price = int(receipt["gasUsed"]), int(receipt["effectiveGasPrice"])
        self.journal.record_receipt(
            Receipt(
                chain_id=self.chain_id,
                block_number=block,
                tx_hash=tx_hash,
                status=int(receipt["status"]),
                gas_used=gas_used,
                effective_gas_price=price,
                send_id=send_id,
            )
        )
        realized = await asyncio.to_thread(self._balance_change, token, block)
        gas_cost = gas_used * price
        self.stats.sent += 1
        self.stats.included += 1
        self.stats.realized_profit += realized
        self.stats.gas_cost += gas_cost
        base = TOKENS_BY_ADDRESS.get(token.lower())
        self.journal.record_pnl(
            Pnl(
                chain_id=self.chain_id,
                block_number=block,
                status="included",
                base_token=base.symbol if base else token,
                base_decimals=base.decimals if base else 18,
                gross_profit=realized,
                gas_cost=gas_cost,
                builder_payment=0,
                net_profit=realized - gas_cost,
                send_id=send_id,
            )
        )
        self.stats.recent = [
            *self.stats.recent[-4:],
            f"{describe(opp)} +{realized} (predicted {opp.gross_profit})",
        ]

    def _balance_change(self, token: str, block: int) -> int:
        """The executor's realized profit: its token balance across the inclusion block."""

        def balance(at: int) -> int:
            data = calldata("balanceOf(address)", self.client.address)
            raw = self.client.w3.eth.call({"to": Web3.to_checksum_address(token), "data": HexStr(data)}, at)
            return int(abi_decode(["uint256"], bytes(raw))[0])

        return balance(block) - balance(block - 1)
