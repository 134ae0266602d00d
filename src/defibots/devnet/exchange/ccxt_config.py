"""The ccxt settings that point a real, unmodified ccxt client at a local venue, through `urls` only.

Binance: every REST base in `urls['api']` (api/v3, sapi, and the futures bases, so nothing leaks to the
real venue) plus ccxt.pro's `urls['api']['ws']`: the market-stream base must contain "/stream" (ccxt.pro
tells spot from futures depth messages by it) and `ws-api.spot` is the WebSocket API. Options keep
load_markets to spot and off the margin/currency endpoints a local venue does not serve.

Bybit: `urls['api']` public/private/spot/futures/v2 (ccxt implodes `{hostname}` into them); options keep
load_markets to spot.
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlsplit

Venue = Literal["binance", "bybit"]

BINANCE_REST_PATHS = {
    "public": "/api/v3",
    "private": "/api/v3",
    "v1": "/api/v1",
    "sapi": "/sapi/v1",
    "sapiV2": "/sapi/v2",
    "sapiV3": "/sapi/v3",
    "sapiV4": "/sapi/v4",
    "fapiPublic": "/fapi/v1",
    "fapiPublicV2": "/fapi/v2",
    "fapiPublicV3": "/fapi/v3",
    "fapiPrivate": "/fapi/v1",
    "fapiPrivateV2": "/fapi/v2",
    "fapiPrivateV3": "/fapi/v3",
    "fapiData": "/futures/data",
    "dapiPublic": "/dapi/v1",
    "dapiPrivate": "/dapi/v1",
    "dapiPrivateV2": "/dapi/v2",
    "dapiData": "/futures/data",
    "eapiPublic": "/eapi/v1",
    "eapiPrivate": "/eapi/v1",
    "papi": "/papi/v1",
    "papiV2": "/papi/v2",
}
BINANCE_WS_STREAMS = "/stream/ws"
BINANCE_WS_API = "/ws-api/v3"
BYBIT_URL_KEYS = ("spot", "futures", "v2", "public", "private")


def ccxt_urls(url: str, venue: Venue) -> dict[str, Any]:
    """ccxt's `urls['api']` for a local venue served at `url` (http://host:port)."""
    base = url.rstrip("/")
    if venue == "bybit":
        return {key: base for key in BYBIT_URL_KEYS}
    ws_base = "ws://" + urlsplit(base).netloc
    ws_streams = ws_base + BINANCE_WS_STREAMS
    return {
        **{key: base + path for key, path in BINANCE_REST_PATHS.items()},
        "ws": {
            "spot": ws_streams,
            "margin": ws_streams,
            "linear": ws_streams,
            "inverse": ws_streams,
            "ws-api": {"spot": ws_base + BINANCE_WS_API},
        },
    }


def ccxt_options(venue: Venue) -> dict[str, Any]:
    """ccxt `options` that keep a client to what a local venue serves (spot markets, no margin/currencies)."""
    if venue == "bybit":
        return {"defaultType": "spot", "fetchMarkets": {"types": ["spot"]}}
    return {
        "defaultType": "spot",
        "fetchMarkets": {"types": ["spot"]},
        "fetchCurrencies": False,
        "fetchMargins": False,
        "warnOnFetchOpenOrdersWithoutSymbol": False,
    }


def ccxt_config(
    url: str, venue: Venue, api_key: str | None = None, secret: str | None = None
) -> dict[str, Any]:
    """The whole ccxt constructor config for a local venue: `ccxt.pro.binance(ccxt_config(ex.url, ...))`."""
    config: dict[str, Any] = {
        "urls": {"api": ccxt_urls(url, venue)},
        "options": ccxt_options(venue),
        "enableRateLimit": True,
        "timeout": 10_000,
    }
    if api_key is not None:
        config["apiKey"] = api_key
    if secret is not None:
        config["secret"] = secret
    return config
