"""A local spot exchange that answers like Binance's REST API, so ccxt's real `binance` class trades on it.

Modules: `market` (a symbol's spec and book), `matching` (taker fills against the book), `accounts`
(balances and fees), `binance_rest` (the Binance v3 REST API), `server` (`LocalExchange`, its admin
endpoint and `ExchangeThread`).
"""

from defibots.devnet.exchange.binance_rest import ApiError
from defibots.devnet.exchange.market import MarketSpec
from defibots.devnet.exchange.server import ExchangeThread, LocalExchange, admin_set_mid

__all__ = ["ApiError", "ExchangeThread", "LocalExchange", "MarketSpec", "admin_set_mid"]
