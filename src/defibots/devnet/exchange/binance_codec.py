"""Binance's message shapes, shared by the local venue's REST and WebSocket sides: number format, error
replies, order / trade / account objects, the executionReport event, and the SIGNED timing rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from defibots.devnet.exchange.accounts import Account
from defibots.devnet.exchange.market import MarketSpec
from defibots.devnet.exchange.matching import now_ms
from defibots.devnet.exchange.orders import Order, OrderRejected, OrderUpdate, Trade

EIGHT = Decimal("0.00000001")  # Binance prints prices, quantities and commissions with 8 decimals
MAX_RECV_WINDOW_MS = 60_000
DEFAULT_RECV_WINDOW_MS = 5_000


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


def mandatory(name: str) -> ApiError:
    return ApiError(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


REJECTIONS = {
    "insufficient_balance": (-2010, "Account has insufficient balance for requested action."),
    "would_take": (-2010, "Order would immediately match and take."),
    "duplicate": (-2010, "Duplicate order sent."),
    "unknown_order": (-2011, "Unknown order sent."),
}


def order_type_name(order: Order) -> str:
    """Binance's `type` for an order: LIMIT, LIMIT_MAKER (post-only) or MARKET."""
    if order.request.time_in_force == "POST_ONLY":
        return "LIMIT_MAKER"
    return order.request.order_type


def order_json(order: Order, spec: MarketSpec) -> dict[str, Any]:
    """An order as GET /api/v3/order answers it."""
    return {
        "symbol": spec.market_id,
        "orderId": order.order_id,
        "orderListId": -1,
        "clientOrderId": order.client_id,
        "price": fmt(order.price),
        "origQty": fmt(order.qty),
        "executedQty": fmt(order.executed),
        "cummulativeQuoteQty": fmt(order.cum_quote),
        "status": order.status,
        "timeInForce": "GTC" if order.request.time_in_force == "POST_ONLY" else order.request.time_in_force,
        "type": order_type_name(order),
        "side": order.side.upper(),
        "stopPrice": fmt(Decimal(0)),
        "icebergQty": fmt(Decimal(0)),
        "time": order.created_ms,
        "updateTime": order.updated_ms,
        "isWorking": order.on_book,
        "workingTime": order.created_ms,
        "origQuoteOrderQty": fmt(order.request.quote_qty or Decimal(0)),
        "selfTradePreventionMode": "EXPIRE_MAKER",
    }


def trade_json(trade: Trade) -> dict[str, Any]:
    """One of our trades as GET /api/v3/myTrades answers it."""
    return {
        "symbol": trade.market_id,
        "id": trade.trade_id,
        "orderId": trade.order_id,
        "orderListId": -1,
        "price": fmt(trade.price),
        "qty": fmt(trade.qty),
        "quoteQty": fmt(trade.quote_qty),
        "commission": fmt(trade.commission),
        "commissionAsset": trade.commission_asset,
        "time": trade.time_ms,
        "isBuyer": trade.side == "buy",
        "isMaker": trade.is_maker,
        "isBestMatch": True,
    }


def execution_report(update: OrderUpdate, time_ms: int) -> dict[str, Any]:
    """Binance's spot executionReport for one order event."""
    order, trade = update.order, update.trade
    tif = order.request.time_in_force
    return {
        "e": "executionReport",
        "E": time_ms,
        "s": order.market_id,
        "c": order.client_id,
        "S": order.side.upper(),
        "o": order_type_name(order),
        "f": "GTC" if tif == "POST_ONLY" else tif,
        "q": fmt(order.qty if order.request.qty is not None else update.executed),
        "p": fmt(order.price),
        "P": fmt(Decimal(0)),
        "F": fmt(Decimal(0)),
        "g": -1,
        "C": order.client_id if update.execution == "CANCELED" else "",
        "x": update.execution,
        "X": update.status,
        "r": "NONE",
        "i": order.order_id,
        "l": fmt(trade.qty if trade else Decimal(0)),
        "z": fmt(update.executed),
        "L": fmt(trade.price if trade else Decimal(0)),
        "n": fmt(trade.commission) if trade else "0",
        "N": trade.commission_asset if trade else None,
        "T": update.time_ms,
        "t": trade.trade_id if trade else -1,
        "I": update.time_ms,
        "w": update.on_book,
        "m": trade.is_maker if trade else False,
        "M": False,
        "O": order.created_ms,
        "Z": fmt(update.cum_quote),
        "Y": fmt(trade.quote_qty if trade else Decimal(0)),
        "Q": fmt(order.request.quote_qty or Decimal(0)),
        "W": order.created_ms,
        "V": "EXPIRE_MAKER",
    }


def rejection(exc: OrderRejected) -> ApiError:
    """The engine's refusal as Binance words it."""
    code, msg = REJECTIONS[exc.reason]
    return ApiError(code, msg)


def int_param(params: Mapping[str, str], name: str, default: int | None = None) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        if default is None:
            raise mandatory(name)
        return default
    try:
        return int(raw)
    except ValueError:
        raise ApiError(-1100, f"Illegal characters found in parameter '{name}'.") from None


def check_timestamp(params: Mapping[str, str]) -> None:
    """Binance's timing rule: timestamp not ahead by 1 s, nor older than recvWindow (at most 60 s)."""
    timestamp = int_param(params, "timestamp")
    recv_window = int_param(params, "recvWindow", DEFAULT_RECV_WINDOW_MS)
    if recv_window > MAX_RECV_WINDOW_MS:
        raise ApiError(-1131, "recvWindow must be less than 60000")
    now = now_ms()
    if not (timestamp < now + 1000 and now - timestamp <= recv_window):
        raise ApiError(-1021, "Timestamp for this request is outside of the recvWindow.")


def account_json(account: Account) -> dict[str, Any]:
    """An account as GET /api/v3/account answers it (the WebSocket API's account.status too)."""
    zero = fmt(Decimal(0))
    return {
        "makerCommission": int(account.maker_fee_bps),
        "takerCommission": int(account.taker_fee_bps),
        "buyerCommission": 0,
        "sellerCommission": 0,
        "commissionRates": {
            "maker": fmt(account.maker_fee_bps / 10_000),
            "taker": fmt(account.taker_fee_bps / 10_000),
            "buyer": zero,
            "seller": zero,
        },
        "canTrade": True,
        "canWithdraw": False,
        "canDeposit": False,
        "brokered": False,
        "requireSelfTradePrevention": False,
        "preventSor": False,
        "updateTime": now_ms(),
        "accountType": "SPOT",
        "balances": [
            {"asset": asset, "free": fmt(amount), "locked": fmt(account.locked.get(asset, Decimal(0)))}
            for asset, amount in sorted(account.free.items())
        ],
        "permissions": ["SPOT"],
        "uid": 1,
    }
