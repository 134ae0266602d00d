"""Local spot venues that answer like Binance (REST + WebSocket) or Bybit (V5 REST), so ccxt's real
`binance`, ccxt.pro `binance` and `bybit` classes trade on them, pointed there through `urls` only.

Modules, one concern each: `orders` (order, trade and update records), `book` (the price-time-priority
resting book), `liquidity` (the market maker's ladder around the mid), `accounts` (keys, balances, fees),
`matching` (the engine), `market` (a symbol's spec and state), `rate_limit` (per-IP request weight, 429
then 418), `binance_codec` (Binance's message shapes), `binance_rest`, `binance_ws`, `bybit_rest` (the
venue APIs), `ccxt_config` (the ccxt settings for a local venue), `server` (`LocalExchange`, its admin
endpoint and `ExchangeThread`).
"""

from defibots.devnet.exchange.accounts import Account
from defibots.devnet.exchange.binance_codec import ApiError
from defibots.devnet.exchange.ccxt_config import Venue, ccxt_config
from defibots.devnet.exchange.market import MarketSpec
from defibots.devnet.exchange.orders import Order, OrderRequest, Trade
from defibots.devnet.exchange.rate_limit import RateLimits
from defibots.devnet.exchange.server import ExchangeThread, LocalExchange, admin_set_mid

__all__ = [
    "Account",
    "ApiError",
    "ExchangeThread",
    "LocalExchange",
    "MarketSpec",
    "Order",
    "OrderRequest",
    "RateLimits",
    "Trade",
    "Venue",
    "admin_set_mid",
    "ccxt_config",
]
