"""The parts of Bybit's V5 REST API (spot) that ccxt's real `bybit` class calls, over a local venue.

Public: /v5/market/time, instruments-info, orderbook, tickers. Private (headers X-BAPI-API-KEY,
X-BAPI-TIMESTAMP, X-BAPI-RECV-WINDOW and X-BAPI-SIGN = HMAC-SHA256 hex of timestamp + key + recv window
+ the query string (GET) or the JSON body (POST)): /v5/user/query-api and /v5/account/info (ccxt asks
them first, to learn the account is a unified trading account), /v5/asset/coin/query-info,
/v5/account/wallet-balance, /v5/order/create, cancel, cancel-all, realtime, history and
/v5/execution/list. Every answer is Bybit's envelope {"retCode", "retMsg", "result", "retExtInfo",
"time"}; errors carry Bybit's retCodes, so ccxt raises its matching exception classes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from aiohttp import web

from defibots.cex.book import Side
from defibots.devnet.exchange.accounts import Account
from defibots.devnet.exchange.binance_codec import ApiError
from defibots.devnet.exchange.market import MarketState, top_of_book
from defibots.devnet.exchange.matching import now_ms
from defibots.devnet.exchange.orders import Order, OrderRejected, OrderRequest, TimeInForce

if TYPE_CHECKING:
    from defibots.devnet.exchange.server import LocalExchange

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
DEFAULT_RECV_WINDOW_MS = 5_000
REJECTIONS = {
    "insufficient_balance": (170131, "Insufficient balance."),
    "would_take": (170218, "The LIMIT-MAKER order is rejected due to invalid price."),
    "duplicate": (110072, "OrderLinkedID is duplicate"),
    "unknown_order": (170213, "Order does not exist."),
}
TIME_IN_FORCE: dict[str, TimeInForce] = {"GTC": "GTC", "IOC": "IOC", "FOK": "FOK", "POSTONLY": "POST_ONLY"}


class BybitError(Exception):
    """A request Bybit would refuse: {"retCode": code, "retMsg": msg} (HTTP 200 unless `status` says)."""

    def __init__(self, code: int, msg: str, status: int = 200) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.status = status


def num(value: Decimal) -> str:
    """Bybit's number format: plain decimal, no trailing zeros."""
    text = f"{value.normalize():f}"
    return "0" if text in ("-0", "") else text


def envelope(result: Any, code: int = 0, msg: str = "OK") -> dict[str, Any]:
    return {"retCode": code, "retMsg": msg, "result": result, "retExtInfo": {}, "time": now_ms()}


def order_status(order: Order) -> str:
    """The engine's status under Bybit's spot names."""
    if order.status in ("CANCELED", "EXPIRED"):
        return "PartiallyFilledCanceled" if order.executed > 0 else "Cancelled"
    return {"NEW": "New", "PARTIALLY_FILLED": "PartiallyFilled", "FILLED": "Filled"}.get(
        order.status, "Rejected"
    )


def order_json(order: Order) -> dict[str, Any]:
    """An order as /v5/order/realtime and /v5/order/history list it."""
    request = order.request
    by_quote = request.qty is None
    tif = {"POST_ONLY": "PostOnly"}.get(request.time_in_force, request.time_in_force)
    fee_asset = order.trades[0].commission_asset if order.trades else ""
    return {
        "orderId": str(order.order_id),
        "orderLinkId": order.client_id,
        "blockTradeId": "",
        "symbol": order.market_id,
        "price": num(order.price),
        "qty": num(request.quote_qty or Decimal(0)) if by_quote else num(order.qty),
        "side": "Buy" if order.side == "buy" else "Sell",
        "isLeverage": "0",
        "positionIdx": 0,
        "orderStatus": order_status(order),
        "cancelType": "CancelByUser" if order.status == "CANCELED" else "UNKNOWN",
        "rejectReason": "EC_NoError",
        "avgPrice": num(order.cum_quote / order.executed) if order.executed else "0",
        "leavesQty": num(order.remaining) if order.is_open else "0",
        "leavesValue": num(order.remaining * order.price) if order.is_open else "0",
        "cumExecQty": num(order.executed),
        "cumExecValue": num(order.cum_quote),
        "cumExecFee": num(order.fees),
        "cumFeeDetail": {fee_asset: num(order.fees)} if fee_asset else {},
        "timeInForce": "IOC" if request.order_type == "MARKET" else tif,
        "orderType": "Market" if request.order_type == "MARKET" else "Limit",
        "stopOrderType": "",
        "orderIv": "",
        "marketUnit": "quoteCoin" if by_quote else "baseCoin",
        "triggerPrice": "0",
        "takeProfit": "0",
        "stopLoss": "0",
        "reduceOnly": False,
        "closeOnTrigger": False,
        "smpType": "None",
        "createdTime": str(order.created_ms),
        "updatedTime": str(order.updated_ms),
    }


class BybitRestApi:
    """The request handlers; `routes()` lists them for an aiohttp application."""

    def __init__(self, exchange: LocalExchange) -> None:
        self.exchange = exchange

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/v5/market/time", self._time),
            web.get("/v5/market/instruments-info", self._instruments),
            web.get("/v5/market/orderbook", self._orderbook),
            web.get("/v5/market/tickers", self._tickers),
            web.get("/v5/user/query-api", self._query_api),
            web.get("/v5/account/info", self._account_info),
            web.get("/v5/asset/coin/query-info", self._coins),
            web.get("/v5/account/wallet-balance", self._wallet_balance),
            web.post("/v5/order/create", self._create),
            web.post("/v5/order/cancel", self._cancel),
            web.post("/v5/order/cancel-all", self._cancel_all),
            web.get("/v5/order/realtime", self._realtime),
            web.get("/v5/order/history", self._history),
            web.get("/v5/execution/list", self._executions),
        ]

    @web.middleware
    async def errors_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Rate-limit /v5 requests per IP (retCode 10006, then HTTP 403), then Bybit's error envelope."""
        self.exchange.requests += 1
        if request.path.startswith("/v5/"):
            verdict = self.exchange.limiter.check(request.remote or "unknown", 1)
            if verdict.status == 418:
                retry = {"Retry-After": str(verdict.retry_after_s)}
                return web.Response(status=403, text="access too frequent", headers=retry)
            if verdict.status == 429:
                reset = str(now_ms() + verdict.retry_after_s * 1000)
                return web.json_response(
                    envelope({}, 10006, "Too many visits!"), headers={"X-Bapi-Limit-Reset-Timestamp": reset}
                )
        try:
            return await handler(request)
        except BybitError as exc:
            return web.json_response(envelope({}, exc.code, exc.msg), status=exc.status)
        except ApiError as exc:  # the admin endpoint speaks Binance's shape on every venue
            return web.json_response({"code": exc.code, "msg": exc.msg}, status=exc.status)

    # ---------------------------------------------------------------- helpers

    def _market(self, params: Mapping[str, Any]) -> MarketState:
        category = params.get("category")
        if category != "spot":
            raise BybitError(10001, "params error: category only supports spot")
        market_id = str(params.get("symbol") or "").upper()
        if not market_id:
            raise BybitError(10001, "params error: symbol invalid")
        market = self.exchange.markets.get(market_id)
        if market is None:
            raise BybitError(170121, "Invalid symbol.")
        return market

    async def _signed(self, request: web.Request) -> tuple[Account, dict[str, Any]]:
        """Bybit V5's HMAC rule; returns the account and the request's parameters."""
        key = request.headers.get("X-BAPI-API-KEY", "")
        account = self.exchange.account_for_key(key) if key else None
        if account is None:
            raise BybitError(10003, "API key is invalid.")
        timestamp = request.headers.get("X-BAPI-TIMESTAMP", "")
        recv_window = request.headers.get("X-BAPI-RECV-WINDOW", str(DEFAULT_RECV_WINDOW_MS))
        signature = request.headers.get("X-BAPI-SIGN", "")
        body = (await request.read()).decode("utf-8", errors="replace")
        query = request.rel_url.raw_query_string
        payloads = [body] if request.method == "POST" else [query, unquote(query)]
        prefix = timestamp + key + recv_window
        secret = account.api_secret.encode()
        if not any(
            hmac.compare_digest(
                hmac.new(secret, (prefix + p).encode(), hashlib.sha256).hexdigest(), signature
            )
            for p in payloads
        ):
            raise BybitError(10004, "error sign! check the timestamp, api key, recv window and payload")
        if not timestamp.isdigit() or not recv_window.isdigit():
            raise BybitError(10002, "invalid request, please check your timestamp and recv_window param")
        now = now_ms()
        if not (int(timestamp) < now + 1000 and now - int(timestamp) <= int(recv_window)):
            raise BybitError(
                10002,
                f"invalid request, please check your server timestamp or recv_window param. "
                f"req_timestamp[{timestamp}],server_timestamp[{now}],recv_window[{recv_window}]",
            )
        params: dict[str, Any]
        if request.method == "POST":
            try:
                params = json.loads(body) if body else {}
            except ValueError:
                raise BybitError(10001, "params error: body is not JSON") from None
            if not isinstance(params, dict):
                raise BybitError(10001, "params error: body is not a JSON object")
        else:
            params = dict(request.query)
        return account, params

    @staticmethod
    def _decimal(params: Mapping[str, Any], name: str) -> Decimal | None:
        raw = params.get(name)
        if raw is None or raw == "":
            return None
        try:
            value = Decimal(str(raw))
        except InvalidOperation:
            raise BybitError(10001, f"params error: {name} invalid") from None
        if not value.is_finite() or value <= 0:
            raise BybitError(10001, f"params error: {name} invalid")
        return value

    @staticmethod
    def _limit(params: Mapping[str, Any], default: int, top: int) -> int:
        raw = str(params.get("limit") or default)
        if not raw.isdigit() or not 1 <= int(raw) <= top:
            raise BybitError(10001, "params error: limit invalid")
        return int(raw)

    def _orders_of(self, account: Account, params: Mapping[str, Any]) -> list[Order]:
        market = self._market(params) if params.get("symbol") else None
        if params.get("category") != "spot":
            raise BybitError(10001, "params error: category only supports spot")
        orders = [
            o
            for o in self.exchange.engine.orders.values()
            if o.account_id == account.account_id and (market is None or o.market_id == market.spec.market_id)
        ]
        if params.get("orderId"):
            orders = [o for o in orders if str(o.order_id) == str(params["orderId"])]
        if params.get("orderLinkId"):
            orders = [o for o in orders if o.client_id == params["orderLinkId"]]
        return sorted(orders, key=lambda o: o.order_id, reverse=True)

    # ---------------------------------------------------------------- public

    async def _time(self, request: web.Request) -> web.Response:
        now = now_ms()
        return web.json_response(envelope({"timeSecond": str(now // 1000), "timeNano": str(now * 1_000_000)}))

    async def _instruments(self, request: web.Request) -> web.Response:
        if request.query.get("category") != "spot":
            raise BybitError(10001, "params error: category only supports spot")
        markets = (
            [self._market(request.query)] if request.query.get("symbol") else self.exchange.markets.values()
        )
        rows = [
            {
                "symbol": m.spec.market_id,
                "baseCoin": m.spec.base,
                "quoteCoin": m.spec.quote,
                "innovation": "0",
                "status": "Trading",
                "marginTrading": "none",
                "stTag": "0",
                "lotSizeFilter": {
                    "basePrecision": num(m.spec.lot_size),
                    "quotePrecision": "0.00000001",
                    "minOrderQty": num(m.spec.min_qty),
                    "maxOrderQty": num(m.spec.max_qty),
                    "minOrderAmt": num(m.spec.min_notional),
                    "maxOrderAmt": "9000000",
                },
                "priceFilter": {"tickSize": num(m.spec.tick_size)},
            }
            for m in markets
        ]
        return web.json_response(envelope({"category": "spot", "list": rows}))

    async def _orderbook(self, request: web.Request) -> web.Response:
        market = self._market(request.query)
        limit = self._limit(request.query, 1, 200)
        now = now_ms()
        return web.json_response(
            envelope(
                {
                    "s": market.spec.market_id,
                    "b": [[num(p), num(q)] for p, q in market.book.levels("buy", limit)],
                    "a": [[num(p), num(q)] for p, q in market.book.levels("sell", limit)],
                    "ts": now,
                    "u": market.update_id,
                    "seq": market.update_id,
                    "cts": now,
                }
            )
        )

    async def _tickers(self, request: web.Request) -> web.Response:
        if request.query.get("category") != "spot":
            raise BybitError(10001, "params error: category only supports spot")
        markets = (
            [self._market(request.query)] if request.query.get("symbol") else self.exchange.markets.values()
        )
        rows = []
        for m in markets:
            bid, bid_qty, ask, ask_qty = top_of_book(m)
            change = (m.last_price - m.open_price) / m.open_price if m.open_price else Decimal(0)
            rows.append(
                {
                    "symbol": m.spec.market_id,
                    "bid1Price": num(bid),
                    "bid1Size": num(bid_qty),
                    "ask1Price": num(ask),
                    "ask1Size": num(ask_qty),
                    "lastPrice": num(m.last_price),
                    "prevPrice24h": num(m.open_price),
                    "price24hPcnt": num(change.quantize(Decimal("0.0001"))),
                    "highPrice24h": num(m.high),
                    "lowPrice24h": num(m.low),
                    "turnover24h": num(m.quote_volume),
                    "volume24h": num(m.volume),
                    "usdIndexPrice": "",
                }
            )
        return web.json_response(envelope({"category": "spot", "list": rows}))

    # ---------------------------------------------------------------- account

    async def _query_api(self, request: web.Request) -> web.Response:
        account, _ = await self._signed(request)
        return web.json_response(
            envelope(
                {
                    "id": account.account_id,
                    "note": "local venue",
                    "apiKey": account.api_key,
                    "readOnly": 0,
                    "secret": "",
                    "permissions": {"Spot": ["SpotTrade"], "Wallet": ["AccountTransfer"]},
                    "ips": ["*"],
                    "type": 1,
                    "unified": 0,
                    "uta": 1,
                    "userID": 1,
                    "isMaster": True,
                }
            )
        )

    async def _account_info(self, request: web.Request) -> web.Response:
        await self._signed(request)
        return web.json_response(
            envelope(
                {
                    "marginMode": "REGULAR_MARGIN",
                    "updatedTime": str(self.exchange.started_ms),
                    "unifiedMarginStatus": 6,
                    "dcpStatus": "OFF",
                    "timeWindow": 10,
                    "smpGroup": 0,
                    "isMasterTrader": False,
                    "spotHedgingStatus": "OFF",
                }
            )
        )

    async def _coins(self, request: web.Request) -> web.Response:
        await self._signed(request)
        assets = sorted({a for m in self.exchange.markets.values() for a in (m.spec.base, m.spec.quote)})
        rows = [{"name": a, "coin": a, "remainAmount": "0", "chains": []} for a in assets]
        return web.json_response(envelope({"rows": rows}))

    async def _wallet_balance(self, request: web.Request) -> web.Response:
        account, params = await self._signed(request)
        if params.get("accountType") != "UNIFIED":
            raise BybitError(10001, "accountType only support UNIFIED.")
        coins = [
            {
                "coin": asset,
                "walletBalance": num(free + account.locked.get(asset, Decimal(0))),
                "equity": num(free + account.locked.get(asset, Decimal(0))),
                "free": num(free),
                "locked": num(account.locked.get(asset, Decimal(0))),
                "borrowAmount": "0",
                "accruedInterest": "0",
                "totalOrderIM": "0",
                "totalPositionIM": "0",
            }
            for asset, free in sorted(account.free.items())
        ]
        return web.json_response(envelope({"list": [{"accountType": "UNIFIED", "coin": coins}]}))

    # ---------------------------------------------------------------- orders

    async def _create(self, request: web.Request) -> web.Response:
        account, params = await self._signed(request)
        market, order_request = self._order_request(params)
        try:
            order = self.exchange.engine.submit(account, market, order_request)
        except OrderRejected as exc:
            code, msg = REJECTIONS[exc.reason]
            raise BybitError(code, msg) from None
        return web.json_response(envelope({"orderId": str(order.order_id), "orderLinkId": order.client_id}))

    def _order_request(self, params: Mapping[str, Any]) -> tuple[MarketState, OrderRequest]:
        market = self._market(params)
        spec = market.spec
        side_raw = params.get("side")
        if side_raw not in ("Buy", "Sell"):
            raise BybitError(10001, "params error: side invalid")
        side: Side = "buy" if side_raw == "Buy" else "sell"
        order_type = params.get("orderType")
        if order_type not in ("Market", "Limit"):
            raise BybitError(10001, "params error: orderType invalid")
        qty = self._decimal(params, "qty")
        if qty is None:
            raise BybitError(10001, "params error: qty invalid")
        price = self._decimal(params, "price") if order_type == "Limit" else None
        if order_type == "Limit" and price is None:
            raise BybitError(10001, "params error: price invalid")
        if price is not None and price % spec.tick_size:
            raise BybitError(170134, "Order price has too many decimals.")
        tif_raw = str(params.get("timeInForce") or "GTC").upper()
        if tif_raw not in TIME_IN_FORCE:
            raise BybitError(10001, "params error: timeInForce invalid")
        tif: TimeInForce = "IOC" if order_type == "Market" else TIME_IN_FORCE[tif_raw]
        default_unit = "quoteCoin" if order_type == "Market" and side == "buy" else "baseCoin"
        by_quote = order_type == "Market" and params.get("marketUnit", default_unit) == "quoteCoin"
        if by_quote:
            notional = qty
        else:
            if qty < spec.min_qty:
                raise BybitError(170136, "Order quantity lower than the minimum.")
            if qty > spec.max_qty:
                raise BybitError(170137, "Order quantity exceeded upper limit.")
            if (qty - spec.min_qty) % spec.lot_size:
                raise BybitError(170137, "Order quantity has too many decimals.")
            opposite: Side = "sell" if side == "buy" else "buy"
            notional = qty * (price or market.book.best_price(opposite) or market.mid)
        if notional < spec.min_notional:
            raise BybitError(170140, "Order value exceeded lower limit.")
        return market, OrderRequest(
            side=side,
            order_type="MARKET" if order_type == "Market" else "LIMIT",
            qty=None if by_quote else qty,
            quote_qty=qty if by_quote else None,
            price=price,
            time_in_force=tif,
            client_id=str(params.get("orderLinkId") or ""),
        )

    def _cancel_one(self, account: Account, market: MarketState, order: Order) -> dict[str, str]:
        try:
            self.exchange.engine.cancel(account, market, order)
        except OrderRejected as exc:
            code, msg = REJECTIONS[exc.reason]
            raise BybitError(code, msg) from None
        return {"orderId": str(order.order_id), "orderLinkId": order.client_id}

    async def _cancel(self, request: web.Request) -> web.Response:
        account, params = await self._signed(request)
        market = self._market(params)
        order = None
        if params.get("orderId"):
            raw = str(params["orderId"])
            order = self.exchange.engine.find(account, market, order_id=int(raw)) if raw.isdigit() else None
        elif params.get("orderLinkId"):
            order = self.exchange.engine.find(account, market, client_id=str(params["orderLinkId"]))
        else:
            raise BybitError(10001, "params error: orderId or orderLinkId is required")
        if order is None:
            raise BybitError(*REJECTIONS["unknown_order"])
        return web.json_response(envelope(self._cancel_one(account, market, order)))

    async def _cancel_all(self, request: web.Request) -> web.Response:
        account, params = await self._signed(request)
        market = self._market(params)
        done = [
            self._cancel_one(account, market, o) for o in self.exchange.engine.open_orders(account, market)
        ]
        return web.json_response(envelope({"list": done, "success": "1"}))

    async def _realtime(self, request: web.Request) -> web.Response:
        """Open orders; one order of any status when asked by orderId or orderLinkId."""
        account, params = await self._signed(request)
        orders = self._orders_of(account, params)
        if not (params.get("orderId") or params.get("orderLinkId")):
            orders = [o for o in orders if o.is_open]
        limit = self._limit(params, 20, 50)
        rows = [order_json(o) for o in orders[:limit]]
        return web.json_response(envelope({"category": "spot", "list": rows, "nextPageCursor": ""}))

    async def _history(self, request: web.Request) -> web.Response:
        """Orders no longer open, newest first."""
        account, params = await self._signed(request)
        orders = [o for o in self._orders_of(account, params) if not o.is_open]
        limit = self._limit(params, 20, 50)
        rows = [order_json(o) for o in orders[:limit]]
        return web.json_response(envelope({"category": "spot", "list": rows, "nextPageCursor": ""}))

    async def _executions(self, request: web.Request) -> web.Response:
        account, params = await self._signed(request)
        orders = {o.order_id: o for o in self._orders_of(account, params)}
        trades = [t for t in self.exchange.engine.trades[account.account_id] if t.order_id in orders]
        limit = self._limit(params, 50, 100)
        rows = []
        for trade in sorted(trades, key=lambda t: t.trade_id, reverse=True)[:limit]:
            order = orders[trade.order_id]
            rows.append(
                {
                    "symbol": trade.market_id,
                    "orderId": str(trade.order_id),
                    "orderLinkId": order.client_id,
                    "side": "Buy" if trade.side == "buy" else "Sell",
                    "orderPrice": num(order.price),
                    "orderQty": num(order.qty),
                    "orderType": "Market" if order.request.order_type == "MARKET" else "Limit",
                    "execFee": num(trade.commission),
                    "feeCurrency": trade.commission_asset,
                    "execId": str(trade.trade_id),
                    "execPrice": num(trade.price),
                    "execQty": num(trade.qty),
                    "execType": "Trade",
                    "execValue": num(trade.quote_qty),
                    "execTime": str(trade.time_ms),
                    "isMaker": trade.is_maker,
                    "feeRate": num(account.fee_bps(trade.is_maker) / 10_000),
                    "markPrice": "",
                    "closedSize": "",
                    "seq": trade.trade_id,
                }
            )
        return web.json_response(envelope({"category": "spot", "list": rows, "nextPageCursor": ""}))
