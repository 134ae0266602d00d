"""What the GMX trader writes to the journal, in one place.

Per transaction the trader sends: a Send and a Receipt, and the wallet's flows in that transaction. Per
GMX order: an Order (venue "gmx_v2", client order id = the order key) moved to filled / canceled /
rejected (frozen) by its outcome, an ErrorRecord with the decoded reason of a cancel or freeze, and a
Fill when executed (execution price, size in USD, fee = position + borrowing + funding fees in collateral
units). Per execution: the Position (opened by the first increase) and a PositionSnapshot.

StrategyPnl rows of strategy "gmx_perp" are exactly the wallet's flows, each once per transaction
(ref "tx:<hash>"), so their sum per token is the balance change the chain shows:
- "gas" (ETH, minus gas x effective price of our transactions),
- "execution_fee" (ETH sent with a multicall to the OrderVault),
- "execution_fee_refund" (ETH back: the internal calls with value to the account in a keeper's outcome
  transaction or in our own cancel, from the node's call tracer; without one, the block's balance change),
- "deposit" / "returned" (ERC-20 Transfer logs to and from the account: collateral sent, collateral and
  profit paid out or refunded).
Fees GMX takes from the collateral are inside "returned"; they are listed on the Fills, not as P&L rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from web3 import Web3
from web3.types import RPCEndpoint, TxReceipt

from defibots.chain.gmx import events as E
from defibots.chain.gmx.deployment import GmxDeployment
from defibots.chain.gmx.orders import OrderType
from defibots.execution.gmx_lifecycle import TRANSFER_TOPIC, OrderOutcome
from defibots.journal import (
    ErrorRecord,
    Fill,
    Journal,
    Order,
    Position,
    PositionSnapshot,
    Receipt,
    Send,
    StrategyPnl,
)
from defibots.protocols.gmx_v2.precision import FLOAT_PRECISION

if TYPE_CHECKING:
    from defibots.execution.gmx_trader import OrderPlan

STRATEGY = "gmx_perp"
VENUE = "gmx_v2"
PROTOCOL = "gmx_v2"
WALLET_KINDS = ("gas", "execution_fee", "execution_fee_refund", "deposit", "returned")
USD = FLOAT_PRECISION
ROLE_TYPES = {"main": "market", "take_profit": "take_profit", "stop_loss": "stop_loss"}


@dataclass(frozen=True)
class OrderRef:
    key: bytes
    block: int
    role: str
    order_id: int


def _hex(b: bytes) -> str:
    return "0x" + bytes(b).hex()


class GmxJournal:
    def __init__(self, path: Path, w3: Web3, chain_id: int, deployment: GmxDeployment) -> None:
        self.path = path
        self.w3 = w3
        self.chain_id = chain_id
        self.d = deployment

    def _pnl(
        self, j: Journal, token: str, decimals: int, amount: int, kind: str, block: int, ref: str
    ) -> None:
        if amount:
            j.record_strategy_pnl(
                StrategyPnl(self.chain_id, STRATEGY, token, decimals, amount, kind, block, ref)
            )

    def _token_flows(self, j: Journal, receipt: TxReceipt, account: str, ref: str) -> None:
        block = int(receipt["blockNumber"])
        who = bytes(12) + bytes.fromhex(account.lower().removeprefix("0x"))
        flows: dict[str, int] = {}
        for log in receipt["logs"]:
            topics = [bytes(t) for t in log["topics"]]
            if len(topics) != 3 or topics[0] != TRANSFER_TOPIC or who not in topics[1:]:
                continue
            data = bytes(log["data"])
            amount = int.from_bytes(data, "big") if data else 0
            token = str(log["address"])
            flows[token] = (
                flows.get(token, 0)
                + (amount if topics[2] == who else 0)
                - (amount if topics[1] == who else 0)
            )
        for address, amount in flows.items():
            t = self.d.token_at(address)
            name, decimals = (t.name, t.decimals) if t is not None else (address, 0)
            self._pnl(j, name, decimals, amount, "deposit" if amount < 0 else "returned", block, ref)

    def _eth_in(self, tx_hash: str, account: str, block: int) -> int:
        """ETH sent to `account` by contracts inside transaction `tx_hash` (execution fee refunds, paid by
        plain calls with value): the call trace's internal calls to the account. Where the node has no
        call tracer, the account's ETH balance change over the block (exact on one-transaction blocks)."""
        method = RPCEndpoint("debug_traceTransaction")
        reply = self.w3.provider.make_request(method, [tx_hash, {"tracer": "callTracer"}])
        if "error" in reply or not isinstance(reply.get("result"), dict):
            addr = Web3.to_checksum_address(account)
            delta = int(self.w3.eth.get_balance(addr, block)) - int(self.w3.eth.get_balance(addr, block - 1))
            return max(delta, 0)
        who = account.lower()

        def walk(frame: dict[str, Any], top: bool) -> int:
            got = 0
            if not top and str(frame.get("to", "")).lower() == who and not frame.get("error"):
                got += int(str(frame.get("value", "0x0")), 16)
            if frame.get("error"):
                return 0  # a reverted frame moved nothing
            return got + sum(walk(c, False) for c in frame.get("calls", []) or [])

        return walk(reply["result"], True)

    def _refund(self, j: Journal, receipt: TxReceipt, account: str, ref: str) -> None:
        block = int(receipt["blockNumber"])
        amount = self._eth_in(_hex(receipt["transactionHash"]), account, block)
        self._pnl(j, "ETH", 18, amount, "execution_fee_refund", block, ref)

    def record_tx(self, receipt: TxReceipt, account: str, value: int, what: str) -> int:
        """One of our transactions: Send, Receipt, gas, fees sent, and its flows. Returns the send id."""
        tx = _hex(receipt["transactionHash"])
        block = int(receipt["blockNumber"])
        gas, price = int(receipt["gasUsed"]), int(receipt["effectiveGasPrice"])
        ref = f"tx:{tx}"
        with Journal(self.path) as j:
            send_id = j.record_send(Send(self.chain_id, block, "public_tx", tx, relay=what))
            j.record_receipt(Receipt(self.chain_id, block, tx, int(receipt["status"]), gas, price, send_id))
            self._pnl(j, "ETH", 18, -gas * price, "gas", block, ref)
            if int(receipt["status"]) == 1:
                self._pnl(j, "ETH", 18, -value, "execution_fee", block, ref)
                self._token_flows(j, receipt, account, ref)
                self._refund(j, receipt, account, ref)
        return send_id

    def record_created(
        self, plan: OrderPlan, keys: Sequence[bytes], receipt: TxReceipt, attempt: int
    ) -> list[OrderRef]:
        if len(keys) != len(plan.orders):
            raise ValueError(f"the multicall created {len(keys)} orders, the plan has {len(plan.orders)}")
        market = plan.market
        assert market is not None and plan.collateral is not None
        block = int(receipt["blockNumber"])
        refs = []
        with Journal(self.path) as j:
            for (role, order), key in zip(plan.orders, keys, strict=True):
                buys = order.is_long == order.order_type.is_increase
                price = order.trigger_price or order.acceptable_price
                row = Order(
                    venue=VENUE,
                    symbol=f"{market.name}/USD",
                    client_order_id=_hex(key),
                    side="buy" if buys else "sell",
                    type=ROLE_TYPES.get(role, "market") if plan.kind == "open" else "market",
                    amount=Decimal(order.size_delta_usd) / Decimal(USD),
                    price=Decimal(price) * Decimal(10) ** market.index.decimals / Decimal(USD),
                    status="open",
                    venue_order_id=_hex(key),
                    chain_id=self.chain_id,
                    strategy=STRATEGY,
                    details={
                        "role": role,
                        "kind": plan.kind,
                        "account": plan.account,
                        "order_type": order.order_type.name,
                        "market": market.address,
                        "market_name": market.name,
                        "is_long": order.is_long,
                        "collateral": plan.collateral.name,
                        "collateral_address": plan.collateral.address,
                        "collateral_decimals": plan.collateral.decimals,
                        "index_decimals": market.index.decimals,
                        "execution_fee": str(order.execution_fee),
                        "acceptable_price": str(order.acceptable_price),
                        "trigger_price": str(order.trigger_price),
                        "block": block,
                        "tx": _hex(receipt["transactionHash"]),
                        "attempt": attempt,
                    },
                )
                refs.append(OrderRef(key, block, role, j.record_order(row)))
        return refs

    def open_orders(self, account: str) -> list[OrderRef]:
        """`account`'s orders the journal still has open (their outcome not journaled yet)."""
        with Journal(self.path) as j:
            rows = j.orders(limit=10_000, chain_id=self.chain_id, venue=VENUE, status="open")
        mine = [o for o in rows if str(o.details.get("account", "")).lower() == account.lower()]
        return [
            OrderRef(
                bytes.fromhex(o.client_order_id[2:]),
                int(o.details.get("block", 0)),
                str(o.details["role"]),
                o.id or 0,
            )
            for o in mine
        ]

    def open_positions(self) -> list[Position]:
        with Journal(self.path) as j:
            return j.positions(limit=10_000, chain_id=self.chain_id, status="open", protocol=PROTOCOL)

    def record_liquidation(
        self, position: Position, event: E.GmxEvent, receipt: TxReceipt, account: str
    ) -> None:
        """A keeper's liquidation of our position: the closing snapshot with its PnL, whatever collateral
        came back, and an alert (a loss nobody of ours sent)."""
        block = int(receipt["blockNumber"])
        pnl = int(event.items.get("basePnlUsd", 0))
        price = event.uint("executionPrice")
        with Journal(self.path) as j:
            j.record_position_snapshot(
                PositionSnapshot(
                    position.id or 0, self.chain_id, block, 0, 0, 0, price, "liquidated", pnl=pnl
                )
            )
            self._token_flows(j, receipt, account, f"liquidation:{_hex(receipt['transactionHash'])}")
            message = (
                f"{position.side} {position.details.get('market_name', position.market)} liquidated at block "
                f"{block}: size ${position.size / USD:,.2f}, PnL ${Decimal(pnl) / USD:,.2f}"
            )
            j.record_error(ErrorRecord(VENUE, "liquidated", message, account, self.chain_id, block))

    def alert(self, kind: str, message: str, account: str) -> None:
        with Journal(self.path) as j:
            j.record_error(ErrorRecord(VENUE, kind, message, payload=account, chain_id=self.chain_id))

    def record_outcome(self, outcome: OrderOutcome, account: str) -> None:
        """The keeper's (or our cancel's) outcome of a journaled order, once."""
        key_hex = _hex(outcome.key)
        block = outcome.block_number
        ref = f"tx:{outcome.tx_hash}"
        with Journal(self.path) as j:
            row = j.order_by_client_id(VENUE, key_hex)
            if row is None or row.id is None or row.status != "open":
                return
            if outcome.executed:
                j.update_order(row.id, "filled")
                self._record_execution(j, row, outcome)
            elif outcome.cancelled:
                j.update_order(row.id, "canceled")
                j.record_error(
                    ErrorRecord(VENUE, "order_cancelled", f"order {key_hex} cancelled: {outcome.reason}",
                                payload=key_hex, chain_id=self.chain_id, block_number=block)
                )  # fmt: skip
            else:
                j.update_order(row.id, "rejected")
                j.record_error(
                    ErrorRecord(VENUE, "order_frozen", f"order {key_hex} frozen: {outcome.reason}",
                                payload=key_hex, chain_id=self.chain_id, block_number=block)
                )  # fmt: skip
            if not any(
                e.ref == ref for e in j.strategy_pnl(limit=100_000, chain_id=self.chain_id, strategy=STRATEGY)
            ):
                self._refund(j, outcome.receipt, account, ref)
                self._token_flows(j, outcome.receipt, account, ref)

    def _record_execution(self, j: Journal, row: Order, outcome: OrderOutcome) -> None:
        logs: Any = outcome.receipt["logs"]
        emitter = self.d.event_emitter
        changes = [
            e for e in E.gmx_events(logs, emitter)
            if e.name in (E.POSITION_INCREASE, E.POSITION_DECREASE) and e.items.get("orderKey") == outcome.key
        ]  # fmt: skip
        fees = [e for e in E.position_fees_collected(logs, emitter) if e.items.get("orderKey") == outcome.key]
        details = row.details
        index_decimals = int(details.get("index_decimals", 18))
        collateral_decimals = int(details.get("collateral_decimals", 0))
        block = outcome.block_number
        if not changes:
            return
        change = changes[0]
        fee_amount = 0
        if fees:
            f = fees[0]
            fee_amount = (
                f.uint("positionFeeAmount") + f.uint("borrowingFeeAmount") + f.uint("fundingFeeAmount")
            )
        execution_price = change.uint("executionPrice")
        j.record_fill(
            Fill(
                order_id=row.id or 0,
                price=Decimal(execution_price) * Decimal(10) ** index_decimals / Decimal(USD),
                amount=Decimal(change.uint("sizeDeltaUsd")) / Decimal(USD),
                fee=Decimal(fee_amount) / Decimal(10) ** collateral_decimals,
                fee_currency=str(details.get("collateral", "")),
                venue_trade_id=outcome.tx_hash,
                chain_id=self.chain_id,
            )
        )
        position_key = change.raw("positionKey")
        key_hex = _hex(position_key)
        size, collateral = change.uint("sizeInUsd"), change.uint("collateralAmount")
        open_rows = [
            p
            for p in j.positions(limit=10_000, chain_id=self.chain_id, status="open", protocol=PROTOCOL)
            if p.key == key_hex
        ]
        position_id = open_rows[0].id if open_rows else None
        increase = change.name == E.POSITION_INCREASE
        if position_id is None:
            if not increase:
                return
            position_id = j.record_position(
                Position(
                    self.chain_id, block, PROTOCOL, str(details.get("market", "")),
                    "long" if change.flag("isLong") else "short", key_hex, size,
                    str(details.get("collateral_address", "")), collateral, execution_price,
                    strategy=STRATEGY,
                    details={
                        "market_name": details.get("market_name"), "collateral": details.get("collateral"),
                        "index_decimals": index_decimals, "collateral_decimals": collateral_decimals,
                        "opened_by": _hex(outcome.key),
                    },
                )
            )  # fmt: skip
        status = "open"
        if not increase and size == 0:
            status = "liquidated" if change.uint("orderType") == OrderType.LIQUIDATION else "closed"
        pnl = None if increase else int(change.items.get("basePnlUsd", 0))
        j.record_position_snapshot(
            PositionSnapshot(
                position_id, self.chain_id, block, size, collateral, 0, execution_price, status, pnl=pnl
            )
        )
