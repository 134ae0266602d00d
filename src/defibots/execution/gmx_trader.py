"""GMX V2 perps for one signer: plan an open / close / cancel at the oracle's prices, simulate the exact
transactions, and only then (execute) send them, follow each order to the keeper's outcome, retry a
cancelled market order within a budget, and journal every step.

- Markets are discovered on chain (Reader.getMarkets) and named by their index token ("ETH", "BTC").
- Prices come from the oracle keeper's `/prices/tickers`; acceptable prices are the mark with slippage,
  as the SDK's applySlippageToPrice sets them.
- Shadow first: a plan carries the eth_simulateV1 result of [approve (if needed), multicall]. Executing
  repeats an eth_call of each exact transaction right before it is signed and sent.
- Journal (strategy "gmx_perp"): a Send and a Receipt per transaction; an Order per GMX order (key as
  client order id) moved to filled / canceled / rejected by its outcome, with a Fill (execution price,
  size, position + borrowing + funding fees) when executed; the Position and a snapshot per execution;
  and StrategyPnl entries that are exactly the wallet's flows (see gmx_journal.WALLET_KINDS).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from eth_abi import decode as abi_decode
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address
from web3 import HTTPProvider, Web3
from web3.types import TxReceipt

from defibots.chain.calldata import calldata
from defibots.chain.gmx import keys as K
from defibots.chain.gmx.deployment import GmxDeployment, GmxToken, gmx_deployment, market_name
from defibots.chain.gmx.events import created_order_keys
from defibots.chain.gmx.oracle_client import GmxOracleClient
from defibots.chain.gmx.orders import (
    ExchangeRouterCall,
    OrderRequest,
    OrderType,
    acceptable_price,
    cancel_orders_multicall,
    order_multicall,
)
from defibots.chain.gmx.reader import GmxReader, MarketPrices, MarketProps, PositionInfo, PositionProps
from defibots.chain.gmx.reasons import describe_reason
from defibots.chain.rpc import JsonRpc
from defibots.config import GmxSettings
from defibots.errors import UserError
from defibots.execution.gmx_journal import GmxJournal, OrderRef
from defibots.execution.gmx_lifecycle import OrderOutcome, RetryPolicy, find_liquidation, wait_outcome
from defibots.protocols.gmx_v2.fees import borrowing_factor_per_period, funding_factor_per_period
from defibots.protocols.gmx_v2.market import Market, MarketConfig, MarketState, Token, TokenPrices
from defibots.protocols.gmx_v2.position import liquidation_price, position_key
from defibots.protocols.gmx_v2.precision import FLOAT_PRECISION, apply_factor, unit_price, usd_price

USD = FLOAT_PRECISION
MAX_UINT = 2**256 - 1
HOUR = 3600
DEFAULT_BASE_GAS = 2_000_000
"""Gas units an execution fee pays for when the DataStore lists no ESTIMATED_GAS_FEE_BASE_AMOUNT_V2_1."""

Notify = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


@dataclass(frozen=True)
class GmxMarket:
    """A market found on chain, with its tokens from the deployment's list."""

    name: str
    props: MarketProps
    index: GmxToken
    long: GmxToken
    short: GmxToken

    @property
    def address(self) -> str:
        return self.props.market_token

    def collateral(self, name: str) -> GmxToken | None:
        wanted = name.upper()
        for t in (self.long, self.short):
            if t.name.upper() == wanted or t.symbol.upper() == wanted:
                return t
        return None


@dataclass(frozen=True)
class MarketSummary:
    market: GmxMarket
    index_price: TokenPrices
    """Contract units: USD x 1e30 per smallest index unit."""
    long_open_interest_usd: int
    short_open_interest_usd: int
    max_leverage: Decimal
    borrowing_per_hour_long: int
    borrowing_per_hour_short: int
    funding_per_hour_long: int
    """Factor (1e30) a long earns (+) or pays (-) per hour on its size."""
    funding_per_hour_short: int


@dataclass(frozen=True)
class TxCall:
    what: str
    to: str
    data: bytes
    value: int = 0


@dataclass(frozen=True)
class Simulated:
    what: str
    ok: bool
    gas_used: int
    error: str = ""


@dataclass(frozen=True)
class OrderPlan:
    """What a command would send, and what the chain said when it was simulated."""

    kind: str  # "open" | "close" | "cancel"
    account: str
    market: GmxMarket | None
    is_long: bool
    collateral: GmxToken | None
    collateral_amount: int
    size_delta_usd: int
    mark_price: int
    acceptable_price: int
    leverage: Decimal | None
    orders: tuple[tuple[str, OrderRequest], ...]
    """(role, order): "main", "take_profit", "stop_loss"."""
    calls: tuple[TxCall, ...]
    simulations: tuple[Simulated, ...]
    cancel_keys: tuple[bytes, ...] = ()
    slippage_bps: int = 0

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.simulations)

    @property
    def execution_fees(self) -> int:
        return sum(o.execution_fee for _, o in self.orders)


@dataclass(frozen=True)
class OpenRequest:
    market: str
    is_long: bool
    collateral: str
    amount: Decimal
    leverage: Decimal
    take_profit: Decimal | None = None
    stop_loss: Decimal | None = None
    slippage_bps: int = 30


@dataclass
class Attempt:
    number: int
    keys: tuple[bytes, ...]
    tx_hash: str
    outcome: OrderOutcome | None = None


@dataclass
class Executed:
    """What --execute did: each attempt's orders and outcomes, and the final word."""

    plan: OrderPlan
    attempts: list[Attempt] = field(default_factory=list)
    status: str = "pending"  # "executed" | "cancelled" | "frozen" | "pending" | "retries_exhausted" | "sent"
    alert: str = ""
    tx_hashes: list[str] = field(default_factory=list)

    @property
    def outcome(self) -> OrderOutcome | None:
        return self.attempts[-1].outcome if self.attempts else None


@dataclass(frozen=True)
class PositionView:
    """A position at the oracle's prices. Prices are contract units (USD x 1e30 per smallest index unit)."""

    market: GmxMarket
    key: bytes
    is_long: bool
    collateral: GmxToken
    size_usd: int
    size_in_tokens: int
    collateral_amount: int
    collateral_usd: int
    entry_price: int | None
    mark_price: int
    pnl_usd: int
    borrowing_fee_usd: int
    funding_fee_usd: int
    close_fee_usd: int
    liquidation_price: int | None
    liquidation_source: str
    leverage: Decimal | None

    @property
    def fees_usd(self) -> int:
        return self.borrowing_fee_usd + self.funding_fee_usd + self.close_fee_usd


class GmxTrader:
    """One signer (or a read-only account) on one chain's GMX."""

    def __init__(
        self,
        rpc_url: str,
        deployment: GmxDeployment,
        oracle: GmxOracleClient,
        journal_path: Path,
        signer: LocalAccount | None = None,
        account: str | None = None,
        retry: RetryPolicy | None = None,
        order_timeout: float = 60.0,
        notify: Notify = _quiet,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.chain_id = int(JsonRpc(rpc_url).call("eth_chainId"), 16)
        if self.chain_id != deployment.chain_id:
            raise UserError(
                f"RPC serves chain {self.chain_id}, the GMX addresses are chain {deployment.chain_id}'s"
            )
        self.w3 = Web3(HTTPProvider(rpc_url, request_kwargs={"timeout": 30}))
        self.d = deployment
        self.oracle = oracle
        self.signer = signer
        who = account or (signer.address if signer is not None else None)
        if who is None:
            raise UserError("no account: give one or a signer")
        self.account = to_checksum_address(who)
        self.reader = GmxReader(self.w3, deployment.reader, deployment.data_store)
        if not self.w3.eth.get_code(deployment.reader) or not self.w3.eth.get_code(deployment.data_store):
            raise UserError(f"no GMX Reader / DataStore at the SDK's addresses on chain {self.chain_id}")
        self.retry = retry or RetryPolicy()
        self.order_timeout = order_timeout
        self.notify = notify
        self.sleep = sleep
        self.journal = GmxJournal(journal_path, self.w3, self.chain_id, deployment)
        self._markets: dict[str, GmxMarket] | None = None

    @classmethod
    def from_settings(
        cls,
        rpc_url: str,
        chain_id: int,
        gmx: GmxSettings,
        oracle_url: str,
        journal_path: Path,
        signer: LocalAccount | None,
        account: str | None = None,
        max_attempts: int | None = None,
        notify: Notify = _quiet,
    ) -> GmxTrader:
        """The trader a command or a job runs: `[gmx]` settings (addresses, retry budget, timeout)."""
        retry = RetryPolicy(max_attempts or gmx.max_attempts, gmx.backoff_seconds)
        return cls(
            rpc_url, gmx_deployment(chain_id, gmx.contracts), GmxOracleClient(oracle_url), journal_path,
            signer=signer, account=account, retry=retry, order_timeout=gmx.order_timeout_s, notify=notify,
        )  # fmt: skip

    # ---- markets and prices ----

    def markets(self) -> dict[str, GmxMarket]:
        if self._markets is None:
            found: dict[str, GmxMarket] = {}
            for props in self.reader.markets():
                tokens = [
                    self.d.token_at(a) for a in (props.index_token, props.long_token, props.short_token)
                ]
                index, long_, short = tokens
                if index is None or long_ is None or short is None:
                    continue  # a token the SDK's list does not know: not tradable from here
                name = market_name(index, props.index_token)
                if name in found:  # several markets on one index: the later ones by their tokens
                    name = f"{name}-{long_.name}-{short.name}"
                found[name] = GmxMarket(name, props, index, long_, short)
            self._markets = found
        return self._markets

    def market(self, name: str) -> GmxMarket:
        markets = self.markets()
        for key, m in markets.items():
            if key.upper() == name.upper():
                return m
        known = ", ".join(markets) or "none"
        raise UserError(f"unknown GMX market {name!r} (markets on chain {self.chain_id}: {known})")

    def prices(self, market: GmxMarket) -> MarketPrices:
        tickers = self.oracle.tickers()

        def of(token: GmxToken) -> TokenPrices:
            t = tickers.get(token.address)
            if t is None:
                raise UserError(
                    f"GMX oracle {self.oracle.url} has no price for {token.name} ({token.address})"
                )
            return t.prices

        return MarketPrices(of(market.index), of(market.long), of(market.short))

    def max_leverage(self, market: GmxMarket) -> Decimal:
        factor = self.reader.get_uint(K.min_collateral_factor(market.address))
        if factor == 0:
            raise UserError(f"market {market.name} lists no MIN_COLLATERAL_FACTOR")
        return Decimal(USD) / Decimal(factor)

    def _open_interest(self, market: GmxMarket, is_long: bool, in_tokens: bool = False) -> int:
        key = K.open_interest_in_tokens if in_tokens else K.open_interest
        tokens = dict.fromkeys([market.long.address, market.short.address])
        return sum(self.reader.get_uint(key(market.address, t, is_long)) for t in tokens)

    def model_market(self, market: GmxMarket, prices: MarketPrices) -> Market:
        """The pure model's view of `market` from the DataStore, with unit prices and 0 decimals (the same
        arithmetic as whole-token prices with the token's decimals)."""
        mk, get = market.address, self.reader.get_uint

        def token(t: GmxToken, p: TokenPrices) -> Token:
            return Token(t.address, 0, p, t.symbol, t.is_synthetic)

        config = MarketConfig(
            position_fee_factor_for_balance_was_improved=get(K.position_fee_factor(mk, True)),
            position_fee_factor_for_balance_was_not_improved=get(K.position_fee_factor(mk, False)),
            position_impact_factor_positive=get(K.position_impact_factor(mk, True)),
            position_impact_factor_negative=get(K.position_impact_factor(mk, False)),
            position_impact_exponent_factor_positive=get(K.position_impact_exponent_factor(mk, True)),
            position_impact_exponent_factor_negative=get(K.position_impact_exponent_factor(mk, False)),
            max_position_impact_factor_positive=get(K.max_position_impact_factor(mk, True)),
            max_position_impact_factor_negative=get(K.max_position_impact_factor(mk, False)),
            max_position_impact_factor_for_liquidations=get(
                K.max_position_impact_factor_for_liquidations(mk)
            ),
            min_collateral_factor_for_liquidation=get(K.min_collateral_factor_for_liquidation(mk)),
            max_pnl_factor_for_traders_long=get(K.max_pnl_factor(K.MAX_PNL_FACTOR_FOR_TRADERS, mk, True)),
            max_pnl_factor_for_traders_short=get(K.max_pnl_factor(K.MAX_PNL_FACTOR_FOR_TRADERS, mk, False)),
        )
        index = token(market.index, prices.index_token_price)
        long_pool = get(K.pool_amount(mk, market.long.address))
        short_pool = get(K.pool_amount(mk, market.short.address))
        state = MarketState(
            index_token=index,
            long_token=token(market.long, prices.long_token_price),
            short_token=token(market.short, prices.short_token_price),
            long_pool_amount=long_pool,
            short_pool_amount=short_pool,
            long_interest_usd=self._open_interest(market, True),
            short_interest_usd=self._open_interest(market, False),
            long_interest_in_tokens=self._open_interest(market, True, in_tokens=True),
            short_interest_in_tokens=self._open_interest(market, False, in_tokens=True),
            position_impact_pool_amount=get(K.position_impact_pool_amount(mk)),
        )
        base = Market(config, state)
        borrow_long, borrow_short = (self._borrowing_per_second(market, base, s) for s in (True, False))
        funding, longs_pay = self._funding_per_second(market, base)
        state = MarketState(
            **{
                **{f: getattr(state, f) for f in state.__dataclass_fields__},
                "borrowing_factor_per_second_for_longs": borrow_long,
                "borrowing_factor_per_second_for_shorts": borrow_short,
                "funding_factor_per_second": funding,
                "longs_pay_shorts": longs_pay,
            }
        )
        return Market(config, state)

    @staticmethod
    def _pow(value: int, exponent: int) -> int | None:
        if exponent in (0, USD):
            return value
        if exponent == 2 * USD:
            return value * value // USD
        return None  # a fractional exponent: not computed here

    def _borrowing_per_second(self, market: GmxMarket, m: Market, is_long: bool) -> int:
        """GMX's base curve: BORROWING_FACTOR * reserved^BORROWING_EXPONENT_FACTOR / pool USD (at min)."""
        factor = self.reader.get_uint(K.borrowing_factor(market.address, is_long))
        pool = m.pool_usd_without_pnl(is_long, "min")
        if factor == 0 or pool == 0:
            return 0
        s = m.state
        reserved = (
            s.long_interest_in_tokens * s.index_token.prices.max_price if is_long else s.short_interest_usd
        )
        exponent = self.reader.get_uint(K.borrowing_exponent_factor(market.address, is_long))
        powered = self._pow(reserved, exponent)
        return 0 if powered is None else apply_factor(powered * USD // pool, factor)

    def _funding_per_second(self, market: GmxMarket, m: Market) -> tuple[int, bool]:
        """FUNDING_FACTOR * |long - short|^FUNDING_EXPONENT_FACTOR / (long + short), paid by the larger
        side."""
        long_oi, short_oi = m.open_interest_for_balance(True), m.open_interest_for_balance(False)
        longs_pay = long_oi > short_oi
        total, diff = long_oi + short_oi, abs(long_oi - short_oi)
        factor = self.reader.get_uint(K.funding_factor(market.address))
        if total == 0 or diff == 0 or factor == 0:
            return 0, longs_pay
        powered = self._pow(diff, self.reader.get_uint(K.funding_exponent_factor(market.address)))
        return (0 if powered is None else apply_factor(powered * USD // total, factor)), longs_pay

    def summary(self, market: GmxMarket) -> MarketSummary:
        prices = self.prices(market)
        m = self.model_market(market, prices)
        return MarketSummary(
            market,
            prices.index_token_price,
            m.state.long_interest_usd,
            m.state.short_interest_usd,
            self.max_leverage(market),
            borrowing_factor_per_period(m.state, True, HOUR),
            borrowing_factor_per_period(m.state, False, HOUR),
            funding_factor_per_period(m, True, HOUR),
            funding_factor_per_period(m, False, HOUR),
        )

    # ---- planning ----

    def _signer(self) -> LocalAccount:
        if self.signer is None:
            raise UserError("this command needs a signer: pass --key-env VAR or --keystore PATH")
        return self.signer

    def execution_fee(self) -> int:
        """What each order pays its keeper, with headroom: the keeper takes base gas x its gas price and
        the rest is refunded to the account."""
        base = self.reader.get_uint(K.ESTIMATED_GAS_FEE_BASE_AMOUNT_V2_1) or DEFAULT_BASE_GAS
        block = self.w3.eth.get_block("latest")
        base_fee = int(block.get("baseFeePerGas", 0) or 0)
        return base * (2 * base_fee + int(self.w3.eth.max_priority_fee) + 10**8)

    def plan_open(self, req: OpenRequest) -> OrderPlan:
        signer = self._signer()
        market = self.market(req.market)
        collateral = market.collateral(req.collateral)
        if collateral is None:
            raise UserError(
                f"{req.collateral} is not collateral of {market.name} "
                f"(use {market.long.name} or {market.short.name})"
            )
        if not 0 <= req.slippage_bps <= 5_000:
            raise UserError(f"slippage {req.slippage_bps} bps is outside 0..5000")
        amount = int(req.amount * Decimal(10) ** collateral.decimals)
        if amount <= 0:
            raise UserError("the collateral amount must be positive")
        max_lev = self.max_leverage(market)
        if req.leverage <= 0:
            raise UserError("leverage must be positive")
        if req.leverage > max_lev:
            raise UserError(
                f"leverage {req.leverage} is above {market.name}'s maximum {max_lev.normalize():f}x"
            )
        prices = self.prices(market)
        collateral_price = (
            prices.long_token_price if collateral.address == market.long.address else prices.short_token_price
        )
        collateral_usd = amount * collateral_price.min_price
        min_usd = self.reader.get_uint(K.MIN_COLLATERAL_USD)
        if collateral_usd < min_usd:
            raise UserError(
                f"collateral {req.amount} {collateral.name} (${_usd(collateral_usd)}) is below GMX's minimum "
                f"${_usd(min_usd)}"
            )
        size = collateral_usd * int(req.leverage * 10_000) // 10_000
        index = prices.index_token_price
        mark = index.max_price if req.is_long else index.min_price
        side = "long" if req.is_long else "short"
        for what, usd in (("take profit", req.take_profit), ("stop loss", req.stop_loss)):
            if usd is None:
                continue
            if usd <= 0:
                raise UserError(f"{what} {usd} must be a positive USD price")
            trigger = unit_price(usd, market.index.decimals)
            above = trigger > index.mid_price
            wants_above = (what == "take profit") == req.is_long
            if above != wants_above:
                where = "above" if wants_above else "below"
                raise UserError(
                    f"{what} {usd} is on the wrong side for a {side}: it must be {where} the mark "
                    f"{usd_price(index.mid_price, market.index.decimals):.2f}"
                )
        fee = self.execution_fee()
        main = OrderRequest(
            market=market.address,
            initial_collateral_token=collateral.address,
            order_type=OrderType.MARKET_INCREASE,
            is_long=req.is_long,
            size_delta_usd=size,
            initial_collateral_delta_amount=amount,
            acceptable_price=acceptable_price(mark, req.slippage_bps, is_long=req.is_long, is_increase=True),
            execution_fee=fee,
            receiver=signer.address,
        )
        orders: list[tuple[str, OrderRequest]] = [("main", main)]
        for role, usd, kind in (
            ("take_profit", req.take_profit, OrderType.LIMIT_DECREASE),
            ("stop_loss", req.stop_loss, OrderType.STOP_LOSS_DECREASE),
        ):
            if usd is None:
                continue
            trigger = unit_price(usd, market.index.decimals)
            orders.append(
                (
                    role,
                    OrderRequest(
                        market=market.address,
                        initial_collateral_token=collateral.address,
                        order_type=kind,
                        is_long=req.is_long,
                        size_delta_usd=size,
                        initial_collateral_delta_amount=0,
                        trigger_price=trigger,
                        acceptable_price=acceptable_price(
                            trigger, req.slippage_bps, is_long=req.is_long, is_increase=False
                        ),
                        execution_fee=fee,
                        receiver=signer.address,
                        auto_cancel=True,
                    ),
                )
            )
        extra = dict(orders[1:])
        call = order_multicall(
            self.d.order_vault, main, take_profit=extra.get("take_profit"), stop_loss=extra.get("stop_loss")
        )
        self._check_funds(collateral, amount, call.value)
        calls = []
        if self._allowance(collateral.address) < amount:
            approve = calldata("approve(address,uint256)", self.d.router, MAX_UINT)
            calls.append(
                TxCall(
                    f"approve {collateral.name} to the SyntheticsRouter", collateral.address, _raw(approve)
                )
            )
        calls.append(
            TxCall("ExchangeRouter.multicall (create orders)", self.d.exchange_router, call.data, call.value)
        )
        lev = Decimal(size) / Decimal(collateral_usd)
        return OrderPlan(
            "open", signer.address, market, req.is_long, collateral, amount, size, mark,
            main.acceptable_price, lev, tuple(orders), tuple(calls), self.simulate(calls),
            slippage_bps=req.slippage_bps,
        )  # fmt: skip

    def _check_funds(self, token: GmxToken, amount: int, value: int) -> None:
        have = self.balance(token.address)
        if have < amount:
            raise UserError(
                f"{self.account} holds {Decimal(have) / Decimal(10) ** token.decimals} {token.name}, "
                f"needs {Decimal(amount) / Decimal(10) ** token.decimals}"
            )
        if self.w3.eth.get_balance(self.account) < value:
            raise UserError(f"{self.account} cannot pay the execution fees ({Decimal(value) / 10**18} ETH)")

    def balance(self, token: str) -> int:
        """The account's balance of an ERC-20, in its smallest unit."""
        raw = self._eth_call(token, calldata("balanceOf(address)", self.account))
        return int(abi_decode(["uint256"], raw)[0])

    def _allowance(self, token: str) -> int:
        raw = self._eth_call(token, calldata("allowance(address,address)", self.account, self.d.router))
        return int(abi_decode(["uint256"], raw)[0])

    def _eth_call(self, to: str, data: str | bytes) -> bytes:
        payload = data if isinstance(data, str) else "0x" + data.hex()
        return bytes(self.w3.eth.call({"to": to_checksum_address(to), "data": payload}))  # type: ignore[typeddict-item]

    def find_position(self, market: GmxMarket, is_long: bool, collateral: str | None) -> PositionProps:
        mine = [
            p for p in self.reader.account_positions(self.account)
            if p.market == market.address and p.is_long == is_long and p.size_in_usd > 0
        ]  # fmt: skip
        if collateral is not None:
            token = market.collateral(collateral)
            if token is None:
                raise UserError(f"{collateral} is not collateral of {market.name}")
            mine = [p for p in mine if p.collateral_token == token.address]
        side = "long" if is_long else "short"
        if not mine:
            raise UserError(f"{self.account} has no {market.name} {side} position")
        if len(mine) > 1:
            names = ", ".join(self._token_name(p.collateral_token) for p in mine)
            raise UserError(f"several {market.name} {side} positions ({names}): pass --collateral")
        return mine[0]

    def _token_name(self, address: str) -> str:
        t = self.d.token_at(address)
        return t.name if t is not None else address

    def plan_close(
        self, market_name_: str, is_long: bool, collateral: str | None, slippage_bps: int
    ) -> OrderPlan:
        signer = self._signer()
        market = self.market(market_name_)
        position = self.find_position(market, is_long, collateral)
        token = self.d.token_at(position.collateral_token)
        assert token is not None  # a market collateral is in the list (markets() checked)
        prices = self.prices(market)
        mark = prices.index_token_price.min_price if is_long else prices.index_token_price.max_price
        order = OrderRequest(
            market=market.address,
            initial_collateral_token=position.collateral_token,
            order_type=OrderType.MARKET_DECREASE,
            is_long=is_long,
            size_delta_usd=position.size_in_usd,
            initial_collateral_delta_amount=0,
            acceptable_price=acceptable_price(mark, slippage_bps, is_long=is_long, is_increase=False),
            execution_fee=self.execution_fee(),
            receiver=signer.address,
        )
        call = order_multicall(self.d.order_vault, order)
        calls = [
            TxCall("ExchangeRouter.multicall (close order)", self.d.exchange_router, call.data, call.value)
        ]
        return OrderPlan(
            "close", signer.address, market, is_long, token, position.collateral_amount, position.size_in_usd,
            mark, order.acceptable_price, None, (("main", order),), tuple(calls), self.simulate(calls),
            slippage_bps=slippage_bps,
        )  # fmt: skip

    def plan_cancel(self, key: bytes) -> OrderPlan:
        signer = self._signer()
        order = self.reader.order(key)
        if order.account.lower() != signer.address.lower():
            owner = "no one" if int(order.account, 16) == 0 else order.account
            raise UserError(
                f"order 0x{key.hex()} is not a pending order of {signer.address} (it belongs to {owner})"
            )
        call: ExchangeRouterCall = cancel_orders_multicall([key])
        calls = [
            TxCall("ExchangeRouter.multicall (cancel order)", self.d.exchange_router, call.data, call.value)
        ]
        market = next((m for m in self.markets().values() if m.address == order.market), None)
        return OrderPlan(
            "cancel", signer.address, market, order.is_long, self.d.token_at(order.initial_collateral_token),
            0, order.size_delta_usd, 0, order.acceptable_price, None, (), tuple(calls), self.simulate(calls),
            cancel_keys=(key,),
        )  # fmt: skip

    # ---- simulation ----

    def _tx(self, call: TxCall) -> dict[str, Any]:
        return {"from": self.account, "to": call.to, "data": "0x" + call.data.hex(), "value": hex(call.value)}

    def simulate(self, calls: Sequence[TxCall]) -> tuple[Simulated, ...]:
        """The calls mined in order in one block on top of the latest (eth_simulateV1); nothing is sent."""
        request = {"blockStateCalls": [{"calls": [self._tx(c) for c in calls]}], "validation": False}
        reply = self.w3.provider.make_request("eth_simulateV1", [request, "latest"])  # type: ignore[arg-type]
        if "error" in reply:
            raise UserError(f"eth_simulateV1 failed: {reply['error'].get('message', reply['error'])}")
        results = reply["result"][0]["calls"]
        out = []
        for c, r in zip(calls, results, strict=True):
            ok = r.get("status") == "0x1"
            error = "" if ok else _revert_text(r)
            out.append(Simulated(c.what, ok, int(r.get("gasUsed", "0x0"), 16), error))
        return tuple(out)

    def _preflight(self, call: TxCall) -> int:
        """eth_call of the exact transaction, then its gas estimate; a revert is a UserError (nothing is
        sent)."""
        tx = self._tx(call)
        reply = self.w3.provider.make_request("eth_call", [tx, "latest"])  # type: ignore[arg-type]
        if "error" in reply:
            raise UserError(f"{call.what} would revert: {_rpc_error_text(dict(reply['error']))}")
        gas = self.w3.provider.make_request("eth_estimateGas", [tx, "latest"])  # type: ignore[arg-type]
        if "error" in gas:
            raise UserError(f"{call.what} would revert: {_rpc_error_text(dict(gas['error']))}")
        return int(gas["result"], 16)

    # ---- sending ----

    def _send(self, call: TxCall, ref: str) -> TxReceipt:
        signer = self._signer()
        gas = self._preflight(call)
        block = self.w3.eth.get_block("latest")
        tip = int(self.w3.eth.max_priority_fee)
        tx = {
            "type": 2,
            "chainId": self.chain_id,
            "nonce": self.w3.eth.get_transaction_count(signer.address, "pending"),
            "to": to_checksum_address(call.to),
            "data": call.data,
            "value": call.value,
            "gas": gas * 12 // 10 + 50_000,
            "maxPriorityFeePerGas": tip,
            "maxFeePerGas": 2 * int(block.get("baseFeePerGas", 0) or 0) + tip,
        }
        signed = signer.sign_transaction(tx)  # type: ignore[arg-type]
        self.notify(f"sending {call.what}")
        tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=120, poll_latency=0.1)
        self.journal.record_tx(receipt, self.account, call.value, ref)
        if int(receipt["status"]) != 1:
            raise UserError(f"{call.what} reverted on chain (tx 0x{bytes(tx_hash).hex()}); journaled")
        return receipt

    def execute(self, plan: OrderPlan) -> Executed:
        """Send a simulated plan. An open or close follows its main order to the keeper's outcome and
        retries a keeper-cancelled market order within the retry budget."""
        if not plan.ok:
            failed = next(s for s in plan.simulations if not s.ok)
            raise UserError(f"not sent: {failed.what} failed in simulation: {failed.error}")
        self.sync()
        done = Executed(plan)
        if plan.kind == "cancel":
            receipt = self._send(plan.calls[-1], "cancel")
            done.tx_hashes.append(_hash(receipt))
            for key in plan.cancel_keys:
                outcome = self._outcome_in(receipt, key)
                if outcome is not None:
                    self.journal.record_outcome(outcome, self.account)
            done.status = "cancelled"
            return done
        for prep in plan.calls[:-1]:
            done.tx_hashes.append(_hash(self._send(prep, plan.kind + ":prepare")))
        current = plan
        for attempt in range(1, self.retry.max_attempts + 1):
            if attempt > 1:
                current = self._requote(plan)
                if not current.ok:
                    failed = next(s for s in current.simulations if not s.ok)
                    done.status, done.alert = "retries_exhausted", f"retry {attempt} not sent: {failed.error}"
                    self.journal.alert("retry_not_simulated", done.alert, self.account)
                    return done
            receipt = self._send(current.calls[-1], f"{plan.kind}:attempt{attempt}")
            done.tx_hashes.append(_hash(receipt))
            keys = tuple(created_order_keys(receipt["logs"], self.d.event_emitter))
            refs = self.journal.record_created(current, keys, receipt, attempt)
            tried = Attempt(attempt, keys, _hash(receipt))
            done.attempts.append(tried)
            self.notify(f"attempt {attempt}: order 0x{keys[0].hex()[:16]}… created, waiting for the keeper")
            outcome = wait_outcome(
                self.w3, self.d.event_emitter, keys[0], int(receipt["blockNumber"]), self.order_timeout,
                sleep=self.sleep,
            )  # fmt: skip
            tried.outcome = outcome
            if outcome is None:
                done.status = "pending"
                self.journal.alert(
                    "order_timeout", f"order 0x{keys[0].hex()} still pending after {self.order_timeout:g}s",
                    self.account,
                )  # fmt: skip
                return done
            self.journal.record_outcome(outcome, self.account)
            if outcome.executed:
                done.status = "executed"
                self.sync()  # orders the same keeper round settled (none usually)
                return done
            if outcome.frozen:
                done.status = "frozen"
                return done
            done.status = "cancelled"
            self._cancel_siblings(refs[1:], done)
            if attempt < self.retry.max_attempts:
                wait = self.retry.delay(attempt)
                self.notify(f"keeper cancelled: {outcome.reason}; retry {attempt + 1} in {wait:g}s")
                self.sleep(wait)
        done.status = "retries_exhausted"
        last = done.outcome.reason if done.outcome is not None else ""
        done.alert = (
            f"ALERT: {plan.kind} on {plan.market.name if plan.market else '?'} cancelled by the keeper "
            f"{self.retry.max_attempts} times; stopped (last reason: {last})"
        )
        self.journal.alert("retries_exhausted", done.alert, self.account)
        return done

    def _requote(self, plan: OrderPlan) -> OrderPlan:
        """The same order re-planned at the oracle's current prices (and re-simulated)."""
        assert plan.market is not None and plan.collateral is not None
        if plan.kind == "close":
            return self.plan_close(plan.market.name, plan.is_long, plan.collateral.name, plan.slippage_bps)
        roles = dict(plan.orders)
        tp, sl = roles.get("take_profit"), roles.get("stop_loss")
        dec = plan.market.index.decimals
        req = OpenRequest(
            plan.market.name, plan.is_long, plan.collateral.name,
            Decimal(plan.collateral_amount) / Decimal(10) ** plan.collateral.decimals,
            plan.leverage or Decimal(1),
            usd_price(tp.trigger_price, dec) if tp else None,
            usd_price(sl.trigger_price, dec) if sl else None,
            plan.slippage_bps,
        )  # fmt: skip
        return self.plan_open(req)

    def _cancel_siblings(self, refs: Sequence[OrderRef], done: Executed) -> None:
        """The take profit / stop loss of a cancelled open would wait on a position that does not exist:
        cancel them (simulated, sent, journaled) before any retry creates new ones."""
        keys = [r.key for r in refs if self.reader.order(r.key).account.lower() == self.account.lower()]
        if not keys:
            return
        call = cancel_orders_multicall(keys)
        tx = TxCall(
            "ExchangeRouter.multicall (cancel take profit / stop loss)", self.d.exchange_router, call.data
        )
        sim = self.simulate([tx])[0]
        if not sim.ok:
            self.journal.alert(
                "cancel_not_simulated", f"could not cancel {len(keys)} orders: {sim.error}", self.account
            )
            return
        receipt = self._send(tx, "cancel_siblings")
        done.tx_hashes.append(_hash(receipt))
        for key in keys:
            outcome = self._outcome_in(receipt, key)
            if outcome is not None:
                self.journal.record_outcome(outcome, self.account)

    def _outcome_in(self, receipt: TxReceipt, key: bytes) -> OrderOutcome | None:
        from defibots.chain.gmx.events import order_outcome

        event = order_outcome(receipt["logs"], key, self.d.event_emitter)
        return OrderOutcome(key, event, receipt) if event is not None else None

    def sync(self) -> int:
        """Journal what settled since it was journaled: the outcomes of this account's orders (a take profit
        that fired later, a stop loss auto-cancelled with its position) and the keeper's liquidations of
        its positions. Returns how many."""
        settled = 0
        for ref in self.journal.open_orders(self.account):
            outcome = wait_outcome(self.w3, self.d.event_emitter, ref.key, ref.block, 0.0, sleep=self.sleep)
            if outcome is not None:
                self.journal.record_outcome(outcome, self.account)
                settled += 1
        for row in self.journal.open_positions():
            key = bytes.fromhex(row.key.removeprefix("0x"))
            if key != position_key(self.account, row.market, row.collateral_token, row.side == "long"):
                continue  # another account's position in a shared journal
            if self.reader.position(key).size_in_usd != 0:
                continue
            found = find_liquidation(self.w3, self.d.event_emitter, self.account, key, row.block_number)
            if found is not None:
                self.journal.record_liquidation(row, *found, self.account)
                self.notify(f"ALERT: {row.side} {row.details.get('market_name', row.market)} was liquidated")
                settled += 1
        return settled

    # ---- positions ----

    def positions(self) -> list[PositionView]:
        by_address = {m.address: m for m in self.markets().values()}
        out = []
        for p in self.reader.account_positions(self.account):
            market = by_address.get(p.market)
            token = self.d.token_at(p.collateral_token)
            if market is None or token is None or p.size_in_usd == 0:
                continue
            prices = self.prices(market)
            info = self.reader.position_info(
                p.key, prices, referral_storage=self.d.contracts.get("ReferralStorage", _ZERO)
            )
            out.append(self._view(market, token, p, prices, info))
        return out

    def _view(
        self, market: GmxMarket, token: GmxToken, p: PositionProps, prices: MarketPrices, info: PositionInfo
    ) -> PositionView:
        cp = prices.long_token_price if token.address == market.long.address else prices.short_token_price
        collateral_usd = p.collateral_amount * cp.min_price
        borrowing = info.fees.borrowing.borrowing_fee_usd
        funding = info.fees.funding.funding_fee_amount * cp.min_price
        close_fee = info.fees.position_fee_amount * cp.min_price
        mark = prices.index_token_price.min_price if p.is_long else prices.index_token_price.max_price
        pnl = info.pnl_after_price_impact_usd
        entry = p.size_in_usd // p.size_in_tokens if p.size_in_tokens else None
        model = self.model_market(market, prices)
        collateral_token = Token(token.address, 0, cp, token.symbol, token.is_synthetic)
        liq = liquidation_price(
            model, collateral_token, p.is_long, p.size_in_usd, p.size_in_tokens, collateral_usd,
            p.collateral_amount, borrowing, funding, p.pending_impact_amount,
            self.reader.get_uint(K.MIN_COLLATERAL_USD),
        )  # fmt: skip
        remaining = collateral_usd + pnl - borrowing - funding - close_fee
        lev = Decimal(p.size_in_usd) / Decimal(remaining) if remaining > 0 else None
        return PositionView(
            market, p.key, p.is_long, token, p.size_in_usd, p.size_in_tokens, p.collateral_amount,
            collateral_usd, entry, mark, pnl, borrowing, funding, close_fee, liq,
            LIQUIDATION_SOURCE if liq is not None else "none", lev,
        )  # fmt: skip


_ZERO = "0x0000000000000000000000000000000000000000"
LIQUIDATION_SOURCE = "model (protocols/gmx_v2 liquidation_price, the SDK's getLiquidationPrice)"


def _raw(data: str) -> bytes:
    return bytes.fromhex(data.removeprefix("0x"))


def _hash(receipt: TxReceipt) -> str:
    return "0x" + bytes(receipt["transactionHash"]).hex()


def _usd(amount: int) -> str:
    return f"{Decimal(amount) / Decimal(USD):,.2f}"


def _revert_bytes(value: object) -> bytes:
    if isinstance(value, str) and value.startswith("0x"):
        try:
            return bytes.fromhex(value[2:])
        except ValueError:
            return b""
    return b""


def _revert_text(result: dict[str, Any]) -> str:
    data = _revert_bytes(result.get("returnData"))
    error = result.get("error")
    if not data and isinstance(error, dict):
        data = _revert_bytes(error.get("data"))
    if data:
        return describe_reason(data)
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])
    return "reverted"


def _rpc_error_text(error: dict[str, Any]) -> str:
    data = _revert_bytes(error.get("data"))
    if data:
        return describe_reason(data)
    return str(error.get("message", error))
