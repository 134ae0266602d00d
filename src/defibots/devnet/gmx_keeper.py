"""The devnet's GMX keeper: executes the stand-in's pending orders at the local oracle's prices once they
are `delay_seconds` old, as GMX's keepers do (market orders at once; limit, take-profit and stop-loss
orders when their trigger price is reached), and liquidates positions below their minimum collateral.

It decides nothing itself: each candidate is simulated (`eth_call` of executeOrder / executeLiquidation)
and sent only if the stand-in accepts it, so a trigger price not reached yet (InvalidOrderPrices) leaves
the order pending, exactly as on GMX. A frozen order stays with the keeper, as with GMX's frozen-order
keepers: it is simulated with its logs (`eth_simulateV1`) and sent only once it would execute, since the
outer call succeeds whenever the order would only freeze again. Sent as the keeper through anvil's
impersonation, which is also how a fork of real GMX is driven (impersonate a real ORDER_KEEPER; see the
README).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import ContractCustomError, ContractLogicError
from web3.types import RPCEndpoint

from defibots.chain.calldata import calldata
from defibots.chain.gmx import events as gmx_events
from defibots.chain.gmx.orders import OrderType
from defibots.chain.gmx.reader import GmxReader
from defibots.devnet.gmx_markets import GmxMarketParams
from defibots.devnet.gmx_oracle import GmxOracle
from defibots.devnet.gmx_standin import GmxDeployment

EXECUTE_ORDER = "executeOrder(bytes32,(address[],address[],bytes[]))"
EXECUTE_LIQUIDATION = "executeLiquidation(address,address,address,bool,(address[],address[],bytes[]))"
KEEPER_GAS = 12_000_000
"""A fixed, generous gas limit: an estimate would find the smallest gas at which the outer call succeeds,
which can be the one where the execution inside its try runs out of gas and the order is frozen."""
ORDER_CREATED = keccak(text="OrderCreated")
"""topic1 of an EventLog2: keccak256 of the event name (an indexed string)."""
EMPTY_ORDER = "0x" + keccak(text="EmptyOrder()")[:4].hex()


@dataclass
class KeeperStats:
    executed: int = 0
    cancelled: int = 0
    frozen: int = 0
    liquidated: int = 0
    waiting: int = 0
    outcomes: list[gmx_events.GmxEvent] = field(default_factory=list)


@dataclass
class _Pending:
    key: bytes
    account: str
    created_at: int
    frozen: bool = False


class GmxKeeper:
    """One `step()` per poll: pick up new orders, execute the ready ones, liquidate what is liquidatable."""

    def __init__(
        self,
        w3: Web3,
        deployment: GmxDeployment,
        oracle: GmxOracle,
        delay_seconds: float = 0.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.w3 = w3
        self.d = deployment
        self.oracle = oracle
        self.delay_seconds = delay_seconds
        self.clock = clock
        self.reader = GmxReader(w3, deployment["SyntheticsReader"], deployment["DataStore"])
        self.stats = KeeperStats()
        self._pending: dict[bytes, _Pending] = {}
        self._accounts: set[str] = set()
        self._from_block = 0
        self._markets: dict[str, GmxMarketParams] = {m.market_token: m for m in deployment.markets.markets}

    def step(self) -> KeeperStats:
        self._scan()
        now = self._now()
        for order in list(self._pending.values()):
            if order.created_at + self.delay_seconds > now:
                continue
            self._try_execute(order)
        self.stats.waiting = len(self._pending)
        self._liquidate()
        return self.stats

    # -- orders --

    def _scan(self) -> None:
        latest = self.w3.eth.block_number
        if latest < self._from_block:
            return
        logs = self.w3.eth.get_logs(
            {
                "address": self.d["EventEmitter"],
                "fromBlock": self._from_block,
                "toBlock": latest,
                "topics": [HexBytes(gmx_events.event_log_topics()["EventLog2"]), HexBytes(ORDER_CREATED)],
            }
        )
        for log in logs:
            event = gmx_events.decode_event_log(log)
            if event.topic1 is None or event.items.get("orderType") == OrderType.LIQUIDATION:
                continue  # a liquidation is created and executed in the keeper's own transaction
            key = event.topic1
            account = to_checksum_address(event.items["account"])
            self._accounts.add(account)
            created = int(self.w3.eth.get_block(log["blockNumber"])["timestamp"])
            self._pending.setdefault(key, _Pending(key, account, created))
        self._from_block = latest + 1

    def _try_execute(self, order: _Pending) -> None:
        tokens = self._order_tokens(order)
        data = calldata(EXECUTE_ORDER, order.key, self.oracle.set_prices_params(tokens))
        if order.frozen:
            ok, revert, logs = self._simulate_with_logs(self.d["OrderHandler"], data)
            ok = ok and _outcome_name(logs, order.key) == "OrderExecuted"  # else it would freeze again
        else:
            ok, revert = self._simulate(self.d["OrderHandler"], data)
        if not ok:
            if revert.startswith(EMPTY_ORDER):  # executed, cancelled by its owner, or gone
                del self._pending[order.key]
            return  # not triggerable yet (or still failing): stays pending
        receipt = self._send(self.d["OrderHandler"], data)
        outcome = gmx_events.order_outcome(receipt["logs"], order.key)
        order.frozen = outcome is not None and outcome.name == "OrderFrozen"
        if not order.frozen:
            del self._pending[order.key]
        if outcome is not None:
            self.stats.outcomes.append(outcome)
            if outcome.name == "OrderExecuted":
                self.stats.executed += 1
            elif outcome.name == "OrderCancelled":
                self.stats.cancelled += 1
            elif outcome.name == "OrderFrozen":
                self.stats.frozen += 1

    def _order_tokens(self, order: _Pending) -> list[str]:
        market = self._markets.get(self.reader.order(order.key).market)
        if market is None:  # gone (a zeroed order) or not ours: price everything, the simulation decides
            return list(self.oracle.tokens)
        return [market.index.address, market.long.address, market.short.address]

    # -- liquidations --

    def _liquidate(self) -> None:
        for account in sorted(self._accounts):
            for p in self.reader.account_positions(account):
                m = self._markets.get(p.market)
                if m is None:
                    continue
                params = self.oracle.set_prices_params([m.index.address, m.long.address, m.short.address])
                data = calldata(EXECUTE_LIQUIDATION, account, p.market, p.collateral_token, p.is_long, params)
                ok, _ = self._simulate(self.d["OrderHandler"], data)
                if ok:
                    self._send(self.d["OrderHandler"], data)
                    self.stats.liquidated += 1

    # -- chain --

    def _now(self) -> float:
        return max(self.clock(), float(self.w3.eth.get_block("latest")["timestamp"]))

    def _simulate(self, to: str, data: str) -> tuple[bool, str]:
        """(accepted, revert data as 0x hex)."""
        try:
            self.w3.eth.call({"from": self.d.keeper, "to": to_checksum_address(to), "data": data})  # type: ignore[typeddict-item]
        except ContractCustomError as exc:
            return False, str(exc.data)
        except ContractLogicError as exc:
            return False, str(exc.data or "")
        return True, ""

    def _simulate_with_logs(self, to: str, data: str) -> tuple[bool, str, list[dict[str, Any]]]:
        """(accepted, revert data as 0x hex, the logs it would emit), as the keeper at the latest block."""
        call = {"from": self.d.keeper, "to": to_checksum_address(to), "data": data, "gas": hex(KEEPER_GAS)}
        params = [{"blockStateCalls": [{"calls": [call]}], "validation": False}, "latest"]
        reply = self.w3.provider.make_request(RPCEndpoint("eth_simulateV1"), params)
        if "error" in reply:
            raise RuntimeError(f"eth_simulateV1 failed: {reply['error']}")
        (result,) = reply["result"][0]["calls"]
        if int(result["status"], 16) != 1:
            return False, str(result.get("returnData") or "0x"), []
        return True, "", list(result.get("logs") or [])

    def _send(self, to: str, data: str) -> Any:
        self.w3.provider.make_request("anvil_impersonateAccount", [self.d.keeper])  # type: ignore[arg-type]
        tx = {"from": self.d.keeper, "to": to_checksum_address(to), "data": data, "gas": KEEPER_GAS}
        tx_hash = self.w3.eth.send_transaction(tx)  # type: ignore[arg-type]
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30, poll_latency=0.01)
        if receipt["status"] != 1:  # it was simulated at the same state: a revert here is the node's doing
            raise RuntimeError(f"keeper tx {tx_hash.hex()} reverted after a clean simulation")
        return receipt


def _outcome_name(logs: list[dict[str, Any]], key: bytes) -> str | None:
    outcome = gmx_events.order_outcome(logs, key)
    return None if outcome is None else outcome.name
