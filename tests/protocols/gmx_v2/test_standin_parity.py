"""The pure execution model (protocols/gmx_v2/execution.py) against the GMX stand-in as the devnet keeper
executes it: a seeded random sequence of several hundred orders on ETH-USD and BTC-USD from several dev
accounts (long and short, USDC and long-token collateral; market and limit increases, partial and full
market decreases, take profits, stop losses, and liquidations after oracle moves), with time warps so
borrowing and funding accrue.

Every transaction the keeper sends is checked on its own: the model is given the state the chain held
just before it (DataStore values through the keys, Reader.getPosition / getOrder, read at the parent
block), the prices in the keeper's oracle params and the block's timestamp, and must predict what the
stand-in did to the unit: the outcome (executed, or cancelled / frozen with the exact reason bytes), the
position (Reader.getPosition), every item of PositionIncrease / PositionDecrease and
PositionFeesCollected, the collateral paid to the receiver, and the market's DataStore state after it.
After each transaction, Reader.getPositionInfo of every open position (both markets) must equal the
model's position_info. Orders left pending must be ones whose trigger the model says is not reached, and
no open position may be one the model says is liquidatable.
"""

from __future__ import annotations

import math
import os
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
import requests
from eth_abi import decode
from eth_utils import to_checksum_address
from web3 import HTTPProvider, Web3

from defibots.chain.calldata import calldata, selector
from defibots.chain.gmx import events as gmx_events
from defibots.chain.gmx.abis import find_entry
from defibots.chain.gmx.model_inputs import (
    NO_VIRTUAL_TOKEN,
    ModelInputs,
    decode_order,
    decode_position,
    model_order,
    model_position,
    parse_ledger,
)
from defibots.chain.gmx.orders import OrderRequest, OrderType, order_multicall
from defibots.chain.gmx.reader import (
    ExecutionPriceResult,
    MarketProps,
    PositionBorrowingFees,
    PositionFees,
    PositionFundingFees,
    PositionInfo,
    PositionLiquidationFees,
    PositionProFees,
    PositionProps,
    PositionReferralFees,
    PositionUiFees,
    decode_result,
    encode_call,
)
from defibots.devnet import gmx_standin as g
from defibots.devnet.gmx_keeper import GmxKeeper
from defibots.devnet.gmx_markets import GmxMarketParams
from defibots.devnet.gmx_oracle import GmxOracle
from defibots.devnet.node import Devnet
from defibots.protocols.gmx_v2 import execution as X
from defibots.protocols.gmx_v2.market import TokenPrices
from defibots.protocols.gmx_v2.position import position_key as gmx_position_key
from defibots.protocols.gmx_v2.precision import unit_price

pytestmark = pytest.mark.devnet

SEED = 20_250_611
ITERATIONS = int(os.environ.get("GMX_PARITY_ITERATIONS", "200"))
FEE = 10**15
USD = 10**30
ZERO_ADDRESS = "0x" + "00" * 20
MAX_PENDING_TRIGGER_ORDERS = 14
MAX_OPEN_POSITIONS = 14

EXECUTE_ORDER = "executeOrder(bytes32,(address[],address[],bytes[]))"
EXECUTE_LIQUIDATION = "executeLiquidation(address,address,address,bool,(address[],address[],bytes[]))"
ORACLE_PARAMS = "(address[],address[],bytes[])"

READER_GET_POSITION_INFO = find_entry("SyntheticsReader", "getPositionInfo")


def _hex(data: bytes | str) -> str:
    return data if isinstance(data, str) else "0x" + data.hex()


# ---- chain reads -----------------------------------------------------------------------------------


class FastRpc:
    """JSON-RPC over one keep-alive session that skips the proxy lookup from the environment (the
    thousands of calls of this test would spend a third of their time there)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.session = requests.Session()
        self.session.trust_env = False

    def _post(self, payload: Any) -> Any:
        response = self.session.post(self.url, json=payload, timeout=60)
        response.raise_for_status()
        return response.json()

    def call(self, method: str, *params: Any) -> Any:
        reply = self._post({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
        assert "error" not in reply, (method, reply["error"])
        return reply["result"]

    def batch(self, calls: Sequence[tuple[str, list[Any]]]) -> list[Any]:
        payload = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)]
        replies = sorted(self._post(payload), key=lambda r: int(r["id"]))
        for reply in replies:
            assert "error" not in reply, reply["error"]
        return [r["result"] for r in replies]


def keeper_web3(url: str) -> Web3:
    """The keeper's connection, without web3's request middleware (its validation asks eth_chainId
    before every call, which doubled the keeper's round trips)."""
    session = requests.Session()
    session.trust_env = False
    return Web3(HTTPProvider(url, session=session, request_kwargs={"timeout": 60}), middleware=[])


class Chain:
    """Batched eth_calls pinned to a block (the model's inputs through chain/gmx/model_inputs.py)."""

    def __init__(self, devnet: Devnet) -> None:
        self.rpc = FastRpc(devnet.http_url)
        self.d = g.deployment()
        self.data_store = self.d["DataStore"]
        self.reader = self.d["SyntheticsReader"]
        self.inputs = ModelInputs(self.rpc, self.reader, self.data_store)

    def call(self, to: str, data: bytes | str, block: int) -> tuple[str, list[Any]]:
        return self.inputs.eth_call(to, data, block)

    def batch(self, calls: Sequence[tuple[str, list[Any]]]) -> list[bytes]:
        return self.inputs.batch(calls)

    def position(self, key: bytes, block: int) -> tuple[str, list[Any]]:
        return self.inputs.position_call(key, block)

    def order(self, key: bytes, block: int) -> tuple[str, list[Any]]:
        return self.inputs.order_call(key, block)

    def position_info(self, key: bytes, prices: X.OraclePrices, block: int) -> tuple[str, list[Any]]:
        abi_prices = tuple((p.min_price, p.max_price) for p in (prices.index, prices.long, prices.short))
        data = encode_call(
            READER_GET_POSITION_INFO, self.data_store, ZERO_ADDRESS, key, abi_prices, 0, ZERO_ADDRESS, True
        )
        return self.call(self.reader, data, block)

    def balance(self, token: str, account: str, block: int) -> tuple[str, list[Any]]:
        return self.call(token, calldata("balanceOf(address)", account), block)


def as_int(raw: bytes) -> int:
    return int.from_bytes(raw, "big")


def market_props(m: GmxMarketParams) -> MarketProps:
    return MarketProps(m.market_token, m.index.address, m.long.address, m.short.address)


# ---- expectations ------------------------------------------------------------------------------------


def position_event_items(ex: X.Execution, prices: X.OraclePrices) -> dict[str, Any]:
    p = ex.position
    cp = ex.fees.collateral_token_price
    return {
        "sizeInUsd": p.size_in_usd,
        "sizeInTokens": p.size_in_tokens,
        "collateralAmount": p.collateral_amount,
        "borrowingFactor": p.borrowing_factor,
        "fundingFeeAmountPerSize": p.funding_fee_amount_per_size,
        "longTokenClaimableFundingAmountPerSize": p.long_token_claimable_funding_amount_per_size,
        "shortTokenClaimableFundingAmountPerSize": p.short_token_claimable_funding_amount_per_size,
        "executionPrice": ex.execution_price,
        "indexTokenPrice.max": prices.index.max_price,
        "indexTokenPrice.min": prices.index.min_price,
        "collateralTokenPrice.max": cp.max_price,
        "collateralTokenPrice.min": cp.min_price,
        "sizeDeltaUsd": ex.size_delta_usd,
        "sizeDeltaInTokens": ex.size_delta_in_tokens,
        "orderType": ex.order_type,
        "increasedAtTime": p.increased_at_time,
        "decreasedAtTime": p.decreased_at_time,
        "priceImpactDiffUsd": ex.price_impact_diff_usd,
        "collateralDeltaAmount": ex.collateral_delta_amount,
        "priceImpactUsd": ex.price_impact_usd,
        "priceImpactAmount": ex.price_impact_amount,
        "basePnlUsd": ex.base_pnl_usd,
        "uncappedBasePnlUsd": ex.uncapped_base_pnl_usd,
        "proportionalPendingImpactUsd": ex.proportional_pending_impact_usd,
        "isLong": p.is_long,
    }


def fee_event_items(ex: X.Execution) -> dict[str, Any]:
    f = ex.fees
    return {
        "collateralTokenPrice.min": f.collateral_token_price.min_price,
        "collateralTokenPrice.max": f.collateral_token_price.max_price,
        "tradeSizeUsd": ex.size_delta_usd,
        "fundingFeeAmount": f.funding_fee_amount,
        "claimableFundingAmount": f.funding_received_amount,
        "borrowingFeeUsd": f.borrowing_fee_usd,
        "borrowingFeeAmount": f.borrowing_fee_amount,
        "positionFeeFactor": f.position_fee_factor,
        "positionFeeAmount": f.position_fee_amount,
        "feeAmountForPool": f.fee_amount_for_pool,
        "totalCostAmount": f.total_cost_amount,
        "isIncrease": ex.is_increase,
    }


def expected_reader_info(key: bytes, props: PositionProps, e: X.ExpectedPositionInfo) -> PositionInfo:
    """ReaderPositionUtils.PositionInfo as the stand-in fills it, from the model (the rest zero)."""
    fees = PositionFees(
        referral=PositionReferralFees(bytes(32), ZERO_ADDRESS, props.account, 0, 0, 0, 0, 0, 0, 0),
        pro=PositionProFees(0, 0, 0),
        funding=PositionFundingFees(
            e.funding_fee_amount,
            e.claimable_long_token_amount,
            e.claimable_short_token_amount,
            e.latest_funding_fee_amount_per_size,
            e.latest_long_token_claimable_funding_amount_per_size,
            0,
        ),
        borrowing=PositionBorrowingFees(e.borrowing_fee_usd, e.borrowing_fee_amount, 0, 0),
        ui=PositionUiFees(ZERO_ADDRESS, 0, 0),
        liquidation=PositionLiquidationFees(0, 0, 0, 0),
        collateral_token_price=e.collateral_token_price,
        position_fee_factor=e.position_fee_factor,
        protocol_fee_amount=0,
        position_fee_receiver_factor=0,
        fee_receiver_amount=0,
        fee_amount_for_pool=e.fee_amount_for_pool,
        position_fee_amount_for_pool=e.position_fee_amount,
        position_fee_amount=e.position_fee_amount,
        total_cost_amount_excluding_funding=e.total_cost_amount_excluding_funding,
        total_cost_amount=e.total_cost_amount,
        total_discount_amount=0,
    )
    execution = ExecutionPriceResult(
        e.price_impact_usd,
        e.execution_price,
        e.balance_was_improved,
        e.proportional_pending_impact_usd,
        e.total_impact_usd,
        e.price_impact_diff_usd,
    )
    return PositionInfo(
        key, props, fees, execution, e.base_pnl_usd, e.uncapped_base_pnl_usd, e.pnl_after_price_impact_usd
    )


# ---- the world ---------------------------------------------------------------------------------------


@dataclass
class Tracked:
    """A position the test opened: where it lives and its last state read from the chain."""

    key: bytes
    market: GmxMarketParams
    state: X.Position


@dataclass
class Pending:
    key: bytes
    market: GmxMarketParams
    order_type: int
    is_long: bool
    trigger_price: int


class World:
    def __init__(self, devnet: Devnet, rng: random.Random) -> None:
        self.devnet = devnet
        self.rng = rng
        self.chain = Chain(devnet)
        self.d = self.chain.d
        self.oracle = GmxOracle(self.d.markets, self.d.oracle_provider, spread_bps=Decimal(6))
        self.keeper = GmxKeeper(keeper_web3(devnet.http_url), self.d, self.oracle)
        self.markets = list(self.d.markets.markets)
        self.symbol = {m.name: m.long.symbol for m in self.markets}  # the token whose price moves the index
        self.base = {sym: self.oracle.usd(sym) for sym in self.symbol.values()}
        self.accounts = [a.address for a in devnet.accounts[1:5]]
        block = devnet.block_number()
        self.model_markets = {m.name: self.chain.inputs.market(market_props(m), block) for m in self.markets}
        for model_market in self.model_markets.values():
            assert model_market.virtual_token_id == NO_VIRTUAL_TOKEN, (
                "the parity run covers no virtual inventory: the stand-in seeds no virtual token id"
            )
        self.params = {name: mm.parameters for name, mm in self.model_markets.items()}
        self.positions: dict[bytes, Tracked] = {}
        self.pending: dict[bytes, Pending] = {}
        self.counts: Counter[str] = Counter()
        self.checked_infos = 0
        for account in self.accounts:
            for token in {t.address for m in self.markets for t in (m.long, m.short)}:
                self.send(
                    account,
                    token,
                    calldata("approve(address,uint256)", self.d["SyntheticsRouter"], 2**256 - 1),
                )

    # -- transactions --

    def send(self, sender: str, to: str, data: bytes | str, value: int = 0) -> dict[str, Any]:
        tx = {"from": sender, "to": to_checksum_address(to), "data": _hex(data), "value": hex(value)}
        tx_hash = self.chain.rpc.call("eth_sendTransaction", tx)
        receipt: dict[str, Any] | None = None
        while receipt is None:  # automined, but the receipt can lag the hash by a moment
            receipt = self.chain.rpc.call("eth_getTransactionReceipt", tx_hash)
        assert int(receipt["status"], 16) == 1
        return receipt

    def prices(self, m: GmxMarketParams) -> X.OraclePrices:
        def tp(address: str) -> TokenPrices:
            p = self.oracle.price(address)
            return TokenPrices(p.min, p.max)

        return X.OraclePrices(tp(m.index.address), tp(m.long.address), tp(m.short.address))

    def place(self, request: OrderRequest, m: GmxMarketParams, sender: str) -> None:
        call = order_multicall(self.d["OrderVault"], request)
        receipt = self.send(sender, self.d["ExchangeRouter"], call.data, call.value)
        (key,) = gmx_events.created_order_keys(receipt["logs"], self.d["EventEmitter"])
        if not request.order_type.is_market:
            self.pending[key] = Pending(
                key, m, int(request.order_type), request.is_long, request.trigger_price
            )

    # -- one keeper step, every transaction checked --

    def keeper_step(self) -> None:
        first = self.devnet.block_number() + 1
        self.keeper.step()
        last = self.devnet.block_number()
        for block in range(first, last + 1):
            self.check_block(block, every_position=block == last)
        self.check_nothing_left(last)

    def check_block(self, b: int, every_position: bool) -> None:
        rpc, chain = self.chain.rpc, self.chain
        blk = rpc.call("eth_getBlockByNumber", hex(b), True)
        (tx,) = blk["transactions"]
        now = int(blk["timestamp"], 16)
        receipt = rpc.call("eth_getTransactionReceipt", tx["hash"])
        assert int(receipt["status"], 16) == 1
        assert to_checksum_address(tx["to"]) == self.d["OrderHandler"]
        data = bytes.fromhex(tx["input"][2:])
        logs = receipt["logs"]
        if data[:4] == selector(EXECUTE_ORDER):
            order_key, oracle_params = decode(["bytes32", ORACLE_PARAMS], data[4:])
            (raw_order,) = chain.batch([chain.order(order_key, b - 1)])
            props = decode_order(order_key, raw_order)
            m = next(x for x in self.markets if x.market_token == to_checksum_address(props.market))
            order = model_order(props)
            position_key = gmx_position_key(
                order.account, m.market_token, order.collateral_token, order.is_long
            )
            receiver = props.receiver
        else:
            assert data[:4] == selector(EXECUTE_LIQUIDATION)
            account, market, collateral, is_long, oracle_params = decode(
                ["address", "address", "address", "bool", ORACLE_PARAMS], data[4:]
            )
            m = next(x for x in self.markets if x.market_token == to_checksum_address(market))
            order = None
            position_key = gmx_position_key(account, market, collateral, is_long)
            receiver = account
        prices = self.params_prices(m, oracle_params)
        assert prices == self.prices(m), "the keeper executes at the oracle's prices"
        params = self.params[m.name]
        tracked = self.positions.get(position_key)
        collateral_token = order.collateral_token if order is not None else collateral.lower()

        # the state just before the transaction
        model_market = self.model_markets[m.name]
        ledger_calls = chain.inputs.ledger_calls(model_market, b - 1)
        n = len(ledger_calls)
        pre = chain.batch(
            [
                *ledger_calls,
                chain.position(position_key, b - 1),
                chain.balance(collateral_token, receiver, b - 1),
            ]
        )
        ledger_before = parse_ledger(model_market, pre[:n])
        position_before = model_position(decode_position(pre[n]))
        balance_before = as_int(pre[-1])
        if tracked is not None and position_before is not None:
            assert position_before == tracked.state

        # the model's prediction
        rejected: X.OrderRejected | None = None
        ex: X.Execution | None = None
        if order is not None:
            assert X.trigger_reached(order.order_type, order.is_long, order.trigger_price, prices.index)
            try:
                ex = X.execute_order(params, ledger_before, position_before, order, prices, now)
            except X.OrderRejected as exc:
                rejected = exc
        else:
            ex = X.liquidate(params, ledger_before, position_before, prices, now)

        # the state after it
        others = [t for t in self.positions.values() if t.key != position_key]
        post_calls = chain.inputs.ledger_calls(model_market, b)
        post_calls += [chain.position(position_key, b), chain.balance(collateral_token, receiver, b)]
        post = chain.batch(post_calls)
        ledger_after = parse_ledger(model_market, post[:n])
        position_after = model_position(decode_position(post[n]))
        balance_after = as_int(post[-1])

        if order is not None:
            outcome = gmx_events.order_outcome(logs, order_key, self.d["EventEmitter"])
            assert outcome is not None
            self.pending.pop(order_key, None)
            if rejected is not None:
                expected = "OrderCancelled" if order.order_type in X.MARKET_TYPES else "OrderFrozen"
                assert outcome.name == expected, (rejected, outcome.items.get("reason"))
                assert outcome.raw("reasonBytes") == bytes.fromhex(
                    calldata(rejected.error, *rejected.values)[2:]
                )
                assert ledger_after == ledger_before
                assert position_after == position_before
                self.counts[f"rejected {rejected.name}"] += 1
                self.counts["cancelled" if expected == "OrderCancelled" else "frozen"] += 1
                self.check_infos(b, now, None if every_position else position_key)
                return
            assert outcome.name == "OrderExecuted", outcome.items
        assert ex is not None

        assert ledger_after == ex.ledger
        assert position_after == (None if ex.closed else ex.position)
        name = "PositionIncrease" if ex.is_increase else "PositionDecrease"
        (position_event,) = gmx_events.events_named(logs, name, self.d["EventEmitter"])
        expected_items = position_event_items(ex, prices)
        assert {k: position_event.items[k] for k in expected_items} == expected_items
        (fee_event,) = gmx_events.events_named(logs, "PositionFeesCollected", self.d["EventEmitter"])
        expected_fees = fee_event_items(ex)
        assert {k: fee_event.items[k] for k in expected_fees} == expected_fees
        assert balance_after - balance_before == ex.output_amount

        if ex.closed:
            self.positions.pop(position_key, None)
        else:
            self.positions[position_key] = Tracked(position_key, m, ex.position)
        self.count(ex, position_before)
        assert {t.key for t in others} <= set(self.positions)
        self.check_infos(b, now, None if every_position else position_key)

    def count(self, ex: X.Execution, before: X.Position | None) -> None:
        kind = {
            X.MARKET_INCREASE: "market increase",
            X.LIMIT_INCREASE: "limit increase",
            X.MARKET_DECREASE: "full decrease" if ex.closed else "partial decrease",
            X.LIMIT_DECREASE: "take profit",
            X.STOP_LOSS_DECREASE: "stop loss",
            X.LIQUIDATION: "liquidation",
        }[ex.order_type]
        self.counts[kind] += 1
        if ex.fees.borrowing_fee_amount > 0:
            self.counts["with borrowing fee"] += 1
        if ex.fees.funding_fee_amount > 0:
            self.counts["with funding paid"] += 1
        if ex.fees.funding_received_amount > 0:
            self.counts["with funding received"] += 1
        if ex.price_impact_usd > 0:
            self.counts["with positive impact"] += 1
        if ex.price_impact_usd < 0:
            self.counts["with negative impact"] += 1
        if before is not None and ex.is_increase:
            self.counts["increase of an open position"] += 1
        if ex.base_pnl_usd > 0:
            self.counts["closed at a profit"] += 1

    def params_prices(self, m: GmxMarketParams, oracle_params: Any) -> X.OraclePrices:
        tokens, providers, blobs = oracle_params
        assert set(providers) == {self.d.oracle_provider.lower()}
        by_token = {}
        for token, blob in zip(tokens, blobs, strict=True):
            low, high = decode(["uint256", "uint256"], blob)
            by_token[to_checksum_address(token)] = TokenPrices(low, high)
        return X.OraclePrices(by_token[m.index.address], by_token[m.long.address], by_token[m.short.address])

    def check_infos(self, b: int, now: int, only: bytes | None) -> None:
        """Reader.getPositionInfo of every open position (both markets; or just `only`'s, if open) at
        block `b` equals the model's."""
        chain = self.chain
        tracked = [t for t in self.positions.values() if only is None or t.key == only]
        calls: list[tuple[str, list[Any]]] = []
        sizes = {}
        for m in self.markets:
            ledger_calls = chain.inputs.ledger_calls(self.model_markets[m.name], b)
            sizes[m.name] = len(ledger_calls)
            calls += ledger_calls
        for t in tracked:
            calls += [chain.position(t.key, b), chain.position_info(t.key, self.prices(t.market), b)]
        raw = chain.batch(calls)
        ledgers = {}
        at = 0
        for m in self.markets:
            n = sizes[m.name]
            ledgers[m.name] = parse_ledger(self.model_markets[m.name], raw[at : at + n])
            at += n
        for t in tracked:
            props = decode_position(raw[at])
            (info_value,) = decode_result(READER_GET_POSITION_INFO, raw[at + 1])
            at += 2
            position = model_position(props)
            assert position == t.state
            params = self.params[t.market.name]
            expected = X.position_info(params, ledgers[t.market.name], position, self.prices(t.market), now)
            assert expected is not None
            assert PositionInfo.from_abi(info_value) == expected_reader_info(t.key, props, expected)
            self.checked_infos += 1

    def check_nothing_left(self, block: int) -> None:
        """After the keeper's step: no pending order is triggerable and no position liquidatable."""
        for p in self.pending.values():
            assert not X.trigger_reached(
                p.order_type, p.is_long, p.trigger_price, self.prices(p.market).index
            )
        now = int(self.chain.rpc.call("eth_getBlockByNumber", hex(block), False)["timestamp"], 16)
        for m in self.markets:
            ledger = self.ledger(m, block)
            for t in self.positions.values():
                if t.market is m:
                    r = X.is_liquidatable(self.params[m.name], ledger, t.state, self.prices(m), now)
                    assert not r.liquidatable, (t, r)

    def ledger(self, m: GmxMarketParams, block: int) -> X.MarketLedger:
        return self.chain.inputs.ledger(self.model_markets[m.name], block)

    # -- the random driver --

    def warp(self) -> None:
        seconds = self.rng.choice([0, 15, 120, 900, 3600, 4 * 3600, 86_400, 3 * 86_400])
        if seconds:
            self.devnet.rpc("evm_increaseTime", seconds)
            self.devnet.rpc("evm_mine")

    def move_price(self, m: GmxMarketParams, move: Decimal | None = None) -> None:
        sym = self.symbol[m.name]
        mid = self.oracle.usd(sym)
        if move is None:
            pull = (self.base[sym] - mid) / mid * Decimal("0.2")
            move = Decimal(str(round(self.rng.uniform(-0.012, 0.012), 5))) + pull
        self.oracle.set_usd(sym, (mid * (1 + move)).quantize(Decimal("0.01")))

    def index_price(self, m: GmxMarketParams, usd: Decimal) -> int:
        return unit_price(usd, m.index.decimals)

    def mid(self, m: GmxMarketParams) -> Decimal:
        return self.oracle.usd(self.symbol[m.name])

    def request(self, m: GmxMarketParams, account: str, kind: OrderType, is_long: bool, collateral: str,
                size_usd: int, amount: int, acceptable: int, trigger: int = 0) -> OrderRequest:  # fmt: skip
        return OrderRequest(
            market=m.market_token,
            initial_collateral_token=collateral,
            order_type=kind,
            is_long=is_long,
            size_delta_usd=size_usd,
            initial_collateral_delta_amount=amount,
            acceptable_price=acceptable,
            trigger_price=trigger,
            execution_fee=FEE,
            receiver=account,
        )

    def increase(self, kind: OrderType) -> None:
        rng = self.rng
        m = rng.choice(self.markets)
        account = rng.choice(self.accounts)
        is_long = rng.random() < 0.55
        token = m.long if rng.random() < 0.35 else m.short
        t = self.open_position()
        if t is not None and (len(self.positions) >= MAX_OPEN_POSITIONS or rng.random() < 0.25):
            m, account, is_long = t.market, to_checksum_address(t.state.account), t.state.is_long
            token = m.long if m.long.address.lower() == t.state.collateral_token else m.short
        size = int(math.exp(rng.uniform(math.log(800), math.log(250_000))))
        leverage = rng.uniform(1.5, 45.0)
        if rng.random() < 0.04:
            size = 0  # a collateral top-up
        collateral_usd = Decimal(max(size, 2_000)) / Decimal(str(leverage))
        token_usd = self.oracle.usd(token.symbol)
        amount = int(collateral_usd / token_usd * 10**token.decimals)
        mid = self.mid(m)
        trigger = 0
        if kind is OrderType.LIMIT_INCREASE:
            away = Decimal(str(round(rng.uniform(-0.004, 0.015), 5)))  # negative: triggerable at once
            trigger_usd = mid * (1 - away) if is_long else mid * (1 + away)
            trigger = self.index_price(m, trigger_usd)
            mid = trigger_usd
        slack = Decimal("1.03") if is_long else Decimal("0.97")
        if rng.random() < 0.05:
            slack = Decimal("0.98") if is_long else Decimal("1.02")  # not fillable: cancelled or frozen
        acceptable = self.index_price(m, mid * slack)
        request = self.request(
            m, account, kind, is_long, token.address, size * USD, amount, acceptable, trigger
        )
        self.place(request, m, account)

    def open_position(self) -> Tracked | None:
        if not self.positions:
            return None
        return self.rng.choice(sorted(self.positions.values(), key=lambda t: t.key))

    def decrease(self) -> None:
        rng = self.rng
        t = self.open_position()
        if t is None:
            return self.increase(OrderType.MARKET_INCREASE)
        p, m = t.state, t.market
        full = rng.random() < 0.35
        size = p.size_in_usd if full else int(p.size_in_usd * rng.uniform(0.1, 0.9))
        withdraw = 0 if full or rng.random() < 0.7 else int(p.collateral_amount * rng.uniform(0.05, 0.6))
        slack = Decimal("0.97") if p.is_long else Decimal("1.03")
        if rng.random() < 0.04:
            slack = Decimal("1.02") if p.is_long else Decimal("0.98")  # not fillable: cancelled
        acceptable = self.index_price(m, self.mid(m) * slack)
        owner, collateral = to_checksum_address(p.account), to_checksum_address(p.collateral_token)
        request = self.request(
            m, owner, OrderType.MARKET_DECREASE, p.is_long, collateral, size, withdraw, acceptable
        )
        self.place(request, m, to_checksum_address(p.account))

    def trigger_decrease(self, kind: OrderType) -> None:
        rng = self.rng
        t = self.open_position()
        if t is None or len(self.pending) >= MAX_PENDING_TRIGGER_ORDERS:
            return self.increase(OrderType.MARKET_INCREASE)
        p, m = t.state, t.market
        size = p.size_in_usd if rng.random() < 0.6 else int(p.size_in_usd * rng.uniform(0.2, 0.8))
        away = Decimal(str(round(rng.uniform(0.001, 0.008), 5)))
        gain = kind is OrderType.LIMIT_DECREASE
        up = gain == p.is_long  # a long's take profit and a short's stop loss sit above the price
        trigger_usd = self.mid(m) * (1 + away if up else 1 - away)
        if gain:
            acceptable_usd = trigger_usd * (Decimal("0.97") if p.is_long else Decimal("1.03"))
            acceptable = self.index_price(m, acceptable_usd)
        else:
            acceptable = 0 if p.is_long else 2**200
        owner, collateral = to_checksum_address(p.account), to_checksum_address(p.collateral_token)
        trigger = self.index_price(m, trigger_usd)
        request = self.request(m, owner, kind, p.is_long, collateral, size, 0, acceptable, trigger)
        self.place(request, m, to_checksum_address(p.account))

    def crash(self) -> None:
        """Moves one market's price just past a position's liquidation price (found with the model)."""
        t = self.open_position()
        if t is None:
            return
        m, p = t.market, t.state
        params, sym = self.params[m.name], self.symbol[m.name]
        block = self.devnet.block_number()
        ledger = self.ledger(m, block)
        now = int(self.chain.rpc.call("eth_getBlockByNumber", hex(block), False)["timestamp"], 16) + 1
        start = self.mid(m)

        def liquidatable_at(move: Decimal) -> bool:
            self.oracle.set_usd(sym, (start * (1 + move)).quantize(Decimal("0.01")))
            return X.is_liquidatable(params, ledger, p, self.prices(m), now).liquidatable

        sign = Decimal(-1) if p.is_long else Decimal(1)
        if not liquidatable_at(sign * Decimal("0.12")):
            self.oracle.set_usd(sym, start)
            return
        low, high = Decimal(0), Decimal("0.12")
        for _ in range(24):
            mid = (low + high) / 2
            low, high = (low, mid) if liquidatable_at(sign * mid) else (mid, high)
        liquidatable_at(sign * (high + Decimal("0.0015")))

    def run(self, iterations: int) -> None:
        """Each iteration: maybe a time warp and a price move, then a crash or one to three orders, then
        one keeper step (which executes whatever is ready and liquidates)."""
        rng = self.rng
        for _ in range(iterations):
            if rng.random() < 0.5:
                self.warp()
            if rng.random() < 0.5:
                self.move_price(rng.choice(self.markets))
            if rng.random() < 0.08:
                self.crash()
            else:
                for _ in range(rng.choice((1, 2, 2, 3))):
                    self.place_random_order()
            self.keeper_step()

    def place_random_order(self) -> None:
        roll = self.rng.random()
        if roll < 0.34:
            self.increase(OrderType.MARKET_INCREASE)
        elif roll < 0.44:
            self.increase(OrderType.LIMIT_INCREASE)
        elif roll < 0.68:
            self.decrease()
        elif roll < 0.84:
            self.trigger_decrease(OrderType.LIMIT_DECREASE)
        else:
            self.trigger_decrease(OrderType.STOP_LOSS_DECREASE)


def test_keeper_executions_match_the_model_to_the_unit(arb_devnet: Devnet) -> None:
    started = time.monotonic()
    world = World(arb_devnet, random.Random(SEED))
    world.run(ITERATIONS)
    counts = world.counts
    elapsed = time.monotonic() - started
    print(
        f"\n{ITERATIONS} iterations in {elapsed:.1f}s, {world.checked_infos} position infos: {dict(counts)}"
    )
    increases = counts["market increase"] + counts["limit increase"]
    decreases = counts["partial decrease"] + counts["full decrease"]
    assert increases >= 50 and counts["limit increase"] >= 10
    assert decreases >= 50 and counts["partial decrease"] >= 10 and counts["full decrease"] >= 10
    assert counts["take profit"] >= 10
    assert counts["stop loss"] >= 10
    assert counts["liquidation"] >= 5
    assert counts["cancelled"] >= 3 and counts["frozen"] >= 1
    assert counts["increase of an open position"] >= 10
    for accrued in ("with borrowing fee", "with funding paid", "with funding received"):
        assert counts[accrued] >= 10, accrued
    assert counts["with positive impact"] >= 5 and counts["with negative impact"] >= 5
    assert counts["closed at a profit"] >= 10
    assert world.checked_infos >= 1_000
