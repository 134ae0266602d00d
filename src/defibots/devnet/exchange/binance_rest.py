"""The Binance spot REST API (v3, plus sapi tradeFee) over a local venue, as ccxt's real `binance` calls it.

Public: exchangeInfo, ticker/24hr, ticker/bookTicker, ticker/price, depth, time, ping. Signed (API key
header, HMAC-SHA256 `signature` over query string + body, timestamp within recvWindow): order (POST, GET,
DELETE), order/test, openOrders (GET, DELETE), allOrders, account, myTrades, /sapi/v1/asset/tradeFee. Every
/api and /sapi request is weighed against the IP's rate limit first (`rate_limit`). Errors come back in
Binance's shapes ({"code": ..., "msg": ...}), so ccxt maps them to its own exception classes. Orders are
checked against Binance's filters here and then handed to the venue's matching engine.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from aiohttp import web

from defibots.cex.book import Side
from defibots.devnet.exchange.accounts import Account
from defibots.devnet.exchange.binance_codec import (
    EIGHT,
    ApiError,
    account_json,
    check_timestamp,
    fmt,
    int_param,
    mandatory,
    order_json,
    rejection,
    trade_json,
)
from defibots.devnet.exchange.candles import INTERVAL_MS
from defibots.devnet.exchange.market import MarketSpec, MarketState, top_of_book
from defibots.devnet.exchange.matching import now_ms
from defibots.devnet.exchange.orders import (
    Order,
    OrderRejected,
    OrderRequest,
    OrderType,
    TimeInForce,
)

if TYPE_CHECKING:
    from defibots.devnet.exchange.server import LocalExchange

ORDER_RATE_LIMITS = (  # listed like Binance's; not enforced
    ("ORDERS", "SECOND", 10, 100),
    ("ORDERS", "DAY", 1, 200000),
)
BAD_LIMIT = "Illegal characters found in parameter 'limit'; legal range is '1-5000'."

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def request_weight(path: str, params: Mapping[str, str], method: str) -> int:
    """Binance's REQUEST_WEIGHT for an endpoint (the values its API docs list)."""
    one_symbol = "symbol" in params
    if path == "/api/v3/depth":
        limit = int(params["limit"]) if params.get("limit", "").isdigit() else 100
        return 5 if limit <= 100 else 25 if limit <= 500 else 50 if limit <= 1000 else 250
    if path == "/api/v3/ticker/24hr":
        return 2 if one_symbol else 80
    if path == "/api/v3/klines":
        return 2
    if path in ("/api/v3/ticker/bookTicker", "/api/v3/ticker/price"):
        return 2 if one_symbol else 4
    if path == "/api/v3/openOrders" and method == "GET":
        return 6 if one_symbol else 80
    if path == "/api/v3/order" and method == "GET":
        return 4
    heavy = ("/api/v3/exchangeInfo", "/api/v3/account", "/api/v3/myTrades", "/api/v3/allOrders")
    return 20 if path in heavy else 1


class BinanceRestApi:
    """The request handlers; `routes()` lists them for an aiohttp application."""

    def __init__(self, exchange: LocalExchange) -> None:
        self.exchange = exchange

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/api/v3/ping", self._ping),
            web.get("/api/v3/time", self._time),
            web.get("/api/v3/exchangeInfo", self._exchange_info),
            web.get("/api/v3/depth", self._depth),
            web.get("/api/v3/klines", self._klines),
            web.get("/api/v3/ticker/24hr", self._ticker_24hr),
            web.get("/api/v3/ticker/bookTicker", self._book_ticker),
            web.get("/api/v3/ticker/price", self._ticker_price),
            web.post("/api/v3/order", self._new_order),
            web.get("/api/v3/order", self._query_order),
            web.delete("/api/v3/order", self._cancel_order),
            web.post("/api/v3/order/test", self._test_order),
            web.get("/api/v3/openOrders", self._open_orders),
            web.get("/api/v3/allOrders", self._all_orders),
            web.delete("/api/v3/openOrders", self._cancel_open_orders),
            web.get("/api/v3/account", self._account),
            web.get("/api/v3/myTrades", self._my_trades),
            web.get("/sapi/v1/asset/tradeFee", self._trade_fee),
        ]

    @web.middleware
    async def errors_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Rate-limit /api and /sapi requests per IP, then answer ApiErrors in Binance's shape."""
        self.exchange.requests += 1
        headers: dict[str, str] = {}
        if request.path.startswith(("/api/", "/sapi/")):
            ip = request.remote or "unknown"
            verdict = self.exchange.limiter.check(
                ip, request_weight(request.path, request.query, request.method)
            )
            headers["X-MBX-USED-WEIGHT-1M"] = str(verdict.used_weight)
            if verdict.status != 200:
                return web.json_response(
                    {
                        "code": -1003,
                        "msg": self._rate_limit_message(ip, verdict.status, verdict.retry_after_s),
                    },
                    status=verdict.status,
                    headers=headers | {"Retry-After": str(verdict.retry_after_s)},
                )
        try:
            response = await handler(request)
        except ApiError as exc:
            return web.json_response({"code": exc.code, "msg": exc.msg}, status=exc.status, headers=headers)
        response.headers.update(headers)
        return response

    def _weight_limit(self) -> dict[str, Any]:
        """The REQUEST_WEIGHT limit this venue enforces, in exchangeInfo's shape."""
        limits = self.exchange.limiter.limits
        whole_minutes = limits.window_s % 60 == 0
        return {
            "rateLimitType": "REQUEST_WEIGHT",
            "interval": "MINUTE" if whole_minutes else "SECOND",
            "intervalNum": int(limits.window_s // 60) if whole_minutes else max(1, int(limits.window_s)),
            "limit": limits.weight_per_window,
        }

    def _rate_limit_message(self, ip: str, status: int, retry_after_s: int) -> str:
        if status == 418:
            until = now_ms() + retry_after_s * 1000
            return (
                f"Way too many requests; IP({ip}) banned until {until}. "
                "Please use the websocket for live updates to avoid bans."
            )
        limits = self.exchange.limiter.limits
        return (
            f"Too many requests; current limit of IP({ip}) is {limits.weight_per_window} requests per "
            f"{limits.window_s:g} SECOND. Please use the websocket for live updates to avoid polling the API."
        )

    def symbol_param(self, params: Mapping[str, str]) -> MarketState:
        market_id = params.get("symbol")
        if not market_id:
            raise mandatory("symbol")
        market = self.exchange.markets.get(market_id.upper())
        if market is None:
            raise ApiError(-1121, "Invalid symbol.")
        return market

    def _symbols_param(self, params: Mapping[str, str]) -> list[MarketState] | None:
        """`symbol=X`, `symbols=["X","Y"]`, or neither (all); None when a single symbol was asked."""
        if "symbol" in params:
            return None
        if "symbols" not in params:
            return list(self.exchange.markets.values())
        try:
            ids = json.loads(params["symbols"])
        except json.JSONDecodeError:
            raise ApiError(-1100, "Illegal characters found in parameter 'symbols'.") from None
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise ApiError(-1100, "Illegal characters found in parameter 'symbols'.")
        out = []
        for market_id in ids:
            if market_id not in self.exchange.markets:
                raise ApiError(-1121, "Invalid symbol.")
            out.append(self.exchange.markets[market_id])
        return out

    # ---------------------------------------------------------------- public endpoints

    async def _ping(self, request: web.Request) -> web.Response:
        return web.json_response({})

    async def _time(self, request: web.Request) -> web.Response:
        return web.json_response({"serverTime": now_ms()})

    async def _exchange_info(self, request: web.Request) -> web.Response:
        selected = self._symbols_param(request.query)
        if selected is None:
            selected = [self.symbol_param(request.query)]
        return web.json_response(
            {
                "timezone": "UTC",
                "serverTime": now_ms(),
                "rateLimits": [
                    self._weight_limit(),
                    *(
                        {"rateLimitType": kind, "interval": interval, "intervalNum": num, "limit": limit}
                        for kind, interval, num, limit in ORDER_RATE_LIMITS
                    ),
                ],
                "exchangeFilters": [],
                "symbols": [self._symbol_info(m.spec) for m in selected],
            }
        )

    @staticmethod
    def _symbol_info(spec: MarketSpec) -> dict[str, Any]:
        return {
            "symbol": spec.market_id,
            "status": "TRADING",
            "baseAsset": spec.base,
            "baseAssetPrecision": 8,
            "quoteAsset": spec.quote,
            "quotePrecision": 8,
            "quoteAssetPrecision": 8,
            "baseCommissionPrecision": 8,
            "quoteCommissionPrecision": 8,
            "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"],
            "icebergAllowed": False,
            "ocoAllowed": False,
            "otoAllowed": False,
            "quoteOrderQtyMarketAllowed": True,
            "allowTrailingStop": False,
            "cancelReplaceAllowed": False,
            "isSpotTradingAllowed": True,
            "isMarginTradingAllowed": False,
            "filters": [
                {
                    "filterType": "PRICE_FILTER",
                    "minPrice": fmt(spec.tick_size),
                    "maxPrice": fmt(Decimal(1_000_000)),
                    "tickSize": fmt(spec.tick_size),
                },
                {
                    "filterType": "LOT_SIZE",
                    "minQty": fmt(spec.min_qty),
                    "maxQty": fmt(spec.max_qty),
                    "stepSize": fmt(spec.lot_size),
                },
                {
                    "filterType": "MARKET_LOT_SIZE",
                    "minQty": fmt(Decimal(0)),
                    "maxQty": fmt(spec.max_qty),
                    "stepSize": fmt(Decimal(0)),
                },
                {
                    "filterType": "NOTIONAL",
                    "minNotional": fmt(spec.min_notional),
                    "applyMinToMarket": True,
                    "maxNotional": fmt(Decimal(9_000_000)),
                    "applyMaxToMarket": False,
                    "avgPriceMins": 5,
                },
            ],
            "permissions": [],
            "permissionSets": [["SPOT"]],
            "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
            "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
        }

    async def _depth(self, request: web.Request) -> web.Response:
        market = self.symbol_param(request.query)
        raw_limit = request.query.get("limit", "100")
        try:
            limit = int(raw_limit)
        except ValueError:
            raise ApiError(-1100, BAD_LIMIT) from None
        if not 1 <= limit <= 5000:
            raise ApiError(-1100, BAD_LIMIT)
        return web.json_response(
            {
                "lastUpdateId": market.update_id,
                "bids": [[fmt(p), fmt(q)] for p, q in market.bids[:limit]],
                "asks": [[fmt(p), fmt(q)] for p, q in market.asks[:limit]],
            }
        )

    async def _klines(self, request: web.Request) -> web.Response:
        """Binance's kline rows: [open time, open, high, low, close, volume, close time, quote volume,
        trades, taker buy base, taker buy quote, "0"] (taker volumes: not tracked, "0")."""
        params = request.query
        market = self.symbol_param(params)
        interval = INTERVAL_MS.get(params.get("interval", ""))
        if interval is None:
            raise ApiError(-1120, "Invalid interval.")
        limit = self._int_param(params, "limit", 500)
        if not 1 <= limit <= 1000:
            raise ApiError(-1100, BAD_LIMIT.replace("5000", "1000"))
        start = self._int_param(params, "startTime") if "startTime" in params else None
        end = self._int_param(params, "endTime") if "endTime" in params else now_ms()
        rows = [
            [c.open_ms, fmt(c.open), fmt(c.high), fmt(c.low), fmt(c.close), fmt(c.volume),
             c.open_ms + interval - 1, fmt(c.quote_volume), c.trades, "0", "0", "0"]
            for c in market.history.candles(interval, start, end, limit)
        ]  # fmt: skip
        return web.json_response(rows)

    def _ticker(self, market: MarketState) -> dict[str, Any]:
        bid, bid_qty, ask, ask_qty = top_of_book(market)
        now = now_ms()
        change = market.last_price - market.open_price
        vwap = market.quote_volume / market.volume if market.volume else market.last_price
        return {
            "symbol": market.spec.market_id,
            "priceChange": fmt(change),
            "priceChangePercent": f"{(change / market.open_price * 100).quantize(Decimal('0.001'))}",
            "weightedAvgPrice": fmt(vwap.quantize(EIGHT)),
            "prevClosePrice": fmt(market.open_price),
            "lastPrice": fmt(market.last_price),
            "lastQty": fmt(market.last_qty),
            "bidPrice": fmt(bid),
            "bidQty": fmt(bid_qty),
            "askPrice": fmt(ask),
            "askQty": fmt(ask_qty),
            "openPrice": fmt(market.open_price),
            "highPrice": fmt(market.high),
            "lowPrice": fmt(market.low),
            "volume": fmt(market.volume),
            "quoteVolume": fmt(market.quote_volume),
            "openTime": now - 86_400_000,
            "closeTime": now,
            "firstId": market.first_trade_id,
            "lastId": market.last_trade_id,
            "count": market.trade_count,
        }

    def _many(self, request: web.Request, render: Callable[[MarketState], dict[str, Any]]) -> web.Response:
        selected = self._symbols_param(request.query)
        if selected is None:
            return web.json_response(render(self.symbol_param(request.query)))
        return web.json_response([render(m) for m in selected])

    async def _ticker_24hr(self, request: web.Request) -> web.Response:
        return self._many(request, self._ticker)

    async def _book_ticker(self, request: web.Request) -> web.Response:
        def render(market: MarketState) -> dict[str, Any]:
            bid, bid_qty, ask, ask_qty = top_of_book(market)
            return {
                "symbol": market.spec.market_id,
                "bidPrice": fmt(bid),
                "bidQty": fmt(bid_qty),
                "askPrice": fmt(ask),
                "askQty": fmt(ask_qty),
            }

        return self._many(request, render)

    async def _ticker_price(self, request: web.Request) -> web.Response:
        return self._many(request, lambda m: {"symbol": m.spec.market_id, "price": fmt(m.last_price)})

    # ---------------------------------------------------------------- signed endpoints

    async def _signed_params(self, request: web.Request) -> tuple[Account, dict[str, str]]:
        """Binance's SIGNED checks: API key, HMAC over query string + body, then timestamp/recvWindow."""
        key = request.headers.get("X-MBX-APIKEY")
        if not key:
            raise ApiError(-2014, "API-key format invalid.", status=401)
        account = self.exchange.account_for_key(key)
        if account is None:
            raise ApiError(-2015, "Invalid API-key, IP, or permissions for action.", status=401)
        query = request.rel_url.raw_query_string
        body = (await request.read()).decode("utf-8", errors="replace")
        signature: str | None = None
        unsigned: list[str] = []
        for raw in (query, body):
            kept = []
            for part in raw.split("&") if raw else []:
                if part.startswith("signature="):
                    signature = part.removeprefix("signature=")
                else:
                    kept.append(part)
            unsigned.append("&".join(kept))
        if not signature:
            raise mandatory("signature")
        expected = hmac.new(
            account.api_secret.encode(), "".join(unsigned).encode(), hashlib.sha256
        ).hexdigest()
        if not hmac.compare_digest(expected, signature.lower()):
            raise ApiError(-1022, "Signature for this request is not valid.")
        params = dict(parse_qsl(query, keep_blank_values=True))
        params.update(parse_qsl(body, keep_blank_values=True))
        params.pop("signature", None)
        check_timestamp(params)
        return account, params

    async def _account(self, request: web.Request) -> web.Response:
        account, _ = await self._signed_params(request)
        return web.json_response(account_json(account))

    async def _trade_fee(self, request: web.Request) -> web.Response:
        account, params = await self._signed_params(request)
        markets = (
            [self.symbol_param(params)] if params.get("symbol") else list(self.exchange.markets.values())
        )
        maker, taker = fmt(account.maker_fee_bps / 10_000), fmt(account.taker_fee_bps / 10_000)
        return web.json_response(
            [
                {"symbol": m.spec.market_id, "makerCommission": maker, "takerCommission": taker}
                for m in markets
            ]
        )

    async def _test_order(self, request: web.Request) -> web.Response:
        _, params = await self._signed_params(request)
        self._order_request(params)
        return web.json_response({})

    async def _new_order(self, request: web.Request) -> web.Response:
        account, params = await self._signed_params(request)
        market, order_request = self._order_request(params)
        try:
            order = self.exchange.engine.submit(account, market, order_request)
        except OrderRejected as exc:
            raise rejection(exc) from None
        ack: dict[str, Any] = {
            "symbol": market.spec.market_id,
            "orderId": order.order_id,
            "orderListId": -1,
            "clientOrderId": order.client_id,
            "transactTime": order.created_ms,
        }
        resp_type = params.get("newOrderRespType", "FULL").upper()
        if resp_type == "ACK":
            return web.json_response(ack)
        result = order_json(order, market.spec)
        for unused in ("stopPrice", "icebergQty", "time", "updateTime", "isWorking"):
            del result[unused]
        result["transactTime"] = order.created_ms
        if resp_type == "FULL":
            result["fills"] = [
                {
                    "price": fmt(t.price),
                    "qty": fmt(t.qty),
                    "commission": fmt(t.commission),
                    "commissionAsset": t.commission_asset,
                    "tradeId": t.trade_id,
                }
                for t in order.trades
            ]
        return web.json_response(result)

    def _find_order(self, account: Account, market: MarketState, params: Mapping[str, str]) -> Order | None:
        if params.get("orderId"):
            return self.exchange.engine.find(account, market, order_id=self._int_param(params, "orderId"))
        if params.get("origClientOrderId"):
            return self.exchange.engine.find(account, market, client_id=params["origClientOrderId"])
        raise ApiError(
            -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!"
        )

    async def _query_order(self, request: web.Request) -> web.Response:
        account, params = await self._signed_params(request)
        market = self.symbol_param(params)
        order = self._find_order(account, market, params)
        if order is None:
            raise ApiError(-2013, "Order does not exist.")
        return web.json_response(order_json(order, market.spec))

    def _cancel(
        self, account: Account, market: MarketState, order: Order, new_client_id: str
    ) -> dict[str, Any]:
        try:
            self.exchange.engine.cancel(account, market, order)
        except OrderRejected as exc:
            raise rejection(exc) from None
        result = order_json(order, market.spec)
        for unused in ("stopPrice", "icebergQty", "time", "updateTime", "isWorking", "workingTime"):
            del result[unused]
        return result | {
            "origClientOrderId": order.client_id,
            "clientOrderId": new_client_id or f"cancel-{order.order_id}",
            "transactTime": order.updated_ms,
        }

    async def _cancel_order(self, request: web.Request) -> web.Response:
        account, params = await self._signed_params(request)
        market = self.symbol_param(params)
        order = self._find_order(account, market, params)
        if order is None:
            raise ApiError(-2011, "Unknown order sent.")
        return web.json_response(self._cancel(account, market, order, params.get("newClientOrderId", "")))

    async def _open_orders(self, request: web.Request) -> web.Response:
        account, params = await self._signed_params(request)
        market = self.symbol_param(params) if params.get("symbol") else None
        orders = self.exchange.engine.open_orders(account, market)
        specs = {m.spec.market_id: m.spec for m in self.exchange.markets.values()}
        return web.json_response([order_json(o, specs[o.market_id]) for o in orders])

    async def _all_orders(self, request: web.Request) -> web.Response:
        """Every order of the symbol (open or not), oldest first, from `orderId` on if given."""
        account, params = await self._signed_params(request)
        market = self.symbol_param(params)
        limit = self._int_param(params, "limit", 500)
        if not 1 <= limit <= 1000:
            raise ApiError(-1100, "Illegal characters found in parameter 'limit'; legal range is '1-1000'.")
        from_id = self._int_param(params, "orderId", 0)
        start = self._int_param(params, "startTime", 0)
        end = self._int_param(params, "endTime", 2**63)
        orders = [
            o
            for o in self.exchange.engine.orders.values()
            if o.account_id == account.account_id
            and o.market_id == market.spec.market_id
            and o.order_id >= from_id
            and start <= o.created_ms <= end
        ]
        return web.json_response([order_json(o, market.spec) for o in orders[:limit]])

    async def _cancel_open_orders(self, request: web.Request) -> web.Response:
        account, params = await self._signed_params(request)
        market = self.symbol_param(params)
        orders = self.exchange.engine.open_orders(account, market)
        return web.json_response([self._cancel(account, market, o, "") for o in orders])

    async def _my_trades(self, request: web.Request) -> web.Response:
        account, params = await self._signed_params(request)
        market = self.symbol_param(params)
        limit = self._int_param(params, "limit", 500)
        if not 1 <= limit <= 1000:
            raise ApiError(-1100, "Illegal characters found in parameter 'limit'; legal range is '1-1000'.")
        trades = [
            t for t in self.exchange.engine.trades[account.account_id] if t.market_id == market.spec.market_id
        ]
        if params.get("orderId"):
            order_id = self._int_param(params, "orderId")
            trades = [t for t in trades if t.order_id == order_id]
        if params.get("fromId"):
            from_id = self._int_param(params, "fromId")
            trades = [t for t in trades if t.trade_id >= from_id]
        if params.get("startTime"):
            start = self._int_param(params, "startTime")
            trades = [t for t in trades if t.time_ms >= start]
        if params.get("endTime"):
            end = self._int_param(params, "endTime")
            trades = [t for t in trades if t.time_ms <= end]
        return web.json_response([trade_json(t) for t in trades[:limit]])

    @staticmethod
    def _int_param(params: Mapping[str, str], name: str, default: int | None = None) -> int:
        return int_param(params, name, default)

    @staticmethod
    def _decimal_param(params: Mapping[str, str], name: str) -> Decimal | None:
        raw = params.get(name)
        if raw is None or raw == "":
            return None
        try:
            value = Decimal(raw)
        except InvalidOperation:
            raise ApiError(-1100, f"Illegal characters found in parameter '{name}'.") from None
        if not value.is_finite() or value <= 0:
            raise ApiError(-1100, f"Illegal characters found in parameter '{name}'.")
        return value

    def _order_request(self, params: Mapping[str, str]) -> tuple[MarketState, OrderRequest]:
        """Parse and check a new order like Binance's filters; nothing changes here."""
        market = self.symbol_param(params)
        spec = market.spec
        side_raw = params.get("side", "").upper()
        if side_raw not in ("BUY", "SELL"):
            raise mandatory("side")
        side: Side = "buy" if side_raw == "BUY" else "sell"
        order_type = params.get("type", "").upper()
        if not order_type:
            raise mandatory("type")
        if order_type not in ("MARKET", "LIMIT", "LIMIT_MAKER"):
            raise ApiError(-1116, "Invalid orderType.")
        quantity = self._decimal_param(params, "quantity")
        quote_qty = self._decimal_param(params, "quoteOrderQty")
        price: Decimal | None = None
        tif: TimeInForce = "GTC"
        if order_type in ("LIMIT", "LIMIT_MAKER"):
            if order_type == "LIMIT":
                raw_tif = params.get("timeInForce", "").upper()
                if not raw_tif:
                    raise mandatory("timeInForce")
                if raw_tif not in ("GTC", "IOC", "FOK"):
                    raise ApiError(-1115, "Invalid timeInForce.")
                tif = "GTC" if raw_tif == "GTC" else "IOC" if raw_tif == "IOC" else "FOK"
            else:
                tif = "POST_ONLY"
            price = self._decimal_param(params, "price")
            if price is None:
                raise mandatory("price")
            if price % spec.tick_size:
                raise ApiError(-1013, "Filter failure: PRICE_FILTER")
            if quantity is None:
                raise mandatory("quantity")
            quote_qty = None
        elif (quantity is None) == (quote_qty is None):
            raise ApiError(-1102, "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty.")
        if quantity is not None:
            if not spec.min_qty <= quantity <= spec.max_qty or (quantity - spec.min_qty) % spec.lot_size:
                raise ApiError(-1013, "Filter failure: LOT_SIZE")
            opposite: Side = "sell" if side == "buy" else "buy"
            reference = price or market.book.best_price(opposite) or market.mid
            notional = quantity * reference
        else:
            notional = quote_qty or Decimal(0)
        if notional < spec.min_notional:
            raise ApiError(-1013, "Filter failure: NOTIONAL")
        order_type_unified: OrderType = "MARKET" if order_type == "MARKET" else "LIMIT"
        return market, OrderRequest(
            side=side,
            order_type=order_type_unified,
            qty=quantity,
            quote_qty=quote_qty,
            price=price,
            time_in_force=tif,
            client_id=params.get("newClientOrderId", ""),
        )
