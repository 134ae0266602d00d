"""The Binance spot REST API (v3) over the local exchange, as ccxt's real `binance` class calls it.

Endpoints: /api/v3/exchangeInfo, ticker/24hr, ticker/bookTicker, ticker/price, depth, time, ping, order,
order/test, account. Signed endpoints check the API key, the HMAC-SHA256 signature over query string +
body (Binance's rule) and the timestamp against recvWindow, and reply with Binance's error shapes, so ccxt
maps them to its own exception classes. Orders are validated with Binance's filters, then matched
(`matching`) and settled on the account (`accounts`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from aiohttp import web

from defibots.cex.book import Fill, Side, fee_for, walk, walk_quote
from defibots.devnet.exchange.market import MarketSpec, MarketState, top_of_book

if TYPE_CHECKING:
    from defibots.devnet.exchange.server import LocalExchange

EIGHT = Decimal("0.00000001")  # Binance prints prices, quantities and commissions with 8 decimals
MAX_RECV_WINDOW_MS = 60_000
DEFAULT_RECV_WINDOW_MS = 5_000
RATE_LIMITS = (
    ("REQUEST_WEIGHT", "MINUTE", 1, 6000),
    ("ORDERS", "SECOND", 10, 100),
    ("ORDERS", "DAY", 1, 200000),
)
BAD_LIMIT = "Illegal characters found in parameter 'limit'; legal range is '1-5000'."

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def fmt(value: Decimal) -> str:
    """Binance's number format: fixed point with 8 decimals (more only if the value needs them)."""
    if value == value.quantize(EIGHT):
        return f"{value.quantize(EIGHT):f}"
    return f"{value:f}"


class ApiError(Exception):
    """A request Binance would reject: becomes {"code": ..., "msg": ...} with an HTTP 4xx status."""

    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.status = status


def _mandatory(name: str) -> ApiError:
    return ApiError(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


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
            web.get("/api/v3/ticker/24hr", self._ticker_24hr),
            web.get("/api/v3/ticker/bookTicker", self._book_ticker),
            web.get("/api/v3/ticker/price", self._ticker_price),
            web.post("/api/v3/order", self._new_order),
            web.post("/api/v3/order/test", self._test_order),
            web.get("/api/v3/account", self._account),
        ]

    @web.middleware
    async def errors_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.exchange.requests += 1
        try:
            return await handler(request)
        except ApiError as exc:
            return web.json_response({"code": exc.code, "msg": exc.msg}, status=exc.status)

    def symbol_param(self, params: Mapping[str, str]) -> MarketState:
        market_id = params.get("symbol")
        if not market_id:
            raise _mandatory("symbol")
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
                    {"rateLimitType": kind, "interval": interval, "intervalNum": num, "limit": limit}
                    for kind, interval, num, limit in RATE_LIMITS
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
            "orderTypes": ["LIMIT", "MARKET"],
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

    def _top(self, market: MarketState) -> tuple[Decimal, Decimal, Decimal, Decimal]:
        bid, bid_qty = market.bids[0] if market.bids else (Decimal(0), Decimal(0))
        ask, ask_qty = market.asks[0] if market.asks else (Decimal(0), Decimal(0))
        return bid, bid_qty, ask, ask_qty

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

    async def _signed_params(self, request: web.Request) -> dict[str, str]:
        """Binance's SIGNED checks: API key, HMAC over query string + body, then timestamp/recvWindow."""
        key = request.headers.get("X-MBX-APIKEY")
        if not key:
            raise ApiError(-2014, "API-key format invalid.", status=401)
        if not hmac.compare_digest(key, self.exchange.api_key):
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
            raise _mandatory("signature")
        expected = hmac.new(
            self.exchange.api_secret.encode(), "".join(unsigned).encode(), hashlib.sha256
        ).hexdigest()
        if not hmac.compare_digest(expected, signature.lower()):
            raise ApiError(-1022, "Signature for this request is not valid.")
        params = dict(parse_qsl(query, keep_blank_values=True))
        params.update(parse_qsl(body, keep_blank_values=True))
        params.pop("signature", None)
        timestamp = self._int_param(params, "timestamp")
        recv_window = self._int_param(params, "recvWindow", DEFAULT_RECV_WINDOW_MS)
        if recv_window > MAX_RECV_WINDOW_MS:
            raise ApiError(-1131, "recvWindow must be less than 60000")
        now = now_ms()
        if not (timestamp < now + 1000 and now - timestamp <= recv_window):
            raise ApiError(-1021, "Timestamp for this request is outside of the recvWindow.")
        return params

    @staticmethod
    def _int_param(params: Mapping[str, str], name: str, default: int | None = None) -> int:
        raw = params.get(name)
        if raw is None or raw == "":
            if default is None:
                raise _mandatory(name)
            return default
        try:
            return int(raw)
        except ValueError:
            raise ApiError(-1100, f"Illegal characters found in parameter '{name}'.") from None

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

    async def _account(self, request: web.Request) -> web.Response:
        await self._signed_params(request)
        rate, zero = fmt(self.exchange.account.taker_fee_bps / 10_000), fmt(Decimal(0))
        return web.json_response(
            {
                "makerCommission": int(self.exchange.account.taker_fee_bps),
                "takerCommission": int(self.exchange.account.taker_fee_bps),
                "buyerCommission": 0,
                "sellerCommission": 0,
                "commissionRates": {"maker": rate, "taker": rate, "buyer": zero, "seller": zero},
                "canTrade": True,
                "canWithdraw": False,
                "canDeposit": False,
                "brokered": False,
                "requireSelfTradePrevention": False,
                "preventSor": False,
                "updateTime": now_ms(),
                "accountType": "SPOT",
                "balances": [
                    {"asset": asset, "free": fmt(amount), "locked": fmt(Decimal(0))}
                    for asset, amount in sorted(self.exchange.account.balances.items())
                ],
                "permissions": ["SPOT"],
                "uid": 1,
            }
        )

    async def _test_order(self, request: web.Request) -> web.Response:
        params = await self._signed_params(request)
        self._plan_order(params)
        return web.json_response({})

    async def _new_order(self, request: web.Request) -> web.Response:
        params = await self._signed_params(request)
        market, side, order_type, tif, fill = self._plan_order(params)
        return web.json_response(self._execute(params, market, side, order_type, tif, fill))

    def _plan_order(self, params: Mapping[str, str]) -> tuple[MarketState, Side, str, str, Fill]:
        """Validate like Binance's filters and walk the book; nothing changes until `_execute`."""
        market = self.symbol_param(params)
        spec = market.spec
        side_raw = params.get("side", "").upper()
        if side_raw not in ("BUY", "SELL"):
            raise _mandatory("side")
        side: Side = "buy" if side_raw == "BUY" else "sell"
        order_type = params.get("type", "").upper()
        if not order_type:
            raise _mandatory("type")
        if order_type not in ("MARKET", "LIMIT"):
            raise ApiError(-1116, "Invalid orderType.")
        quantity = self._decimal_param(params, "quantity")
        quote_qty = self._decimal_param(params, "quoteOrderQty")
        limit_price = None
        tif = "GTC"
        if order_type == "LIMIT":
            tif = params.get("timeInForce", "").upper()
            if not tif:
                raise _mandatory("timeInForce")
            if tif not in ("IOC", "FOK"):
                raise ApiError(-1020, "This operation is not supported.")  # the local book takes, never rests
            limit_price = self._decimal_param(params, "price")
            if limit_price is None:
                raise _mandatory("price")
            if limit_price % spec.tick_size:
                raise ApiError(-1013, "Filter failure: PRICE_FILTER")
            if quantity is None:
                raise _mandatory("quantity")
            quote_qty = None
        elif (quantity is None) == (quote_qty is None):
            raise ApiError(-1102, "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty.")
        depth = self.exchange.depth(spec.symbol)
        if quantity is not None:
            if not spec.min_qty <= quantity <= spec.max_qty or (quantity - spec.min_qty) % spec.lot_size:
                raise ApiError(-1013, "Filter failure: LOT_SIZE")
            fee = self.exchange.account.taker_fee_bps
            fill = walk(depth, side, quantity, taker_fee_bps=fee, limit_price=limit_price, fee_quantum=EIGHT)
            reference = limit_price or (fill.legs[0].price if fill.legs else spec.mid)
            notional = quantity * reference
        elif quote_qty is not None:
            fill = walk_quote(
                depth,
                side,
                quote_qty,
                spec.lot_size,
                taker_fee_bps=self.exchange.account.taker_fee_bps,
                fee_quantum=EIGHT,
            )
            notional = quote_qty
        else:  # unreachable: exactly one of quantity / quoteOrderQty is set here
            raise _mandatory("quantity")
        if notional < spec.min_notional:
            raise ApiError(-1013, "Filter failure: NOTIONAL")
        if tif == "FOK" and not fill.complete:
            fill = Fill(side, fill.requested_qty, Decimal(0), Decimal(0), Decimal(0), ())
        if not self.exchange.account.can_pay(spec, side, fill):
            raise ApiError(-2010, "Account has insufficient balance for requested action.")
        return market, side, order_type, tif, fill

    def _execute(
        self,
        params: Mapping[str, str],
        market: MarketState,
        side: Side,
        order_type: str,
        tif: str,
        fill: Fill,
    ) -> dict[str, Any]:
        spec = market.spec
        now = now_ms()
        order_id = self.exchange.matching.next_order_id()
        trades = self.exchange.matching.take(market, side, fill)
        self.exchange.account.settle(spec, side, fill)
        fee_bps = self.exchange.account.taker_fee_bps
        fills = [
            {
                "price": fmt(trade.price),
                "qty": fmt(trade.qty),
                "commission": fmt(
                    fee_for(trade.qty if side == "buy" else trade.price * trade.qty, fee_bps, EIGHT)
                ),
                "commissionAsset": spec.base if side == "buy" else spec.quote,
                "tradeId": trade.trade_id,
            }
            for trade in trades
        ]
        book = market.asks if side == "buy" else market.bids
        # a quote-sized order is whole unless it ran out of book (walk_quote always reports "complete")
        by_quote = not params.get("quantity")
        status = "FILLED" if fill.legs and fill.complete and (book or not by_quote) else "EXPIRED"
        client_id = params.get("newClientOrderId") or f"local-{order_id}"
        ack: dict[str, Any] = {
            "symbol": spec.market_id,
            "orderId": order_id,
            "orderListId": -1,
            "clientOrderId": client_id,
            "transactTime": now,
        }
        resp_type = params.get("newOrderRespType", "FULL").upper()
        if resp_type == "ACK":
            return ack
        result = ack | {
            "price": fmt(Decimal(params.get("price") or 0)),
            "origQty": fmt(fill.requested_qty),
            "executedQty": fmt(fill.base_qty),
            "origQuoteOrderQty": fmt(Decimal(params.get("quoteOrderQty") or 0)),
            "cummulativeQuoteQty": fmt(fill.quote_qty),
            "status": status,
            "timeInForce": tif,
            "type": order_type,
            "side": "BUY" if side == "buy" else "SELL",
            "workingTime": now,
            "selfTradePreventionMode": "EXPIRE_MAKER",
        }
        if resp_type == "FULL":
            result["fills"] = fills
        return result
