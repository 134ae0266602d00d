"""A client of GMX's oracle keeper HTTP API: `GET /prices/tickers`, the prices GMX's front end quotes at.

Each ticker is a token's min and max price per smallest unit x 1e30 (decimal strings), the same units the
contracts use. Any reply that is not that (unreachable host, HTTP error, not JSON, a missing or malformed
field) is one UserError line naming the URL.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass

from eth_typing import ChecksumAddress
from eth_utils import is_address, to_checksum_address

from defibots.errors import UserError
from defibots.protocols.gmx_v2.market import TokenPrices

TICKERS_PATH = "/prices/tickers"


@dataclass(frozen=True, slots=True)
class Ticker:
    """One token's oracle price: min/max per smallest unit x 1e30; `updated_at_ms` as the keeper sent it."""

    address: ChecksumAddress
    symbol: str
    min_price: int
    max_price: int
    oracle_decimals: int | None
    updated_at_ms: int | None

    @property
    def prices(self) -> TokenPrices:
        return TokenPrices(self.min_price, self.max_price)


class GmxOracleClient:
    """`GmxOracleClient(url).tickers()`: every token's price by (checksummed) address."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise UserError(f"GMX oracle URL {url!r} is not http(s)")
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _get(self, path: str) -> object:
        url = self.url + path
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as reply:
                body = reply.read()
        except urllib.error.HTTPError as exc:
            raise UserError(f"GMX oracle {url} answered HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise UserError(f"GMX oracle {url} unreachable: {reason}") from None
        try:
            return json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise UserError(f"GMX oracle {url} did not answer JSON") from None

    def tickers(self) -> dict[ChecksumAddress, Ticker]:
        url = self.url + TICKERS_PATH
        data = self._get(TICKERS_PATH)
        if not isinstance(data, list):
            raise UserError(f"GMX oracle {url}: expected a list of tickers")
        out: dict[ChecksumAddress, Ticker] = {}
        for n, row in enumerate(data):
            ticker = _ticker(row)
            if ticker is None:
                raise UserError(f"GMX oracle {url}: ticker {n} is malformed")
            out[ticker.address] = ticker
        return out

    def prices(self, address: str) -> TokenPrices:
        """One token's (min, max); a token the oracle does not price is a UserError."""
        ticker = self.tickers().get(to_checksum_address(address))
        if ticker is None:
            raise UserError(f"GMX oracle {self.url} has no price for token {address}")
        return ticker.prices


def _ticker(row: object) -> Ticker | None:
    if not isinstance(row, dict):
        return None
    try:
        address = str(row["tokenAddress"])
        low, high = int(str(row["minPrice"])), int(str(row["maxPrice"]))
        decimals = row.get("oracleDecimals")
        updated = row.get("updatedAt")
        ticker = Ticker(
            to_checksum_address(address) if is_address(address) else address,  # type: ignore[arg-type]
            str(row.get("tokenSymbol", "")),
            low,
            high,
            int(decimals) if decimals is not None else None,
            int(updated) if updated is not None else None,
        )
    except (KeyError, ValueError, TypeError):
        return None
    if not is_address(address) or low <= 0 or high < low:
        return None
    return ticker
