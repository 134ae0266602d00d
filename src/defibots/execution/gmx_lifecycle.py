"""A GMX order's life after its createOrder was mined: the keeper's outcome found in the EventEmitter's logs,
and the retry budget for market orders a keeper cancels.

GMX orders are two-step: the trader's transaction only creates the order (OrderCreated); a keeper later
executes it (OrderExecuted), cancels it (OrderCancelled, with the revert data of the failed execution as
`reasonBytes`) or freezes a trigger order (OrderFrozen). The outcome is an EventLog2 whose topic2 is the
order key, so one eth_getLogs per poll finds it. Polling stops at a deadline: an order still pending then
is reported as pending, never re-sent (it may still execute).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eth_utils import keccak
from hexbytes import HexBytes
from web3 import Web3
from web3.types import TxReceipt

from defibots.chain.gmx import events as E
from defibots.chain.gmx.orders import OrderType
from defibots.chain.gmx.reasons import describe_reason

TRANSFER_TOPIC = keccak(text="Transfer(address,address,uint256)")


@dataclass(frozen=True)
class RetryPolicy:
    """At most `max_attempts` creations of a market order the keeper keeps cancelling, waiting
    `backoff_seconds * 2**(attempt - 1)` before each retry; then an alert and a stop, never a loop."""

    max_attempts: int = 3
    backoff_seconds: float = 2.0

    def __post_init__(self) -> None:
        if not 1 <= self.max_attempts <= 10:
            raise ValueError("max_attempts must be 1..10")
        if self.backoff_seconds < 0:
            raise ValueError("backoff_seconds must not be negative")

    def delay(self, attempt: int) -> float:
        """The wait after failed attempt `attempt` (1-based)."""
        return float(self.backoff_seconds * 2 ** (attempt - 1))


@dataclass(frozen=True)
class OrderOutcome:
    """The keeper's answer for one order: the event and the receipt of the keeper's transaction."""

    key: bytes
    event: E.GmxEvent
    receipt: TxReceipt

    @property
    def name(self) -> str:
        return self.event.name

    @property
    def executed(self) -> bool:
        return self.event.name == E.ORDER_EXECUTED

    @property
    def cancelled(self) -> bool:
        return self.event.name == E.ORDER_CANCELLED

    @property
    def frozen(self) -> bool:
        return self.event.name == E.ORDER_FROZEN

    @property
    def reason(self) -> str:
        """Why it was cancelled or frozen, in words (GMX's `reason` string, else the decoded reasonBytes)."""
        if self.executed:
            return ""
        text = str(self.event.items.get("reason", "") or "")
        raw = self.event.items.get("reasonBytes", b"")
        if isinstance(raw, bytes) and raw:
            decoded = describe_reason(raw)
            return f"{text}: {decoded}" if text else decoded
        return text or "no reason given"

    @property
    def block_number(self) -> int:
        return int(self.receipt["blockNumber"])

    @property
    def tx_hash(self) -> str:
        return "0x" + bytes(self.receipt["transactionHash"]).hex()


def find_outcome(w3: Web3, event_emitter: str, key: bytes, from_block: int) -> OrderOutcome | None:
    """The executed / cancelled / frozen event of order `key` mined since `from_block`, if any."""
    topic0 = E.event_log_topics()["EventLog2"]
    logs = w3.eth.get_logs(
        {
            "address": Web3.to_checksum_address(event_emitter),
            "fromBlock": from_block,
            "toBlock": "latest",
            "topics": [HexBytes(topic0), None, HexBytes(key)],
        }
    )
    for log in logs:
        event = E.decode_event_log(log)
        if event.name in E.ORDER_OUTCOMES and event.topic1 == key:
            receipt = w3.eth.get_transaction_receipt(log["transactionHash"])
            return OrderOutcome(key, event, receipt)
    return None


def find_liquidation(
    w3: Web3, event_emitter: str, account: str, position_key: bytes, from_block: int
) -> tuple[E.GmxEvent, TxReceipt] | None:
    """The keeper's liquidation of `account`'s position `position_key` since `from_block`: its
    PositionDecrease (EventLog1, topic1 = the account) with order type Liquidation, and the receipt."""
    logs = w3.eth.get_logs(
        {
            "address": Web3.to_checksum_address(event_emitter),
            "fromBlock": from_block,
            "toBlock": "latest",
            "topics": [
                HexBytes(E.event_log_topics()["EventLog1"]),
                HexBytes(keccak(text=E.POSITION_DECREASE)),
                HexBytes(bytes(12) + bytes.fromhex(account.lower().removeprefix("0x"))),
            ],
        }
    )
    for log in logs:
        event = E.decode_event_log(log)
        if (
            event.items.get("positionKey") == position_key
            and event.uint("orderType") == OrderType.LIQUIDATION
        ):
            return event, w3.eth.get_transaction_receipt(log["transactionHash"])
    return None


def wait_outcome(
    w3: Web3,
    event_emitter: str,
    key: bytes,
    from_block: int,
    timeout: float,
    poll_seconds: float = 0.25,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> OrderOutcome | None:
    """Poll for `key`'s outcome until `timeout` seconds have passed; None if the order is still pending."""
    deadline = clock() + timeout
    while True:
        found = find_outcome(w3, event_emitter, key, from_block)
        if found is not None or clock() >= deadline:
            return found
        sleep(poll_seconds)


def token_flow(logs: Any, token: str, holder: str) -> int:
    """`holder`'s net change in ERC-20 `token` within one receipt's Transfer logs (+ received)."""
    token_l, who = token.lower(), bytes(12) + bytes.fromhex(holder.lower().removeprefix("0x"))
    delta = 0
    for entry in logs:
        topics = [bytes(t) for t in entry["topics"]]
        if str(entry["address"]).lower() != token_l or len(topics) != 3 or topics[0] != TRANSFER_TOPIC:
            continue
        data = bytes(entry["data"])
        amount = int.from_bytes(data, "big") if data else 0
        if topics[2] == who:
            delta += amount
        if topics[1] == who:
            delta -= amount
    return delta
