"""The hedged AMM-CEX executor: both legs of a `HedgedArb`, the leg-risk policy, and a round trip in the
journal that adds up.

Order of legs and what happens when they do not match is `config.LegRiskPolicy` (its docstring is the
policy's documentation). The path of one trip:

1. the on-chain leg, one swap through the executor contract guarded at the model's exact output, is
   simulated; nothing is sent unless the simulation returns that output to the wei (else: stale);
2. it is sent and its receipt awaited; a revert or a time-out (the nonce is then taken by a cancel)
   leaves nothing to hedge: the trip is "chain_failed" and costs its gas;
3. the CEX leg, an IOC bounded at the price the edge was computed at, hedges what the chain leg moved;
4. the residual (base left unhedged, in venue lots) is hedged by more IOCs or unwound on chain, as the
   policy says; dust below one lot is recorded, not traded;
5. the leg's receipt is re-checked until `confirmations` blocks have passed; a reorg that removes it
   rebroadcasts the signed leg, and unwinds the CEX leg if it does not land again.

Every send, order, fill and decision is journaled: the round trip row (both legs, fees, gas, builder
tip, residual, net P&L in the quote token), the opportunity and simulation rows, each send and receipt.
An exposure left open raises an alert (journal errors, source `strategy:NAME`, kind "unhedged").
One trip per symbol is in flight at a time; a signal older than `max_signal_age_s` is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_UP, Decimal
from typing import Any, ClassVar

from eth_utils import to_checksum_address

from defibots.actions import HedgedArb
from defibots.cex.book import BPS, Side, to_units
from defibots.cex.order_cache import OrderIntent, TrackedOrder
from defibots.cex.orders import CexOrderExecutor
from defibots.chain.addresses import TOKENS
from defibots.chain.async_rpc import HttpRpc, RpcConnectionError, RpcReplyError, to_int
from defibots.chain.calldata import calldata
from defibots.config import LegRiskPolicy
from defibots.engine import Action, Capability, Executor
from defibots.errors import UserError
from defibots.execution.executor_client import ExecutorClient, ExecutorRevert
from defibots.execution.inventory import InventoryBook
from defibots.execution.nonce import NonceManager, replacement_fees
from defibots.execution.preflight import Preflight, preflight
from defibots.execution.public_tx import CANCEL_GAS, transfer_delta
from defibots.execution.route import Route, RouteHop
from defibots.journal import ErrorRecord, Journal, OpportunityRecord, Receipt, Send, Simulation
from defibots.journal.records import RoundTrip
from defibots.protocols.uniswap_quote import buy_exact, quote
from defibots.state.store import MarketState
from defibots.state.uniswap import uniswap

log = logging.getLogger(__name__)
SOURCE = "hedged_arb"
TOKENS_BY_SYMBOL = {t.symbol: t for t in TOKENS.values()}


def closing_side(residual: Decimal) -> Side:
    """The venue order that flattens a base residual: buy what is short, sell what is long."""
    return "buy" if residual < 0 else "sell"


@dataclass
class HedgedStats:
    simulated: int = 0
    stale: int = 0
    sent: int = 0
    busy: int = 0
    too_old: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    net_by_quote: dict[str, int] = field(default_factory=dict)
    in_flight: dict[str, str] = field(default_factory=dict)  # symbol -> stage, for the live view
    alerts: list[str] = field(default_factory=list)
    recent: list[str] = field(default_factory=list)


@dataclass
class ChainLeg:
    """One of our transactions of a trip, as mined."""

    tx_hash: str
    raw: bytes
    nonce: int
    send_id: int
    block_number: int = 0
    block_hash: str = ""
    status: int = 0
    gas_wei: int = 0
    tip_wei: int = 0
    base: int = 0
    quote: int = 0


@dataclass
class Trip:
    """The state of one round trip while it runs; `record` turns it into the journal's row."""

    action: HedgedArb
    trip_id: int = 0
    opportunity_id: int | None = None
    legs: list[ChainLeg] = field(default_factory=list)
    orders: list[TrackedOrder] = field(default_factory=list)
    status: str = "pending"
    decisions: list[str] = field(default_factory=list)
    unknown_orders: int = 0
    booked: tuple[str, int, dict[tuple[str, str], Decimal]] | None = None
    """(status, net, inventory moves) last booked into the stats and the inventory."""

    def chain(self) -> tuple[int, int]:
        return sum(leg.base for leg in self.legs), sum(leg.quote for leg in self.legs)

    def cex(self) -> tuple[Decimal, Decimal, Decimal]:
        """Base and quote the venue moved for us, net of fees, and the fees valued in quote."""
        base = quote_amt = fee_quote = Decimal(0)
        a = self.action
        for order in self.orders:
            sign = 1 if order.intent.side == "buy" else -1
            for f in order.fills.values():
                base += sign * f.amount
                quote_amt -= sign * f.amount * f.price
                if f.fee_currency == a.base.asset:
                    base -= f.fee
                    fee_quote += f.fee * f.price
                elif f.fee_currency == a.quote.asset:
                    quote_amt -= f.fee
                    fee_quote += f.fee
        return base, quote_amt, fee_quote

    def residual(self) -> Decimal:
        """Base exposure left, in whole tokens: what the chain moved plus what the venue moved."""
        return Decimal(self.chain()[0]).scaleb(-self.action.base.decimals) + self.cex()[0]


class HedgedArbExecutor(Executor):
    """Carries out HedgedArb actions (capability HEDGED_ARB): `client` signs the on-chain legs, `orders`
    places the CEX legs, `market` is the live pool state (the unwind is priced on it)."""

    capability: ClassVar[Capability] = Capability.HEDGED_ARB

    def __init__(
        self,
        client: ExecutorClient,
        orders: CexOrderExecutor,
        journal: Journal,
        chain_id: int,
        market: MarketState,
        policy: LegRiskPolicy,
        *,
        rpc_url: str,
        shadow: bool = True,
        lot_step: Decimal = Decimal("0.0001"),
        inventory: InventoryBook | None = None,
        strategy: str = "cex_amm_arb",
        poll_s: float = 0.05,
    ) -> None:
        if client.signer is None:
            raise ValueError("the hedged executor signs its on-chain legs: the client needs a signer")
        self.client, self.orders, self.journal = client, orders, journal
        self.chain_id, self.market, self.policy = chain_id, market, policy
        self.shadow, self.lot_step, self.inventory = shadow, lot_step, inventory
        self.strategy, self.poll_s = strategy, poll_s
        self.rpc = HttpRpc(rpc_url)
        self.signer = client.signer
        self.nonces = NonceManager(self.rpc, self.signer.address)
        self.stats = HedgedStats()
        self._watches: set[asyncio.Task[None]] = set()

    @property
    def name(self) -> str:
        return SOURCE

    async def close(self) -> None:
        for task in list(self._watches):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.rpc.close()

    async def seed_inventory(self) -> None:
        """The book's starting balances: the venue's (one `fetch_balance`) and the executor contract's
        (`balanceOf` per banded chain token), so drift is measured from what is really held."""
        if self.inventory is None:
            return
        bands = self.inventory.settings.bands
        held = await self.orders.exchange.fetch_balance()
        for place, assets in bands.items():
            for asset in assets:
                if place == "chain":
                    token = TOKENS_BY_SYMBOL.get(asset)
                    if token is None:
                        raise UserError(f"inventory band chain/{asset}: not a known token")
                    data = calldata("balanceOf(address)", self.client.address)
                    raw = await self.rpc.call("eth_call", [{"to": token.address, "data": data}, "latest"])
                    self.inventory.set(place, asset, Decimal(to_int(raw)).scaleb(-token.decimals))
                elif place == self.orders.venue:
                    total = (held.get("total") or {}).get(asset) or 0
                    self.inventory.set(place, asset, Decimal(repr(total)))

    # ------------------------------------------------------------------ one trip

    async def execute(self, action: Action) -> None:
        if not isinstance(action, HedgedArb):
            raise TypeError(f"{self.name} cannot carry out {type(action).__name__}")
        a = action
        if a.symbol in self.stats.in_flight:
            self.stats.busy += 1
            return
        if time.time() * 1000 - a.book_timestamp_ms > self.policy.max_signal_age_s * 1000:
            self.stats.too_old += 1
            return
        self.stats.in_flight[a.symbol] = "simulating"
        try:
            await self._trip(Trip(a))
        finally:
            self.stats.in_flight.pop(a.symbol, None)

    async def _trip(self, trip: Trip) -> None:
        a = trip.action
        route = self._swap(a, a.token_in.address, a.chain_in, a.token_out.address, a.chain_out)
        data = self.client.execute_calldata(route)
        trip.opportunity_id = self._record_opportunity(a)
        pf = await self._simulate(a, trip.opportunity_id, data, a.chain_out)
        a.stamps.mark("simulated")
        if pf is None or self.shadow:
            return
        self.stats.in_flight[a.symbol] = "chain leg"
        leg = await self._send(
            data, pf, a.max_fee_per_gas, a.priority_fee_per_gas, a.block_number, trip.opportunity_id
        )
        if leg is None:
            return
        trip.legs.append(leg)
        trip.trip_id = self.journal.record_round_trip(self._record(trip))
        if not await self._mined(leg, a) or leg.status != 1:
            trip.status = "chain_failed"
            trip.decisions.append("chain leg reverted or not included: nothing to hedge")
            self._finish(trip)
            return
        self.stats.in_flight[a.symbol] = "cex leg"
        await self._order(trip, a.cex_side, a.cex_amount, a.cex_limit, "leg")
        a.stamps.mark("sent")
        await self._settle_residual(trip)
        self._finish(trip)
        if self.policy.confirmations > 0 and trip.status in ("closed", "hedged"):
            task = asyncio.create_task(self._watch_reorg(trip))
            self._watches.add(task)
            task.add_done_callback(self._watches.discard)

    async def _settle_residual(self, trip: Trip) -> None:
        """Hedge or unwind what the CEX leg left open, as the policy says."""
        a, p = trip.action, self.policy
        if trip.unknown_orders:
            trip.status = "unhedged"
            trip.decisions.append("a CEX order's state is unknown: no further order (it could fill twice)")
            return
        attempt = 0
        while p.on_residual == "hedge" and attempt < p.hedge_attempts and self._tradeable(trip.residual()):
            attempt += 1
            residual = trip.residual()
            side = closing_side(residual)
            bound = self._widened(a.cex_limit, side, p.hedge_slippage_bps * attempt)
            trip.decisions.append(f"hedge {side} {abs(residual)} at most {bound} (attempt {attempt})")
            await self._order(trip, side, abs(residual), bound, f"hedge{attempt}")
            if trip.unknown_orders:
                trip.status = "unhedged"
                return
        if attempt and not self._tradeable(trip.residual()):
            trip.status = "hedged"
            return
        if self._tradeable(trip.residual()):
            await self._unwind_on_chain(trip)
            return
        trip.status = "closed"

    def _tradeable(self, residual: Decimal) -> bool:
        return abs(residual) >= self.lot_step

    @staticmethod
    def _widened(limit: Decimal, side: str, bps: int) -> Decimal:
        factor = 1 + Decimal(bps) / BPS if side == "buy" else 1 - Decimal(bps) / BPS
        return (limit * factor).quantize(Decimal("0.01"), rounding=ROUND_DOWN if side == "buy" else ROUND_UP)

    async def _unwind_on_chain(self, trip: Trip) -> None:
        """Swap the residual's base back on the leg's pool, priced on the live model and simulated."""
        a = trip.action
        residual = trip.residual()
        units = to_units(abs(residual), a.base.decimals, ROUND_DOWN)
        pool = uniswap(self.market).get(a.pool)
        if pool is None:
            self._unhedged(trip, f"unwind impossible: pool {a.pool} not tracked")
            return
        if residual > 0:  # long base: sell it for quote
            token_in, token_out, amount_in = a.base.address, a.quote.address, units
        else:  # short base: buy it back with quote
            token_in, token_out = a.quote.address, a.base.address
            amount_in = buy_exact(pool, a.quote.address, units)
        out = quote(pool, token_in, amount_in) if amount_in else 0
        guard = out * (10_000 - self.policy.unwind_slippage_bps) // 10_000
        if out <= 0 or guard <= 0:
            self._unhedged(trip, f"unwind impossible: the pool cannot move {abs(residual)} base")
            return
        data = self.client.execute_calldata(self._swap(a, token_in, amount_in, token_out, guard))
        try:
            pf = await preflight(self.rpc, self.client.errors, self.signer.address, self.client.address, data)
        except ExecutorRevert as exc:
            self._unhedged(trip, f"unwind simulation reverted: {exc}")
            return
        trip.decisions.append(
            f"unwind on chain: {amount_in} in, >= {guard} out (model {out}, simulated {pf.profit})"
        )
        head = to_int(await self.rpc.call("eth_blockNumber", []))
        leg = await self._send(data, pf, a.max_fee_per_gas, a.priority_fee_per_gas, head, trip.opportunity_id)
        if leg is None or not await self._mined(leg, a):
            self._unhedged(trip, "unwind not sent or not mined")
            return
        trip.legs.append(leg)
        if leg.status != 1:
            self._unhedged(trip, "unwind reverted")
            return
        trip.status = "unwound" if not self._tradeable(trip.residual()) else "unhedged"

    def _unhedged(self, trip: Trip, why: str) -> None:
        trip.status = "unhedged"
        trip.decisions.append(why)

    # ------------------------------------------------------------------ reorgs

    async def _watch_reorg(self, trip: Trip) -> None:
        """Until `confirmations` blocks pass, check the leg is still in the chain; a reorg rebroadcasts
        it, and a leg that does not land again gets its CEX side unwound."""
        leg, p = trip.legs[0], self.policy
        while True:
            await asyncio.sleep(self.poll_s)
            head = to_int(await self.rpc.call("eth_blockNumber", []))
            receipt = await self.rpc.call("eth_getTransactionReceipt", [leg.tx_hash])
            if receipt is not None and str(receipt["blockHash"]) == leg.block_hash:
                if head >= leg.block_number + p.confirmations:
                    return
                continue
            break
        trip.decisions.append(f"reorg: leg {leg.tx_hash} left block {leg.block_number}; rebroadcast")
        with contextlib.suppress(RpcReplyError, RpcConnectionError):  # "already known", "nonce too low"
            await self.rpc.call("eth_sendRawTransaction", ["0x" + leg.raw.hex()])
        fork_head = to_int(await self.rpc.call("eth_blockNumber", []))
        leg.status, leg.base, leg.quote, leg.gas_wei, leg.tip_wei = 0, 0, 0, 0, 0
        while to_int(await self.rpc.call("eth_blockNumber", [])) < fork_head + p.reorg_grace_blocks:
            receipt = await self.rpc.call("eth_getTransactionReceipt", [leg.tx_hash])
            if receipt is not None:
                self._apply_receipt(leg, receipt, trip.action)
                break
            await asyncio.sleep(self.poll_s)
        if leg.status == 1:
            trip.decisions.append(f"leg re-included in block {leg.block_number}")
        else:
            trip.decisions.append("leg did not land again: unwind the CEX side")
            residual = trip.residual()
            if self._tradeable(residual):
                side = closing_side(residual)
                bound = self._widened(trip.action.cex_limit, side, p.hedge_slippage_bps)
                await self._order(trip, side, abs(residual), bound, "reorg-unwind")
            trip.status = "reorged" if not self._tradeable(trip.residual()) else "unhedged"
        self._finish(trip)

    # ------------------------------------------------------------------ the chain side

    @staticmethod
    def _swap(a: HedgedArb, token_in: str, amount_in: int, token_out: str, min_out: int) -> Route:
        """A single swap on the trip's pool from the executor's balance, guarded at `min_out`."""
        hop = RouteHop.v2 if a.protocol == "v2" else RouteHop.v3
        return Route(
            to_checksum_address(token_in),
            amount_in,
            (hop(a.pool, token_out, a.pool_fee),),
            min_profit=min_out,
        )

    async def _simulate(self, a: HedgedArb, opp_id: int, data: bytes, expected: int) -> Preflight | None:
        try:
            pf = await preflight(self.rpc, self.client.errors, self.signer.address, self.client.address, data)
        except ExecutorRevert as exc:
            self.stats.stale += 1
            self._record_sim(a, opp_id, False, 0, 0, f"revert: {exc}")
            return None
        self.stats.simulated += 1
        if pf.profit != expected:
            self.stats.stale += 1
            self._record_sim(a, opp_id, False, pf.gas, pf.profit, "stale: chain output differs from model")
            return None
        self._record_sim(a, opp_id, True, pf.gas, pf.profit, None)
        return pf

    async def _send(
        self, data: bytes, pf: Preflight, max_fee: int, tip: int, block: int, opp_id: int | None
    ) -> ChainLeg | None:
        nonce = await self.nonces.reserve()
        tx: dict[str, Any] = {
            "type": 2, "chainId": self.chain_id, "nonce": nonce, "to": self.client.address, "value": 0,
            "data": data, "gas": pf.gas_limit, "maxFeePerGas": max_fee, "maxPriorityFeePerGas": tip,
        }  # fmt: skip
        if pf.access_list:
            tx["accessList"] = [dict(e) for e in pf.access_list]
        signed = self.signer.sign_transaction(tx)
        raw, tx_hash = bytes(signed.raw_transaction), "0x" + bytes(signed.hash).hex()
        try:
            await self.rpc.call("eth_sendRawTransaction", ["0x" + raw.hex()])
        except RpcReplyError as exc:
            self.nonces.resync()
            self._error("send_failed", f"{tx_hash} nonce {nonce}: {exc.message}", block)
            return None
        except RpcConnectionError as exc:  # it may have reached the node: the receipt will tell
            self._error("send_unknown", f"{tx_hash} nonce {nonce}: {exc}", block)
        self.stats.sent += 1
        send_id = self.journal.record_send(
            Send(chain_id=self.chain_id, block_number=block + 1, kind="public_tx", ident=tx_hash,
                 tx_hashes=(tx_hash,), builder_payment=tip * pf.gas, opportunity_id=opp_id)
        )  # fmt: skip
        return ChainLeg(tx_hash, raw, nonce, send_id)

    async def _mined(self, leg: ChainLeg, a: HedgedArb) -> bool:
        """Wait for the leg's receipt; after the time-out its nonce is taken by a cancel (fees +10%), so a
        late landing cannot leave a filled leg nobody hedges. False: not mined (cancelled or unknown)."""
        receipt = await self._receipt(leg.tx_hash, self.policy.chain_leg_timeout_s)
        if receipt is None:
            max_fee, tip = replacement_fees(a.max_fee_per_gas, a.priority_fee_per_gas)
            cancel = self.signer.sign_transaction({
                "type": 2, "chainId": self.chain_id, "nonce": leg.nonce, "to": self.signer.address,
                "value": 0, "data": b"", "gas": CANCEL_GAS, "maxFeePerGas": max_fee,
                "maxPriorityFeePerGas": tip,
            })  # fmt: skip
            with contextlib.suppress(RpcReplyError, RpcConnectionError):
                await self.rpc.call("eth_sendRawTransaction", ["0x" + bytes(cancel.raw_transaction).hex()])
            self._error("receipt_timeout", f"no receipt for {leg.tx_hash}: nonce {leg.nonce} cancelled", None)
            receipt = await self._receipt(leg.tx_hash, self.policy.chain_leg_timeout_s)
            if receipt is None:
                return False
        self._apply_receipt(leg, receipt, a)
        self.journal.record_receipt(
            Receipt(chain_id=self.chain_id, block_number=leg.block_number, tx_hash=leg.tx_hash,
                    status=leg.status, gas_used=to_int(receipt["gasUsed"]),
                    effective_gas_price=to_int(receipt["effectiveGasPrice"]), send_id=leg.send_id)
        )  # fmt: skip
        return True

    def _apply_receipt(self, leg: ChainLeg, receipt: dict[str, Any], a: HedgedArb) -> None:
        gas_used, price = to_int(receipt["gasUsed"]), to_int(receipt["effectiveGasPrice"])
        leg.block_number, leg.block_hash = to_int(receipt["blockNumber"]), str(receipt["blockHash"])
        leg.status = to_int(receipt["status"])
        leg.gas_wei = gas_used * price
        leg.tip_wei = gas_used * min(a.priority_fee_per_gas, price)
        logs = list(receipt.get("logs", []))
        leg.base = transfer_delta(logs, a.base.address, self.client.address)
        leg.quote = transfer_delta(logs, a.quote.address, self.client.address)

    async def _receipt(self, tx_hash: str, timeout_s: float) -> dict[str, Any] | None:
        deadline = time.monotonic() + timeout_s
        while True:
            with contextlib.suppress(RpcConnectionError):
                receipt = await self.rpc.call("eth_getTransactionReceipt", [tx_hash])
                if receipt is not None:
                    return dict(receipt)
            if time.monotonic() > deadline:
                return None
            await asyncio.sleep(self.poll_s)

    # ------------------------------------------------------------------ the CEX side

    async def _order(self, trip: Trip, side: Side, amount: Decimal, bound: Decimal, tag: str) -> None:
        """One IOC on the venue's lot grid (a buy rounded up, a sell down), awaited to a final state."""
        rounding = ROUND_CEILING if side == "buy" else ROUND_DOWN
        lots = (amount / self.lot_step).to_integral_value(rounding=rounding) * self.lot_step
        if lots <= 0:
            return
        intent = OrderIntent(trip.action.symbol, side, "limit", lots, bound, "IOC")
        order = await self.orders.place(intent, f"{trip.action.key}:{tag}")
        deadline = time.monotonic() + self.policy.cex_answer_timeout_s
        while order.state != "closed" and time.monotonic() < deadline:
            await asyncio.sleep(self.poll_s)
            await self.orders.reconcile_order(order)
        trip.orders.append(order)
        if order.state != "closed":
            trip.unknown_orders += 1
            trip.decisions.append(
                f"order {order.client_order_id} unanswered after {self.policy.cex_answer_timeout_s}s"
            )
        else:
            trip.decisions.append(f"{tag}: {side} {lots} <= {bound}: {order.status} {order.filled}")

    # ------------------------------------------------------------------ journal

    def _finish(self, trip: Trip) -> None:
        """Journal the trip and book it into the stats and the inventory; a trip finished again (after a
        reorg) first takes back what it booked the last time."""
        record = self._record(trip)
        self.journal.update_round_trip(trip.trip_id, record)
        a = trip.action
        chain_base, chain_quote = trip.chain()
        cex_base, cex_quote, _ = trip.cex()
        moves = {
            ("chain", a.base.symbol): Decimal(chain_base).scaleb(-a.base.decimals),
            ("chain", a.quote.symbol): Decimal(chain_quote).scaleb(-a.quote.decimals),
            (a.venue, a.base.asset): cex_base,
            (a.venue, a.quote.asset): cex_quote,
        }
        booked_moves: dict[tuple[str, str], Decimal] = {}
        if trip.booked is not None:
            status, net_before, booked_moves = trip.booked
            self.stats.by_status[status] -= 1
            self.stats.net_by_quote[a.quote.symbol] -= net_before
        trip.booked = (trip.status, record.net_pnl, moves)
        self.stats.by_status[trip.status] = self.stats.by_status.get(trip.status, 0) + 1
        self.stats.net_by_quote[a.quote.symbol] = (
            self.stats.net_by_quote.get(a.quote.symbol, 0) + record.net_pnl
        )
        net = Decimal(record.net_pnl).scaleb(-a.quote.decimals)
        self.stats.recent = [
            *self.stats.recent[-4:],
            f"{a.symbol} {a.direction}: {trip.status}, net {net:.2f}",
        ]
        if self.inventory is not None:
            for key, total in moves.items():
                if total != booked_moves.get(key, Decimal(0)):
                    self.inventory.apply(*key, total - booked_moves.get(key, Decimal(0)))
            for drift in self.inventory.drifts():
                self._alert("inventory", drift.describe(), record.block_number)
            for transfer in self.inventory.rebalance_plan(int(time.time() * 1000)):
                self._alert("rebalance_plan", transfer.describe(), record.block_number)
        if trip.status == "unhedged":
            residual = trip.residual()
            self._alert("unhedged", f"{a.symbol}: {residual} {a.base.asset} unhedged ({trip.decisions[-1]})",
                        record.block_number)  # fmt: skip

    def _alert(self, kind: str, message: str, block: int) -> None:
        log.warning("%s: %s", kind, message)
        self.stats.alerts = [*self.stats.alerts[-9:], message]
        self.journal.record_error(
            ErrorRecord(source=f"strategy:{self.strategy}", kind=kind, message=message,
                        chain_id=self.chain_id, block_number=block)
        )  # fmt: skip

    def _record(self, trip: Trip) -> RoundTrip:
        a = trip.action
        chain_base, chain_quote = trip.chain()
        cex_base, cex_quote, fee_quote = trip.cex()
        gas = sum(leg.gas_wei - leg.tip_wei for leg in trip.legs)
        tips = sum(leg.tip_wei for leg in trip.legs)
        gas_quote, tips_quote = self._to_quote(a, gas), self._to_quote(a, tips)
        cex_quote_units = to_units(cex_quote, a.quote.decimals, ROUND_DOWN)
        block = max((leg.block_number for leg in trip.legs), default=a.block_number + 1) or a.block_number + 1
        return RoundTrip(
            chain_id=self.chain_id, block_number=block, strategy=self.strategy, venue=a.venue,
            symbol=a.symbol, direction=a.direction, status=trip.status, base_token=a.base.symbol,
            base_decimals=a.base.decimals,
            quote_token=a.quote.symbol, quote_decimals=a.quote.decimals, chain_base=chain_base,
            chain_quote=chain_quote, cex_base=to_units(cex_base, a.base.decimals, ROUND_DOWN),
            cex_quote=cex_quote_units, cex_fee_quote=to_units(fee_quote, a.quote.decimals, ROUND_UP),
            gas_cost_quote=gas_quote, builder_payment_quote=tips_quote,
            residual_base=chain_base + to_units(cex_base, a.base.decimals, ROUND_DOWN),
            predicted_net=a.predicted_net, net_pnl=chain_quote + cex_quote_units - gas_quote - tips_quote,
            send_ids=tuple(leg.send_id for leg in trip.legs),
            order_ids=tuple(o.journal_id for o in trip.orders if o.journal_id is not None),
            opportunity_id=trip.opportunity_id, details={"decisions": trip.decisions},
        )  # fmt: skip

    @staticmethod
    def _to_quote(a: HedgedArb, wei: int) -> int:
        return to_units(Decimal(wei).scaleb(-18) * a.native_price, a.quote.decimals, ROUND_UP)

    def _record_opportunity(self, a: HedgedArb) -> int:
        return self.journal.record_opportunity(
            OpportunityRecord(
                chain_id=self.chain_id, block_number=a.block_number, strategy=self.strategy,
                route=f"{a.direction} {a.protocol}:{a.pool} + {a.venue} {a.cex_side} {a.cex_amount}",
                base_token=a.quote.symbol, base_decimals=a.quote.decimals, amount_in=a.chain_in,
                expected_profit=a.predicted_net,
                details={"chain_out": str(a.chain_out), "cex_limit": str(a.cex_limit),
                         "cex_quote": str(a.cex_quote), "gas_cost_quote": str(a.gas_cost_quote)},
            )
        )  # fmt: skip

    def _record_sim(self, a: HedgedArb, opp_id: int, ok: bool, gas: int, out: int, error: str | None) -> None:
        self.journal.record_simulation(
            Simulation(chain_id=self.chain_id, block_number=a.block_number, backend="eth_call", success=ok,
                       gas_used=gas, profit=out, opportunity_id=opp_id, error=error)
        )  # fmt: skip

    def _error(self, kind: str, message: str, block: int | None) -> None:
        self.journal.record_error(
            ErrorRecord(source=SOURCE, kind=kind, message=message, chain_id=self.chain_id, block_number=block)
        )
