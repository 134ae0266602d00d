"""The public-transaction executor for arbitrage: route -> simulate (one batch) -> sign -> broadcast;
receipts and P&L come later from the receipt tracker.

Nothing is sent unless the on-chain simulation returns exactly the profit the models predicted: a
mismatch means the models are behind the chain (more logs of the block to come, or a competing trade),
so the opportunity is dropped and journaled as stale, not sent on a hope. The transaction carries the
fee fields its profit was priced with (the opportunity's), and its on-chain guard is min_net_profit plus
the gas cost at those fees, so the contract itself refuses a trade that would net less.

The send path stops at the broadcast ("sent" is stamped there): nonce is local (nonce.py), fees come
from the opportunity, the simulation is one JSON-RPC batch (preflight.py). tx_tracker.py follows each
nonce to its receipt, replaces or drops a stuck one, and this executor journals every outcome: receipt
(status, gas), P&L (realized token change, or the gas lost by a revert), time-outs as "unknown".
Everything runs in the event loop; the journal is only touched from there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from web3 import Web3

from defibots.actions import ExecutorTxAction, Opportunity
from defibots.chain.addresses import TOKENS
from defibots.chain.async_rpc import HttpRpc, RpcConnectionError, RpcReplyError, to_int
from defibots.engine import Action, Capability, Executor
from defibots.execution.executor_client import ExecutorClient, ExecutorRevert
from defibots.execution.nonce import NonceManager, replacement_fees
from defibots.execution.preflight import Preflight, preflight
from defibots.execution.route import BPS, Funding, Route, RouteError, RouteHop
from defibots.execution.tx_tracker import ReceiptTracker, TrackedTx
from defibots.journal import ErrorRecord, Journal, OpportunityRecord, Pnl, Receipt, Send, Simulation

TOKENS_BY_ADDRESS = {t.address.lower(): t for t in TOKENS.values()}
TRANSFER_TOPIC = "0x" + keccak(text="Transfer(address,address,uint256)").hex()
CANCEL_GAS = 21_000
SOURCE = "public_tx"


def v2_fee_per_10k(pool: str, numerator: int, denominator: int) -> int:
    """The executor's V2 fee field (input kept per 10_000) for a pair's fee; RouteError if it has none."""
    kept = numerator * BPS
    if kept % denominator:
        raise RouteError(
            f"V2 pair {pool} keeps {numerator}/{denominator} of the input: "
            "not a whole number per 10_000, the executor cannot charge it"
        )
    return kept // denominator


def route_for(opp: Opportunity, min_profit: int) -> Route:
    """The executor route for an opportunity, funded by a flash swap from its first pool; each V2 hop
    charges the fee of its own pair model (carried by the cycle), not Uniswap's constant."""
    hops = []
    for h in opp.cycle.hops:
        if h.protocol == "v2":
            hops.append(RouteHop.v2(h.pool, h.token_out, v2_fee_per_10k(h.pool, *h.v2_fee)))
        else:
            hops.append(RouteHop.v3(h.pool, h.token_out, h.fee))
    funding = Funding.V2_FLASH_SWAP if opp.cycle.hops[0].protocol == "v2" else Funding.V3_FLASH_SWAP
    token_in = Web3.to_checksum_address(opp.cycle.base)
    return Route(
        token_in=token_in, amount_in=opp.amount_in, hops=tuple(hops), funding=funding, min_profit=min_profit
    )


def describe(opp: Opportunity) -> str:
    symbols: dict[str, str] = {t.address: t.symbol for t in TOKENS.values()}
    return opp.cycle.describe(symbols)


def transfer_delta(logs: list[dict[str, Any]], token: str, holder: str) -> int:
    """`holder`'s change in `token` within one receipt, from its Transfer logs: the trade's realized
    balance change, exact even when two of our transactions share a block."""
    token, who = token.lower(), "0x" + holder.lower().removeprefix("0x").rjust(64, "0")
    delta = 0
    for entry in logs:
        topics = [str(t).lower() for t in entry.get("topics", [])]
        if str(entry.get("address", "")).lower() != token or len(topics) != 3 or topics[0] != TRANSFER_TOPIC:
            continue
        amount = to_int(entry["data"]) if entry["data"] not in ("0x", "") else 0
        if topics[2] == who:
            delta += amount
        if topics[1] == who:
            delta -= amount
    return delta


@dataclass
class ExecutorStats:
    simulated: int = 0
    stale: int = 0
    unpriced: int = 0
    sent: int = 0
    send_failed: int = 0
    included: int = 0
    reverted: int = 0
    dropped: int = 0
    replaced: int = 0
    timed_out: int = 0
    realized_profit: int = 0
    gas_cost: int = 0
    last_error: str = ""
    recent: list[str] = field(default_factory=list)


@dataclass
class InFlight:
    """What settling a tracked transaction needs: the opportunity and the exact call that was signed."""

    opp: Opportunity
    data: bytes
    preflight: Preflight
    cancel_hashes: set[str] = field(default_factory=set)


class PublicTxExecutor(Executor):
    """Simulates and broadcasts ExecutorTxActions (capability PUBLIC_TX) as public transactions; implements
    the tracker's TxOutcomes."""

    capability: ClassVar[Capability] = Capability.PUBLIC_TX

    def __init__(
        self,
        client: ExecutorClient,
        journal: Journal,
        chain_id: int,
        shadow: bool = True,
        min_net_profit: int = 0,
        rpc_url: str | None = None,
        receipt_timeout_s: float = 120.0,
        stuck_blocks: int = 3,
        close_settle_s: float = 5.0,
    ) -> None:
        self.client = client
        self.journal = journal
        self.chain_id = chain_id
        self.shadow = shadow
        self.min_net_profit = min_net_profit
        self.close_settle_s = close_settle_s
        url = rpc_url or getattr(client.w3.provider, "endpoint_uri", None)
        if not url:
            raise ValueError("PublicTxExecutor needs the node's HTTP URL (rpc_url)")
        self.rpc = HttpRpc(str(url))
        self.sender = client.signer.address if client.signer is not None else None
        self.nonces = NonceManager(self.rpc, self.sender or client.address)
        self.tracker = ReceiptTracker(
            self.rpc,
            self.sender or client.address,
            self,
            timeout_s=receipt_timeout_s,
            stuck_blocks=stuck_blocks,
        )
        self.stats = ExecutorStats()

    @property
    def name(self) -> str:
        return "public_tx"

    async def close(self) -> None:
        """Let the transactions in flight settle (bounded), then stop the tracker and the HTTP session."""
        await self.tracker.settle(self.close_settle_s)
        await self.tracker.close()
        await self.rpc.close()

    # ------------------------------------------------------------------ send path

    async def execute(self, action: Action) -> None:
        if not isinstance(action, ExecutorTxAction):  # counted as an executor error by the engine
            raise TypeError(f"{self.name} cannot carry out {type(action).__name__}")
        opp = action.opportunity
        opp_id = self._record_opportunity(action, opp)
        if opp.max_fee_per_gas <= 0 or not 0 <= opp.priority_fee_per_gas <= opp.max_fee_per_gas:
            action.stamps.mark("simulated")
            self.stats.unpriced += 1
            why = f"unpriced: fee fields {opp.max_fee_per_gas}/{opp.priority_fee_per_gas} cannot be sent"
            self._record_sim(opp, opp_id, False, 0, 0, why)
            return
        if self.sender is None:
            raise ValueError("simulating execute needs the signer: an allowed caller or the owner")
        try:
            route = route_for(opp, max(1, opp.gas_cost + self.min_net_profit))
        except RouteError as exc:
            action.stamps.mark("simulated")
            self._record_sim(opp, opp_id, False, 0, 0, f"refused: {exc}")
            return
        data = self.client.execute_calldata(route)
        try:
            pf = await preflight(self.rpc, self.client.errors, self.sender, self.client.address, data)
        except ExecutorRevert as exc:
            action.stamps.mark("simulated")
            self.stats.stale += 1
            self._record_sim(opp, opp_id, False, 0, 0, f"revert: {exc}")
            return
        action.stamps.mark("simulated")
        self.stats.simulated += 1
        if pf.profit != opp.gross_profit:
            self.stats.stale += 1
            self._record_sim(opp, opp_id, False, pf.gas, pf.profit, "stale: chain profit differs from model")
            return
        self._record_sim(opp, opp_id, True, pf.gas, pf.profit, None)
        if self.shadow:
            return
        await self._broadcast(action, opp, opp_id, data, pf)

    async def _broadcast(
        self, action: ExecutorTxAction, opp: Opportunity, opp_id: int, data: bytes, pf: Preflight
    ) -> None:
        signer = self._signer()
        nonce = await self.nonces.reserve()
        tx: dict[str, Any] = {
            "type": 2, "chainId": self.chain_id, "nonce": nonce, "to": self.client.address, "value": 0,
            "data": data, "gas": pf.gas_limit, "maxFeePerGas": opp.max_fee_per_gas,
            "maxPriorityFeePerGas": opp.priority_fee_per_gas,
        }  # fmt: skip
        if pf.access_list:
            tx["accessList"] = [dict(e) for e in pf.access_list]
        tx_hash = await self._send_signed(signer, tx, opp.block_number)
        if tx_hash is None:
            return
        action.stamps.mark("sent")
        self.stats.sent += 1
        send_id = self.journal.record_send(
            Send(chain_id=self.chain_id, block_number=opp.block_number + 1, kind=SOURCE, ident=tx_hash,
                 opportunity_id=opp_id, tx_hashes=(tx_hash,))
        )  # fmt: skip
        self.tracker.add(
            TrackedTx(send_id, nonce, [tx_hash], opp.max_fee_per_gas, opp.priority_fee_per_gas,
                      sent_block=opp.block_number, context=InFlight(opp, data, pf))
        )  # fmt: skip

    async def _send_signed(self, signer: LocalAccount, tx: dict[str, Any], block: int) -> str | None:
        """Sign and broadcast; the hash, or None (journaled) when the node refused it: nothing was sent."""
        signed = signer.sign_transaction(tx)
        tx_hash = "0x" + bytes(signed.hash).hex()
        try:
            await self.rpc.call("eth_sendRawTransaction", ["0x" + bytes(signed.raw_transaction).hex()])
        except RpcReplyError as exc:
            self.nonces.resync()
            self.stats.send_failed += 1
            self.stats.last_error = str(exc)
            self._record_error("send_failed", f"{tx_hash} nonce {tx['nonce']}: {exc.message}", block)
            return None
        except RpcConnectionError as exc:  # it may have reached the node: track it, the chain will tell
            self._record_error("send_unknown", f"{tx_hash} nonce {tx['nonce']}: {exc}", block)
        return tx_hash

    # ------------------------------------------------------------------ outcomes (TxOutcomes)

    def mined(self, tx: TrackedTx, receipt: dict[str, Any]) -> None:
        ctx = self._ctx(tx)
        tx_hash = str(receipt["transactionHash"]).lower()
        status, block = to_int(receipt["status"]), to_int(receipt["blockNumber"])
        gas_used, price = to_int(receipt["gasUsed"]), to_int(receipt["effectiveGasPrice"])
        self.journal.record_receipt(
            Receipt(chain_id=self.chain_id, block_number=block, tx_hash=tx_hash, status=status,
                    gas_used=gas_used, effective_gas_price=price, send_id=tx.send_id)
        )  # fmt: skip
        gas_cost = gas_used * price
        opp = ctx.opp
        if tx_hash in ctx.cancel_hashes:
            outcome, gross = "not_included", 0
            self.stats.dropped += 1
        elif status == 1:
            outcome = "included"
            gross = transfer_delta(list(receipt.get("logs", [])), opp.cycle.base, self.client.address)
            self.stats.included += 1
        else:
            outcome, gross = "reverted", 0
            self.stats.reverted += 1
        self.stats.realized_profit += gross
        self.stats.gas_cost += gas_cost
        self._record_pnl(tx, block, outcome, gross, gas_cost)
        note = f"+{gross} (predicted {opp.gross_profit})" if outcome == "included" else outcome
        self.stats.recent = [*self.stats.recent[-4:], f"{describe(opp)} {note}"]

    def timed_out(self, tx: TrackedTx) -> None:
        self.stats.timed_out += 1
        self._record_error("receipt_timeout", f"no receipt for {tx.hashes[-1]} (nonce {tx.nonce})", None)
        self._record_pnl(tx, self._ctx(tx).opp.block_number + 1, "unknown", 0, 0)

    def dropped(self, tx: TrackedTx, head: int) -> None:
        """Another transaction of ours took the nonce: this trade never ran and cost nothing."""
        self.stats.dropped += 1
        self._record_pnl(tx, head, "not_included", 0, 0)

    async def stuck(self, tx: TrackedTx, head: int) -> None:
        """Rule for a transaction pending `stuck_blocks` blocks: replace it (same call, fees +10%) when a
        fresh simulation still nets min_net_profit at the bumped fees; otherwise drop it with a 0-value
        self-transfer at its nonce (also +10%), so the trade cannot land late on a moved market."""
        ctx = self._ctx(tx)
        signer = self._signer()
        max_fee, tip = replacement_fees(tx.max_fee_per_gas, tx.priority_fee_per_gas)
        opp, pf = ctx.opp, ctx.preflight
        keep = False
        if not ctx.cancel_hashes and self.sender is not None:
            try:
                fresh = await preflight(
                    self.rpc, self.client.errors, self.sender, self.client.address, ctx.data
                )
                keep = fresh.profit - opp.to_base(fresh.gas * max_fee) >= self.min_net_profit
            except ExecutorRevert:
                keep = False
        base: dict[str, Any] = {
            "type": 2, "chainId": self.chain_id, "nonce": tx.nonce, "value": 0,
            "maxFeePerGas": max_fee, "maxPriorityFeePerGas": tip,
        }  # fmt: skip
        if keep:
            base |= {"to": self.client.address, "data": ctx.data, "gas": pf.gas_limit}
            if pf.access_list:
                base["accessList"] = [dict(e) for e in pf.access_list]
        else:
            base |= {"to": signer.address, "data": b"", "gas": CANCEL_GAS}
        tx_hash = await self._send_signed(signer, base, head)
        if tx_hash is None:
            return
        tx.hashes.append(tx_hash)
        tx.max_fee_per_gas, tx.priority_fee_per_gas, tx.sent_block = max_fee, tip, head
        if keep:
            self.stats.replaced += 1
        else:
            ctx.cancel_hashes.add(tx_hash)
        self.journal.add_send_hash(tx.send_id, tx_hash)
        what = "replaced" if keep else "cancelled"
        self._record_error(f"stuck_{what}", f"nonce {tx.nonce} {what} by {tx_hash} at {max_fee}/{tip}", head)

    # ------------------------------------------------------------------ journal

    def _record_opportunity(self, action: ExecutorTxAction, opp: Opportunity) -> int:
        base = TOKENS_BY_ADDRESS.get(opp.cycle.base.lower())
        return self.journal.record_opportunity(
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
                    "max_fee_per_gas": str(opp.max_fee_per_gas),
                    "priority_fee_per_gas": str(opp.priority_fee_per_gas),
                },
            )
        )

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

    def _record_pnl(self, tx: TrackedTx, block: int, status: str, gross: int, gas_cost: int) -> None:
        """gas_cost in wei (the pnl table's unit); net in base-token units, gas converted at the opp's
        rate."""
        opp = self._ctx(tx).opp
        base = TOKENS_BY_ADDRESS.get(opp.cycle.base.lower())
        self.journal.record_pnl(
            Pnl(chain_id=self.chain_id, block_number=block, status=status,
                base_token=base.symbol if base else opp.cycle.base,
                base_decimals=base.decimals if base else 18,
                gross_profit=gross, gas_cost=gas_cost, builder_payment=0,
                net_profit=gross - opp.to_base(gas_cost), send_id=tx.send_id)
        )  # fmt: skip

    def _record_error(self, kind: str, message: str, block: int | None) -> None:
        self.journal.record_error(
            ErrorRecord(source=SOURCE, kind=kind, message=message, chain_id=self.chain_id, block_number=block)
        )

    def _signer(self) -> LocalAccount:
        if self.client.signer is None:
            raise ValueError("sending needs the ExecutorClient's signer")
        return self.client.signer

    @staticmethod
    def _ctx(tx: TrackedTx) -> InFlight:
        assert isinstance(tx.context, InFlight)
        return tx.context
