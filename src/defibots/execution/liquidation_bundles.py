"""The liquidation executor: sign -> simulate [trigger, ours...] at the planned block and time -> relays ->
inclusion -> journal.

Each liquidation is one `Liquidator.liquidate` transaction guarded at the plan's exact swap output and
profit. Nothing is sent unless the bundle, simulated on top of the block the plans were made on at the
target block's time (eth_simulateV1 on the node by default, one round trip; or mined on a private fork),
shows the price update succeeding first and every liquidation then
returning exactly the predicted profit, paying exactly the predicted builder payment, covering exactly the
predicted debt and seizing exactly the predicted collateral. The bundle is pinned to that time
(min/maxTimestamp): included means included as simulated.

After the target block: included -> receipts and the contract's `Liquidated` event are journaled with the
P&L (gas and builder pay included); not included -> if another transaction liquidated the same borrower in
that block, the liquidation is journaled as "lost" with the winner's transaction; bundles are all or
nothing, so a loss costs nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any, ClassVar

from eth_abi import decode as abi_decode
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from defibots.actions import LiquidationBundle, LiquidationPrepare, PlannedLiquidation
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
from defibots.execution.inclusion import InclusionResult, InclusionStatus, InclusionTracker
from defibots.execution.liquidator import Liquidated, liquidate_calldata, parse_liquidated
from defibots.execution.nonce import BlockNonce
from defibots.execution.public_tx import TOKENS_BY_ADDRESS
from defibots.execution.relay_client import RelayFanout
from defibots.execution.simulation import (
    BundleSimulationError,
    BundleSimulator,
    LogEntry,
    SimulateV1Simulator,
    SimulationResult,
)
from defibots.execution.simulation.warmup import pool_reads, read
from defibots.journal import ErrorRecord, Journal, OpportunityRecord, Pnl, Receipt, Send, Simulation
from defibots.protocols.liquidation_plan import MAX_UINT256
from defibots.state.aave import LIQUIDATION_CALL

log = logging.getLogger(__name__)

WETH = TOKENS["WETH"].address
GAS_LIMIT = 900_000
"""Per liquidation: about twice what one uses; an unused limit costs nothing in a bundle."""

LIQUIDATION_CALL_SIGNATURE = "liquidationCall(address,address,address,uint256,bool)"
FLASH_LOAN_SIMPLE = "flashLoanSimple(address,address,uint256,bytes,uint16)"


@dataclass
class LiquidationExecutorStats:
    bundles: int = 0
    simulated: int = 0
    stale: int = 0
    update_reverts: int = 0
    """Pending updates whose own simulation reverts (skipped, never sent)."""
    refused: int = 0
    sent: int = 0
    send_failed: int = 0
    included: int = 0
    lost: int = 0
    not_included: int = 0
    profit_base: int = 0
    """Realized net profit of included liquidations, in 8-decimal USD at the plans' oracle prices."""
    gas_cost: int = 0
    builder_paid: int = 0
    latency_ms: list[float] = field(default_factory=list)
    """Pending update received -> every relay answered, per bundle sent behind one (the race that counts)."""
    stages_ms: list[tuple[float, float, float]] = field(default_factory=list)
    """The same bundles' (received -> decided, -> simulated, -> sent)."""
    results: list[dict[str, Any]] = field(default_factory=list)
    last_error: str = ""
    recent: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PreparedLiquidations:
    trigger: SignedTx | None
    ours: tuple[SignedTx, ...]
    bundle: Bundle


class LiquidationExecutor(Executor):
    """Carries out LiquidationBundle actions through our Liquidator contract and Flashbots-protocol relays."""

    capability: ClassVar[Capability] = Capability.LIQUIDATION

    def __init__(
        self,
        liquidator: str,
        signer: LocalAccount,
        node_url: str,
        relays: RelayFanout,
        journal: Journal,
        chain_id: int,
        *,
        simulator: BundleSimulator | None = None,
        shadow: bool = True,
        track_inclusion: bool = True,
        inclusion_timeout: float = 120.0,
    ) -> None:
        self.liquidator = to_checksum_address(liquidator)
        self.signer = signer
        self.node = HttpRpc(node_url)
        self.relays = relays
        self.journal = journal
        self.chain_id = chain_id
        self.simulator = simulator or SimulateV1Simulator(node_url)
        self.shadow = shadow
        self.track_inclusion = track_inclusion
        self.inclusion_timeout = inclusion_timeout
        self.tracker = InclusionTracker(self.node, poll_interval=0.05)
        self.stats = LiquidationExecutorStats()
        self._tasks: set[asyncio.Task[None]] = set()
        self._warmed = 0
        self.nonce = BlockNonce(self.node, signer.address)

    @property
    def name(self) -> str:
        return "liquidations"

    async def start(self) -> None:
        await self.simulator.start()

    async def execute(self, action: Action) -> None:
        if isinstance(action, LiquidationPrepare):
            await self.warm(action)
            return
        if not isinstance(action, LiquidationBundle):
            raise TypeError(f"{self.name} cannot carry out {type(action).__name__}")
        self.stats.bundles += 1
        opp_ids = [self._record_opportunity(action, planned) for planned in action.liquidations]
        try:
            prepared = await self.prepare(action)
        except BundleFormatError as exc:
            self.stats.refused += 1
            self._record_sims(action, opp_ids, None, f"refused: {exc}")
            return
        try:
            sim = await self.simulator.simulate(
                prepared.bundle, state_block=action.state_block, timestamp=action.timestamp,
                watch=[self.liquidator, self.simulator.coinbase], trace=False,
            )  # fmt: skip
        except (BundleSimulationError, RpcReplyError) as exc:
            self.stats.stale += 1
            self._record_sims(action, opp_ids, None, f"stale: {exc}")
            return
        action.stamps.mark("simulated")
        self.stats.simulated += 1
        problem = self.check(action, prepared, sim)
        self._record_sims(action, opp_ids, sim, problem)
        if problem is not None:
            self.stats.last_error = problem
            if problem.startswith("update reverts"):
                self.stats.update_reverts += 1
            else:
                self.stats.stale += 1
            return
        if self.shadow:
            return
        outcomes = await self.relays.send_bundle(prepared.bundle, [action.target_block])
        sent_ns = action.stamps.mark("sent")
        accepted = [o for o in outcomes if o.ok]
        if not accepted:
            self.stats.send_failed += 1
            self.stats.last_error = "; ".join(str(o.error) for o in outcomes) or "no relay configured"
            self._record_error("relay", "send_failed", self.stats.last_error, action.target_block)
            return
        st = action.stamps
        if action.trigger is not None and st.received:
            self.stats.latency_ms.append((sent_ns - st.received) / 1e6)
            decide, simulate = st.decided - st.received, st.simulated - st.decided
            self.stats.stages_ms.append((decide / 1e6, simulate / 1e6, (sent_ns - st.simulated) / 1e6))
        self.stats.sent += 1
        relays = ",".join(dict.fromkeys(o.relay for o in accepted))
        hashes = tuple(t.hash_hex for t in prepared.bundle.txs)
        sends = []
        for planned, ours, opp_id in zip(action.liquidations, prepared.ours, opp_ids, strict=True):
            send = Send(
                chain_id=self.chain_id, block_number=action.target_block, kind="bundle", ident=ours.hash_hex,
                opportunity_id=opp_id, relay=relays, tx_hashes=hashes,
                builder_payment=planned.builder_payment_wei,
            )  # fmt: skip
            sends.append(self.journal.record_send(send))
        if self.track_inclusion:
            task = asyncio.create_task(self._follow(action, prepared, sends))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def prepare(self, action: LiquidationBundle) -> PreparedLiquidations:
        """Our liquidations, signed with consecutive nonces, behind the trigger (never before it)."""
        trigger = None
        if action.trigger is not None:
            if action.trigger.raw is None:
                raise BundleFormatError("the pending update's signed bytes are unknown")
            trigger = SignedTx.decode(action.trigger.raw)
            if trigger.hash_hex != action.trigger.hash.lower():
                raise BundleFormatError(f"update bytes hash to {trigger.hash_hex}, not {action.trigger.hash}")
        nonce = await self.nonce.after(action.state_block)
        fees = FeeDefaults(base_fee=action.base_fee, priority_fee=action.priority_fee)
        ours = []
        for i, planned in enumerate(action.liquidations):
            data = liquidate_calldata(planned.plan, planned.contract_profit, planned.builder_payment_wei)
            request = TxRequest(to=self.liquidator, data=data)
            ours.append(sign_request(self.signer, request, self.chain_id, nonce + i, GAS_LIMIT, fees))
        txs = ((trigger,) if trigger is not None else ()) + tuple(ours)
        bundle = Bundle(
            txs, action.target_block, min_timestamp=action.timestamp, max_timestamp=action.timestamp
        )
        return PreparedLiquidations(trigger, tuple(ours), bundle)

    async def warm(self, prepare: LiquidationPrepare) -> None:
        """Learn the nonce for the new head; for a fork simulator, re-point it there and read into it what a
        liquidation reads, so the first bundle of the slot (a pending update's) does not fetch it: the
        accounts' data, a dry liquidationCall and flash loan from our contract (their code paths, reserves
        and oracle; both revert, which is fine), and the pools."""
        if self._warmed >= prepare.state_block:
            return
        self._warmed = prepare.state_block
        await self.nonce.after(prepare.state_block)
        if not self.simulator.needs_warming:
            return
        await self.simulator.prepare(prepare.state_block)
        pool, us = prepare.pool, self.liquidator
        calls = [("eth_getBalance", [self.signer.address, "latest"]), *pool_reads(prepare.pools)]
        for a in prepare.accounts:
            calls.append(read(pool, calldata("getUserAccountData(address)", a.user)))
            dry = calldata(LIQUIDATION_CALL_SIGNATURE, a.collateral, a.debt, a.user, MAX_UINT256, False)
            calls.append(read(pool, dry, us))
        for debt in dict.fromkeys(a.debt for a in prepare.accounts):
            calls.append(read(pool, calldata(FLASH_LOAN_SIMPLE, us, debt, 1, b"", 0), us))
        await self.simulator.warm(calls)

    def check(
        self, action: LiquidationBundle, prepared: PreparedLiquidations, sim: SimulationResult
    ) -> str | None:
        """Why the simulated bundle must not be sent, or None when it did exactly what was planned."""
        if sim.state_block != action.state_block:
            return f"stale: chain head is {sim.state_block}, the plans built on {action.state_block}"
        txs = list(sim.txs)
        if prepared.trigger is not None:
            update = txs.pop(0)
            if not update.success:
                return f"update reverts ({update.revert_reason or update.error})"
        for planned, ours in zip(action.liquidations, txs, strict=True):
            user = planned.plan.user[:10]
            if not ours.success:
                return f"stale: liquidation of {user} reverts ({ours.revert_reason or ours.error})"
            (profit,) = abi_decode(["uint256"], ours.output) if len(ours.output) == 32 else (-1,)
            if profit != planned.contract_profit:
                return f"stale: {user} simulated profit {profit} != predicted {planned.contract_profit}"
            event = _liquidated(ours.logs, self.liquidator)
            plan = planned.plan
            if event is None or (event.debt_covered, event.collateral_seized, event.swap_out) != (
                plan.debt_to_cover,
                plan.collateral_seized,
                plan.swap_out,
            ):
                return f"stale: {user} simulated liquidation {event} differs from the plan"
        # untraced simulation: the builder's whole gain is the block's tips plus exactly our payments
        promised = sum(p.builder_payment_wei for p in action.liquidations)
        paid = sim.eth_changes.get(self.simulator.coinbase, 0) - sum(t.gas_fees for t in sim.txs)
        if paid != promised:
            return f"stale: builder payments {paid} != predicted {promised}"
        return None

    # ---------------------------------------------------------------- after sending

    async def _follow(
        self, action: LiquidationBundle, prepared: PreparedLiquidations, sends: list[int]
    ) -> None:
        try:
            result = await self.tracker.track(
                prepared.bundle, [action.target_block], our_senders=[self.signer.address],
                timeout=self.inclusion_timeout,
            )  # fmt: skip
            if result.status is InclusionStatus.INCLUDED:
                await self._settle_included(action, prepared, sends, result)
            elif result.status is not InclusionStatus.PENDING:
                await self._settle_missed(action, sends, result)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # tracking must never take the executor down
            log.exception("following liquidation bundle %s failed", prepared.bundle.bundle_hash_hex)
            self._record_error(
                "liquidation", "tracking_failed", f"{type(exc).__name__}: {exc}", action.target_block
            )

    async def _settle_included(
        self,
        action: LiquidationBundle,
        prepared: PreparedLiquidations,
        sends: list[int],
        result: InclusionResult,
    ) -> None:
        block = result.included_block
        assert block is not None
        receipts = await self.node.batch_replies(
            [("eth_getTransactionReceipt", [t.hash_hex]) for t in prepared.ours]
        )
        for planned, receipt, send_id in zip(action.liquidations, receipts, sends, strict=True):
            if isinstance(receipt, RpcReplyError):
                raise receipt
            gas_used, price = to_int(receipt["gasUsed"]), to_int(receipt["effectiveGasPrice"])
            status = to_int(receipt["status"])
            self.journal.record_receipt(
                Receipt(chain_id=self.chain_id, block_number=block, tx_hash=receipt["transactionHash"],
                        status=status, gas_used=gas_used, effective_gas_price=price, send_id=send_id)
            )  # fmt: skip
            event = parse_liquidated(receipt, self.liquidator)
            plan = planned.plan
            symbol, decimals = _token(plan.debt)
            gas_cost = gas_used * price
            paid = planned.builder_payment_wei if event is not None else 0
            gross = (event.profit + (paid if planned.weth_debt else 0)) if event is not None else 0
            net = gross - _wei_in_debt(gas_cost + paid, planned, action.weth_price)
            self.journal.record_pnl(
                Pnl(chain_id=self.chain_id, block_number=block, status="included" if event else "reverted",
                    base_token=symbol, base_decimals=decimals, gross_profit=gross, gas_cost=gas_cost,
                    builder_payment=paid, net_profit=net, send_id=send_id)
            )  # fmt: skip
            self.stats.included += 1
            self.stats.gas_cost += gas_cost
            self.stats.builder_paid += paid
            self.stats.profit_base += net * plan.debt_price // plan.debt_unit
            outcome = {
                "status": "included", "block": block, "user": plan.user, "tx": receipt["transactionHash"],
                "predicted_profit": planned.contract_profit, "profit": event.profit if event else None,
                "predicted_seized": plan.collateral_seized,
                "seized": event.collateral_seized if event else None,
            }  # fmt: skip
            self.stats.results.append(outcome)
            self._recent(
                f"block {block}: liquidated {plan.user[:10]} +{gross} {symbol} (plan {plan.gross_profit})"
            )

    async def _settle_missed(
        self, action: LiquidationBundle, sends: list[int], result: InclusionResult
    ) -> None:
        block = action.target_block
        winners = await self._liquidations_in(block) if block in result.outcomes else {}
        for planned, send_id in zip(action.liquidations, sends, strict=True):
            plan = planned.plan
            symbol, decimals = _token(plan.debt)
            winner = winners.get(plan.user.lower())
            status = "lost" if winner else "not_included"
            self.journal.record_pnl(
                Pnl(chain_id=self.chain_id, block_number=block, status=status, base_token=symbol,
                    base_decimals=decimals, gross_profit=0, gas_cost=0, builder_payment=0, net_profit=0,
                    send_id=send_id)
            )  # fmt: skip
            if winner:
                self.stats.lost += 1
                message = f"liquidation of {plan.user} lost in block {block} to {winner}"
                payload = {"user": plan.user, "winner_tx": winner, "block": block, "send_id": send_id}
                self._record_error("liquidation", "lost", message, block, json.dumps(payload))
                self._recent(message)
            else:
                self.stats.not_included += 1
            self.stats.results.append(
                {"status": status, "block": block, "user": plan.user, "winner_tx": winner}
            )

    async def _liquidations_in(self, block: int) -> dict[str, str]:
        """Borrower (lower-case) -> the transaction that liquidated them in `block`, from the Pool's logs."""
        receipts = await self.node.call("eth_getBlockReceipts", [hex(block)])
        out: dict[str, str] = {}
        for receipt in receipts or []:
            for entry in receipt.get("logs", []):
                topics = entry.get("topics") or []
                if len(topics) == 4 and topics[0] == LIQUIDATION_CALL:
                    out.setdefault("0x" + topics[3][-40:].lower(), receipt["transactionHash"])
        return out

    # ---------------------------------------------------------------- journal

    def _record_opportunity(self, action: LiquidationBundle, planned: PlannedLiquidation) -> int:
        plan = planned.plan
        symbol, decimals = _token(plan.debt)
        return self.journal.record_opportunity(
            OpportunityRecord(
                chain_id=self.chain_id, block_number=action.target_block,
                strategy=action.strategy or "liquidations",
                route=f"liquidate {plan.user[:10]} {_token(plan.collateral)[0]}->{symbol} ({action.reason})",
                base_token=symbol, base_decimals=decimals, amount_in=plan.debt_to_cover,
                expected_profit=plan.net_profit,
                details={
                    "user": plan.user, "collateral": plan.collateral, "debt": plan.debt, "pool": plan.pool,
                    "collateral_seized": str(plan.collateral_seized), "protocol_fee": str(plan.protocol_fee),
                    "swap_out": str(plan.swap_out), "flash_premium": str(plan.flash_premium),
                    "gross_profit": str(plan.gross_profit), "gas_cost": str(plan.gas_cost),
                    "builder_payment_wei": str(planned.builder_payment_wei), "timestamp": action.timestamp,
                    "trigger": action.trigger.hash if action.trigger else None,
                    "state_block": action.state_block,
                },
            )
        )  # fmt: skip

    def _record_sims(
        self, action: LiquidationBundle, opp_ids: list[int], sim: SimulationResult | None, error: str | None
    ) -> None:
        ours = sim.txs[-len(opp_ids) :] if sim is not None else []
        sim_backend = sim.backend if sim is not None else self.simulator.backend_name
        for i, opp_id in enumerate(opp_ids):
            tx = ours[i] if i < len(ours) else None
            profit = int.from_bytes(tx.output[:32], "big") if tx is not None and len(tx.output) >= 32 else 0
            self.journal.record_simulation(
                Simulation(chain_id=self.chain_id, block_number=action.target_block, backend=sim_backend,
                           success=error is None, gas_used=tx.gas_used if tx else 0, profit=profit,
                           opportunity_id=opp_id, error=error)
            )  # fmt: skip

    def _record_error(
        self, source: str, kind: str, message: str, block: int | None, payload: str | None = None
    ) -> None:
        self.journal.record_error(
            ErrorRecord(source=source, kind=kind, message=message, payload=payload, chain_id=self.chain_id,
                        block_number=block)
        )  # fmt: skip

    def _recent(self, line: str) -> None:
        self.stats.recent = [*self.stats.recent[-4:], line]

    # ---------------------------------------------------------------- shutdown

    async def wait_settled(self) -> None:
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


def _liquidated(logs: tuple[LogEntry, ...], contract: str) -> Liquidated | None:
    entries = [
        {"address": e.address, "topics": ["0x" + t.hex() for t in e.topics], "data": "0x" + e.data.hex()}
        for e in logs
    ]
    return parse_liquidated({"logs": entries}, contract) if entries else None


def _token(address: str) -> tuple[str, int]:
    token = TOKENS_BY_ADDRESS.get(address.lower())
    return (token.symbol, token.decimals) if token else (address, 18)


def _wei_in_debt(wei: int, planned: PlannedLiquidation, weth_price: int) -> int:
    """Wei of ETH in the debt asset at the plan's oracle prices, rounded up (a cost never shrinks)."""
    if planned.weth_debt:
        return wei
    plan = planned.plan
    return -(-wei * weth_price * plan.debt_unit // (10**18 * plan.debt_price))
