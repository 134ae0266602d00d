"""The bundle executor for backruns: route -> sign -> simulate [victim, ours] -> send to relays -> track.

Nothing is sent unless the bundle simulation (a real block mined on a private fork, execution/simulation.py)
shows the victim succeeding first and our transaction succeeding right after it with exactly the profit
and builder payment the models predicted: a mismatch means the models are behind the chain, and the
opportunity is journaled as stale instead of sent on a hope.

Our transaction calls Executor.execute with a flash-swap-funded route that pays `builder_share_bps` of
the gross WETH profit to block.coinbase (Payment.PROFIT_BPS: the contract unwraps and sends
gross * bps // 10_000 wei). Its priority fee defaults to 0: the builder is paid by that share, which also
makes the coinbase transfer the whole of what our transaction gives the builder.

Journal: opportunity, simulation, send (kind "bundle"), our receipt, and P&L (gross = the executor's
WETH gain + the builder payment; net = gross - gas - builder payment) once the target blocks are known.
Inclusion is followed in background tasks so the next pending swap is not kept waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from defibots.actions import BackrunBundleAction, BundlePrepare
from defibots.chain.addresses import TOKENS
from defibots.chain.async_rpc import HttpRpc, RpcReplyError, to_int
from defibots.chain.calldata import calldata
from defibots.engine import Action, Capability, Executor
from defibots.execution.bundles import (
    Bundle,
    BundleFormatError,
    FeeDefaults,
    SignedTx,
    TxRequest,
    sign_request,
)
from defibots.execution.executor_client import ExecutorClient
from defibots.execution.inclusion import InclusionResult, InclusionStatus, InclusionTracker, StageTimes
from defibots.execution.nonce import BlockNonce
from defibots.execution.public_tx import TOKENS_BY_ADDRESS, describe, route_for
from defibots.execution.relay_client import RelayFanout, SendOutcome
from defibots.execution.route import Payment, Route
from defibots.execution.simulation import (
    WETH_WITHDRAWAL_TOPIC,
    AnvilSimulator,
    BundleSimulationError,
    SimulationResult,
    balance_changes_from_prestate_diff,
)
from defibots.execution.simulation.warmup import pool_reads
from defibots.journal import ErrorRecord, Journal, OpportunityRecord, Pnl, Receipt, Send, Simulation

log = logging.getLogger(__name__)

WETH = TOKENS["WETH"].address

GAS_LIMIT_FACTOR = 2
"""Our gas limit is twice the model's gas: the limit costs nothing unused, running out reverts."""
MIN_GAS_LIMIT = 250_000
_PRESTATE_DIFF = {
    "tracer": "prestateTracer",
    "tracerConfig": {"diffMode": True, "disableCode": True, "disableStorage": True},
}


@dataclass(frozen=True)
class PathLatency:
    """One sent backrun, in milliseconds: the victim's PendingSwap received -> strategy decided ->
    bundle simulated -> every relay answered eth_sendBundle."""

    decide_ms: float
    simulate_ms: float
    send_ms: float

    @property
    def trigger_to_sent_ms(self) -> float:
        return self.decide_ms + self.simulate_ms + self.send_ms


@dataclass
class BundleExecutorStats:
    simulated: int = 0
    stale: int = 0
    refused: int = 0
    sent: int = 0
    send_failed: int = 0
    included: int = 0
    not_included: int = 0
    conflicted: int = 0
    realized_profit: int = 0
    """Executor WETH gained (already net of the builder payment)."""
    builder_paid: int = 0
    gas_cost: int = 0
    latency: list[PathLatency] = field(default_factory=list)
    """Per sent bundle (the engine's own stage samples mix in every other event)."""
    last_error: str = ""
    recent: list[str] = field(default_factory=list)

    @property
    def trigger_to_sent_ms(self) -> list[float]:
        return [sample.trigger_to_sent_ms for sample in self.latency]


@dataclass(frozen=True)
class PreparedBundle:
    """What was built for one action: the route, our signed tx and the bundle [victim, ours]."""

    route: Route
    ours: SignedTx
    victim: SignedTx
    bundle: Bundle
    targets: tuple[int, ...]


class BundleExecutor(Executor):
    """Executes BUNDLE actions (BackrunBundleAction, BundlePrepare) through Flashbots-protocol relays.

    Args:
        client: the deployed Executor (its address and calldata encoding; no web3 call is made here).
        signer: the funds key that calls the executor (an allowed caller or the owner).
        node_url: the chain's HTTP RPC (nonces, inclusion, receipts).
        relays: the relays to send to (a RelayFanout signing with the reputation key).
        simulator: bundle simulator; default a private anvil fork of `node_url`.
        blocks: target the next `blocks` blocks (1: head + 1 only; 2: also head + 2).
        shadow: decide and simulate, never send.
    """

    capability: ClassVar[Capability] = Capability.BUNDLE

    def __init__(
        self,
        client: ExecutorClient,
        signer: LocalAccount,
        node_url: str,
        relays: RelayFanout,
        journal: Journal,
        chain_id: int,
        *,
        simulator: AnvilSimulator | None = None,
        blocks: int = 1,
        shadow: bool = True,
        min_net_profit: int = 0,
        track_inclusion: bool = True,
        inclusion_timeout: float = 120.0,
    ) -> None:
        if blocks not in (1, 2):
            raise ValueError("a backrun targets the next block, optionally the one after: blocks is 1 or 2")
        self.client = client
        self.signer = signer
        self.node_url = node_url
        self.node = HttpRpc(node_url)
        self.relays = relays
        self.journal = journal
        self.chain_id = chain_id
        self.simulator = simulator or AnvilSimulator(node_url, fork=True)
        self.blocks = blocks
        self.shadow = shadow
        self.min_net_profit = min_net_profit
        self.track_inclusion = track_inclusion
        self.inclusion_timeout = inclusion_timeout
        self.tracker = InclusionTracker(self.node, poll_interval=0.05)
        self.stats = BundleExecutorStats()
        self.results: list[InclusionResult] = []
        self.nonce = BlockNonce(self.node, signer.address)
        self._warmed = 0
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def name(self) -> str:
        return "bundle"

    async def start(self) -> None:
        """Start the simulator's fork now, so the first opportunity does not pay for it."""
        await self.simulator.start()

    # ---------------------------------------------------------------- the hot path

    async def execute(self, action: Action) -> None:
        if isinstance(action, BundlePrepare):
            await self.warm(action)
            return
        if not isinstance(action, BackrunBundleAction):  # counted as an executor error by the engine
            raise TypeError(f"{self.name} cannot carry out {type(action).__name__}")
        stages = _wall_clock_stages(action)
        opp_id = self._record_opportunity(action)
        try:
            prepared = await self.prepare(action)
        except BundleFormatError as exc:
            self.stats.refused += 1
            self._record_sim(action, opp_id, False, 0, 0, f"refused: {exc}")
            return
        stages.mark("signed")
        try:
            sim = await self.simulator.simulate(prepared.bundle, watch=[self.client.address])
        except (BundleSimulationError, RpcReplyError) as exc:
            action.stamps.mark("simulated")
            self.stats.stale += 1
            self._record_sim(action, opp_id, False, 0, 0, f"stale: {exc}")
            return
        action.stamps.mark("simulated")
        stages.mark("simulated")
        self.stats.simulated += 1
        problem = self.check(action, prepared, sim)
        ours = sim.txs[-1]
        profit = int.from_bytes(ours.output[:32], "big") if ours.success and len(ours.output) >= 32 else 0
        self._record_sim(action, opp_id, problem is None, ours.gas_used, profit, problem)
        if problem is not None:
            self.stats.stale += 1
            self.stats.last_error = problem
            return
        if self.shadow:
            return
        outcomes = await self.relays.send_bundle(prepared.bundle, prepared.targets)
        sent_ns = action.stamps.mark("sent")
        stages.mark("sent")
        accepted = [o for o in outcomes if o.ok]
        if not accepted:
            self._send_failed(action, outcomes)
            return
        s = action.stamps
        if s.received and s.decided:
            ms = 1e-6
            self.stats.latency.append(
                PathLatency(
                    (s.decided - s.received) * ms,
                    (s.simulated - s.decided) * ms,
                    (sent_ns - s.simulated) * ms,
                )
            )
        self.stats.sent += 1
        send_id = self.journal.record_send(
            Send(
                chain_id=self.chain_id,
                block_number=prepared.targets[0],
                kind="bundle",
                ident=prepared.bundle.bundle_hash_hex,
                opportunity_id=opp_id,
                relay=",".join(dict.fromkeys(o.relay for o in accepted)),
                tx_hashes=tuple(tx.hash_hex for tx in prepared.bundle.txs),
                builder_payment=action.builder_payment,
            )
        )
        for failed in (o for o in outcomes if not o.ok):
            self._record_error("relay", "send_failed", str(failed.error), failed.block_number)
        if self.track_inclusion:
            task = asyncio.create_task(self._follow(action, prepared, send_id, stages))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def prepare(self, action: BackrunBundleAction) -> PreparedBundle:
        """Sign our executor transaction and put it right after the victim's (never before it)."""
        victim = SignedTx.decode(action.victim_raw)
        if victim.hash_hex != action.victim.hash.lower():
            raise BundleFormatError(f"victim bytes hash to {victim.hash_hex}, not {action.victim.hash}")
        if victim.sender == self.signer.address:
            raise BundleFormatError("the victim is our own transaction")
        opp = action.opportunity
        route = replace(
            route_for(opp, min_profit=max(1, opp.gas_cost + self.min_net_profit)),
            payment=Payment.PROFIT_BPS,
            payment_value=action.builder_share_bps,
        )
        nonce = await self.nonce.after(action.state_block)
        fees = FeeDefaults(base_fee=action.base_fee, priority_fee=action.priority_fee)
        request = TxRequest(to=self.client.address, data=self.client.execute_calldata(route))
        gas = max(MIN_GAS_LIMIT, opp.gas * GAS_LIMIT_FACTOR)
        ours = sign_request(self.signer, request, self.chain_id, nonce, gas, fees)
        targets = tuple(range(action.target_block, action.target_block + self.blocks))
        bundle = Bundle((victim, ours), action.target_block)
        return PreparedBundle(route, ours, victim, bundle, targets)

    def check(
        self, action: BackrunBundleAction, prepared: PreparedBundle, sim: SimulationResult
    ) -> str | None:
        """Why the simulated bundle must not be sent, or None when it did exactly what was predicted."""
        if sim.state_block != action.state_block:
            return f"stale: chain head is {sim.state_block}, the prediction built on {action.state_block}"
        victim, ours = sim.txs[0], sim.txs[-1]
        if [t.tx.hash for t in sim.txs] != [prepared.victim.hash, prepared.ours.hash]:
            return "refused: bundle order is not [victim, ours]"
        if not victim.success:
            return f"stale: victim reverts ({victim.revert_reason or victim.error})"
        if not ours.success:
            return f"stale: our tx reverts ({ours.revert_reason or ours.error})"
        profit = int.from_bytes(ours.output[:32], "big") if len(ours.output) >= 32 else -1
        if profit != action.executor_profit:
            return f"stale: simulated profit {profit} != predicted {action.executor_profit}"
        if ours.eth_sent_to_coinbase != action.builder_payment:
            return (
                f"stale: simulated builder payment {ours.eth_sent_to_coinbase} "
                f"!= predicted {action.builder_payment}"
            )
        gas_cost = ours.gas_used * ours.tx.effective_gas_price(sim.base_fee)
        if profit - gas_cost <= self.min_net_profit:
            return f"unprofitable: profit {profit} - gas {gas_cost} <= {self.min_net_profit}"
        return None

    async def warm(self, prepare: BundlePrepare) -> None:
        """Re-point the simulator's fork at the new head and load what a backrun reads into it: our
        nonce, the executor, and each tracked pool's reserves / slot0, liquidity, nearby bitmap words
        and token balances. A fork reads state lazily from the node; this pays for it off the hot path."""
        if self._warmed >= prepare.state_block:
            return
        self._warmed = prepare.state_block
        await self.simulator.prepare()
        await self.nonce.after(prepare.state_block)
        calls: list[tuple[str, list[Any]]] = [
            ("eth_getBalance", [self.signer.address, "latest"]),
            ("eth_call", [self._balance_call(WETH), "latest"]),
            *pool_reads(prepare.pools),
        ]
        await self.simulator.warm(calls)

    # ---------------------------------------------------------------- after sending

    async def _follow(
        self, action: BackrunBundleAction, prepared: PreparedBundle, send_id: int, stages: StageTimes
    ) -> None:
        try:
            result = await self.tracker.track(
                prepared.bundle,
                prepared.targets,
                our_senders=[self.signer.address],
                stages=stages,
                timeout=self.inclusion_timeout,
            )
            self.results.append(result)
            await self._settle(action, prepared, send_id, result)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # tracking must never take the executor down
            log.exception("following bundle %s failed", prepared.bundle.bundle_hash_hex)
            self._record_error(
                "bundle", "tracking_failed", f"{type(exc).__name__}: {exc}", prepared.targets[0]
            )

    async def _settle(
        self, action: BackrunBundleAction, prepared: PreparedBundle, send_id: int, result: InclusionResult
    ) -> None:
        status = result.status
        token = action.opportunity.cycle.base
        base = TOKENS_BY_ADDRESS.get(token.lower())
        symbol, decimals = (base.symbol, base.decimals) if base else (token, 18)
        block = result.included_block
        if status is not InclusionStatus.INCLUDED or block is None:
            if status is InclusionStatus.CONFLICTED:
                self.stats.conflicted += 1
                reasons = "; ".join(o.reason for o in result.outcomes.values() if o.reason)
                self._record_error("bundle", "conflicted", reasons, prepared.targets[0])
            else:
                self.stats.not_included += 1
            if status is not InclusionStatus.PENDING:
                self.journal.record_pnl(
                    Pnl(chain_id=self.chain_id, block_number=prepared.targets[-1], status="not_included",
                        base_token=symbol, base_decimals=decimals, gross_profit=0, gas_cost=0,
                        builder_payment=0, net_profit=0, send_id=send_id)
                )  # fmt: skip
            return
        ours = prepared.ours.hash_hex
        receipt, header, before, after, trace = await self.node.batch_replies(
            [
                ("eth_getTransactionReceipt", [ours]),
                ("eth_getBlockByNumber", [hex(block), False]),
                ("eth_call", [self._balance_call(token), hex(block - 1)]),
                ("eth_call", [self._balance_call(token), hex(block)]),
                ("debug_traceTransaction", [ours, _PRESTATE_DIFF]),
            ]
        )
        for answer in (receipt, header, before, after):
            if isinstance(answer, RpcReplyError):
                raise answer
        gas_used, price = to_int(receipt["gasUsed"]), to_int(receipt["effectiveGasPrice"])
        self.journal.record_receipt(
            Receipt(chain_id=self.chain_id, block_number=block, tx_hash=ours,
                    status=to_int(receipt["status"]), gas_used=gas_used, effective_gas_price=price,
                    send_id=send_id)
        )  # fmt: skip
        realized = to_int(after) - to_int(before)
        tip = price - to_int(header.get("baseFeePerGas") or 0)
        if isinstance(trace, dict):  # what the coinbase received from our tx, beyond its tip
            miner = str(to_checksum_address(header["miner"]))
            payment = balance_changes_from_prestate_diff(trace).get(miner, 0) - gas_used * tip
        else:  # no debug API: the WETH the executor unwrapped to pay is the payment
            payment = _unwrapped(receipt, self.client.address)
        gas_cost = gas_used * price
        gross = realized + payment
        self.journal.record_pnl(
            Pnl(chain_id=self.chain_id, block_number=block, status="included", base_token=symbol,
                base_decimals=decimals, gross_profit=gross, gas_cost=gas_cost, builder_payment=payment,
                net_profit=gross - gas_cost - payment, send_id=send_id)
        )  # fmt: skip
        self.stats.included += 1
        self.stats.realized_profit += realized
        self.stats.builder_paid += payment
        self.stats.gas_cost += gas_cost
        self.stats.recent = [
            *self.stats.recent[-4:],
            f"block {block}: {describe(action.opportunity)} +{realized} "
            f"(predicted {action.executor_profit}), builder {payment}",
        ]

    def _balance_call(self, token: str) -> dict[str, str]:
        return {"to": token, "data": calldata("balanceOf(address)", self.client.address)}

    # ---------------------------------------------------------------- journal

    def _record_opportunity(self, action: BackrunBundleAction) -> int:
        opp = action.opportunity
        base = TOKENS_BY_ADDRESS.get(opp.cycle.base.lower())
        return self.journal.record_opportunity(
            OpportunityRecord(
                chain_id=self.chain_id,
                block_number=action.target_block,
                strategy=action.strategy or "backrun",
                route=f"{describe(opp)} after {action.victim.hash[:10]}",
                base_token=base.symbol if base else opp.cycle.base,
                base_decimals=base.decimals if base else 18,
                amount_in=opp.amount_in,
                expected_profit=opp.net_profit,
                details={
                    "victim": action.victim.hash,
                    "victim_sender": action.victim.sender,
                    "state_block": action.state_block,
                    "gross_profit": str(opp.gross_profit),
                    "executor_profit": str(action.executor_profit),
                    "builder_share_bps": action.builder_share_bps,
                    "builder_payment": str(action.builder_payment),
                    "gas": opp.gas,
                    "gas_cost": str(opp.gas_cost),
                    "moved_pools": list(action.moved_pools),
                },
            )
        )

    def _record_sim(
        self, action: BackrunBundleAction, opp_id: int, ok: bool, gas: int, profit: int, error: str | None
    ) -> None:
        self.journal.record_simulation(
            Simulation(chain_id=self.chain_id, block_number=action.target_block, backend="anvil_bundle",
                       success=ok, gas_used=gas, profit=profit, opportunity_id=opp_id, error=error)
        )  # fmt: skip

    def _record_error(self, source: str, kind: str, message: str, block: int | None) -> None:
        self.journal.record_error(
            ErrorRecord(source=source, kind=kind, message=message, chain_id=self.chain_id, block_number=block)
        )

    def _send_failed(self, action: BackrunBundleAction, outcomes: Sequence[SendOutcome]) -> None:
        self.stats.send_failed += 1
        message = "; ".join(str(o.error) for o in outcomes) or "no relay configured"
        self.stats.last_error = message
        self._record_error("relay", "send_failed", message, action.target_block)

    # ---------------------------------------------------------------- shutdown

    async def wait_settled(self) -> None:
        """Wait for every inclusion follow-up started so far."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.relays.close()
        await self.simulator.close()
        await self.node.close()


def _wall_clock_stages(action: Action) -> StageTimes:
    """The action's trigger and decision instants (perf counter stamps) on the wall clock, for the
    inclusion record's "ms into the slot"."""
    now, counter = time.time(), time.perf_counter_ns()
    stages = StageTimes()
    for stage, stamp in (("trigger", action.stamps.received), ("decided", action.stamps.decided)):
        stages.mark(stage, now - (counter - stamp) / 1e9 if stamp else now)
    return stages


def _unwrapped(receipt: dict[str, Any], executor: str) -> int:
    """WETH Withdrawal(executor, wad) amounts in a receipt: the builder payment the executor unwrapped."""
    total = 0
    for log in receipt.get("logs", []):
        topics = log.get("topics") or []
        if (
            str(log.get("address", "")).lower() == WETH.lower()
            and len(topics) == 2
            and bytes.fromhex(topics[0][2:]) == WETH_WITHDRAWAL_TOPIC
            and topics[1][-40:].lower() == executor[2:].lower()
        ):
            total += to_int(log["data"])
    return total
