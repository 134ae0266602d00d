"""`defibots cex balances | orders | book SYMBOL`: what is on the CEX venues, through ccxt.

Venues come from `--venue` (repeatable: `binance=http://127.0.0.1:9001`, `bybit=URL`, or a bare URL for
the configured exchange) or else from `[cex]` in defibots.toml (`exchange`, `url`). A venue with a URL is a
local venue (ccxt pointed there through its `urls` only). API keys come from `--key-env/--secret-env` or an
encrypted `--credentials` file (cex.secrets), never from a flag's value. Errors are one `error:` line and
exit 2.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from defibots.cli.options import ConfigOpt
from defibots.config import load_settings
from defibots.errors import UserError

app = typer.Typer(
    help="CEX venues through ccxt: balances, open orders, the normalized book.", no_args_is_help=True
)
console = Console()
T = TypeVar("T")
VENUES = ("binance", "bybit")

VenueOpt = Annotated[
    list[str] | None,
    typer.Option("--venue", help="NAME=URL or URL of a venue (repeatable); default the [cex] settings."),
]
KeyEnvOpt = Annotated[str | None, typer.Option(help="Environment variable holding the API key.")]
SecretEnvOpt = Annotated[str | None, typer.Option(help="Environment variable holding the API secret.")]
CredentialsOpt = Annotated[
    Path | None,
    typer.Option(
        "--credentials", help="Encrypted API credentials file (password: DEFIBOTS_KEYSTORE_PASSWORD)."
    ),
]


@dataclass(frozen=True)
class VenueRef:
    name: str  # the ccxt exchange id: binance | bybit
    url: str | None  # a local venue's base URL, or None for the real venue


def parse_venue(spec: str, default: str) -> VenueRef:
    """`NAME=URL` or `URL`; the name must be a venue this CLI knows."""
    name, _, url = (default, "", spec) if spec.startswith(("http://", "https://")) else spec.partition("=")
    name = name.strip().lower()
    if name not in VENUES:
        raise UserError(f"unknown venue {name!r} in --venue {spec!r} (binance or bybit)")
    if not url.startswith(("http://", "https://")):
        raise UserError(f"--venue {spec!r}: the URL must start with http:// or https://")
    return VenueRef(name, url.rstrip("/"))


def venues_from(specs: Sequence[str] | None, config: Path | None) -> list[VenueRef]:
    settings = load_settings(config)
    default = settings.cex.exchange.lower()
    if specs:
        refs = [parse_venue(s, default) for s in specs]
    else:
        if default not in VENUES:
            raise UserError(
                f"[cex] exchange {settings.cex.exchange!r} is not supported here (binance or bybit)"
            )
        refs = [VenueRef(default, settings.cex.url)]
    names = [r.name for r in refs]
    if len(set(names)) != len(names):
        raise UserError("each venue may be given once")
    return refs


def make_client(ref: VenueRef, api_key: str | None, secret: str | None, *, pro: bool = False) -> Any:
    """A ccxt client for a venue; a local one through its URLs only (devnet.exchange.ccxt_config)."""
    import ccxt.async_support as ccxt_async
    import ccxt.pro as ccxt_pro

    from defibots.cex.feed import SPOT_ONLY_OPTIONS
    from defibots.cex.secrets import scrubbed_logger
    from defibots.devnet.exchange import ccxt_config

    module: Any = ccxt_pro if pro else ccxt_async
    if ref.url is not None:
        config = ccxt_config(ref.url, "bybit" if ref.name == "bybit" else "binance", api_key, secret)
    else:
        config = {"options": dict(SPOT_ONLY_OPTIONS.get(ref.name, {})), "enableRateLimit": True}
        config |= {k: v for k, v in (("apiKey", api_key), ("secret", secret)) if v is not None}
    client = getattr(module, ref.name)(config | {"timeout": 5_000})
    client.logger = scrubbed_logger()
    return client


def credentials(key_env: str | None, secret_env: str | None, file: Path | None) -> tuple[str, str]:
    from defibots.cex.secrets import load_credentials

    creds = load_credentials(key_env=key_env, secret_env=secret_env, file=file)
    if creds is None:
        raise UserError(
            "this command needs API credentials: --key-env and --secret-env, or --credentials FILE"
        )
    return creds.api_key, creds.secret


def run_command(body: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run an async command; a UserError or a ccxt error becomes one `error:` line and exit 2."""
    import ccxt.async_support as ccxt_async

    from defibots.cex.secrets import scrub

    try:
        return asyncio.run(body())
    except UserError as exc:
        message = str(exc)
    except ccxt_async.BadSymbol as exc:
        message = f"unknown symbol: {scrub(str(exc))}"
    except ccxt_async.AuthenticationError as exc:
        message = f"credentials rejected: {scrub(str(exc))}"
    except ccxt_async.NetworkError as exc:
        message = f"venue unreachable: {type(exc).__name__}: {scrub(str(exc))}"
    except ccxt_async.ExchangeError as exc:
        message = f"venue error: {scrub(str(exc))}"
    print(f"error: {message}", file=sys.stderr)
    raise typer.Exit(2)


async def _each(refs: Sequence[VenueRef], key: str | None, secret: str | None, call: Any) -> list[Any]:
    """`call(client)` on every venue, clients closed after."""
    results = []
    for ref in refs:
        client = make_client(ref, key, secret)
        try:
            await client.load_markets()
            results.append(await call(ref, client))
        finally:
            await client.close()
    return results


def _dec(value: Any) -> str:
    """A ccxt number as the exact decimal it came from, without a float's trailing ".0"."""
    from defibots.cex.book import parse_decimal

    return _fmt(parse_decimal(value or 0))


def _fmt(value: Decimal) -> str:
    return f"{value.normalize():f}"


@app.command()
def balances(
    venue: VenueOpt = None,
    key_env: KeyEnvOpt = None,
    secret_env: SecretEnvOpt = None,
    credentials_file: CredentialsOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Free, locked and total balance of every asset held, per venue."""

    async def body() -> list[tuple[str, dict[str, Any]]]:
        refs = venues_from(venue, config)
        key, secret = credentials(key_env, secret_env, credentials_file)
        return await _each(refs, key, secret, lambda ref, c: _balance(ref, c))

    table = Table("venue", "asset", "free", "locked", "total")
    for name, balance in run_command(body):
        for asset, total in sorted(balance["total"].items()):
            if _dec(total) != "0":
                table.add_row(
                    name, asset, _dec(balance["free"].get(asset)), _dec(balance["used"].get(asset)),
                    _dec(total),
                )  # fmt: skip
    console.print(table)


async def _balance(ref: VenueRef, client: Any) -> tuple[str, dict[str, Any]]:
    return ref.name, await client.fetch_balance()


@app.command()
def orders(
    venue: VenueOpt = None,
    symbol: Annotated[
        list[str] | None, typer.Option(help="Symbols to list (repeatable); default [cex] symbols.")
    ] = None,
    key_env: KeyEnvOpt = None,
    secret_env: SecretEnvOpt = None,
    credentials_file: CredentialsOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Open orders per venue and symbol: client id, side, price, amount, filled."""
    symbols = list(symbol or load_settings(config).cex.symbols)

    async def body() -> list[tuple[str, list[Any]]]:
        refs = venues_from(venue, config)
        key, secret = credentials(key_env, secret_env, credentials_file)

        async def listing(ref: VenueRef, client: Any) -> tuple[str, list[Any]]:
            found: list[Any] = []
            for s in symbols:
                found.extend(await client.fetch_open_orders(s))
            return ref.name, found

        return await _each(refs, key, secret, listing)

    table = Table("venue", "symbol", "client order id", "side", "type", "price", "amount", "filled", "status")
    count = 0
    for name, open_orders in run_command(body):
        for o in open_orders:
            count += 1
            table.add_row(
                name, o["symbol"], str(o.get("clientOrderId") or ""), o["side"], o["type"],
                _dec(o["price"]), _dec(o["amount"]), _dec(o["filled"]), o["status"],
            )  # fmt: skip
    console.print(table if count else "no open orders")


@app.command()
def book(
    symbol: Annotated[str, typer.Argument(help="Unified symbol, e.g. ETH/USDT.")],
    venue: VenueOpt = None,
    updates: Annotated[int, typer.Option(help="Normalized records to print.", min=1)] = 1,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON record per line (the seed's format).")
    ] = False,
    config: ConfigOpt = None,
) -> None:
    """The normalized top of book across venues: event time, then per venue bid/qty and ask/qty."""
    if "/" not in symbol:
        print(f"error: symbol {symbol!r} must look like BASE/QUOTE", file=sys.stderr)
        raise typer.Exit(2)

    async def body() -> list[Any]:
        from defibots.cex.top_of_book import MultiVenueTop, NormalizedTop, PolledBook, WatchedBook

        refs = venues_from(venue, config)
        sources: list[Any] = []
        try:
            for ref in refs:
                kind = WatchedBook if ref.name == "binance" else PolledBook
                sources.append(
                    kind(make_client(ref, None, None, pro=ref.name == "binance"), ref.name, symbol)
                )
                await sources[-1].exchange.load_markets()
                if symbol not in sources[-1].exchange.markets:
                    raise UserError(f"{ref.name} has no market {symbol}")
        except BaseException:
            for source in sources:
                await source.close()
            raise
        merged = MultiVenueTop(sources)
        records: list[NormalizedTop] = []
        events = merged.events()
        try:
            async with asyncio.timeout(10):
                async for event in events:
                    if isinstance(event, NormalizedTop) and len(event.venues) == len(refs):
                        records.append(event)
                        if len(records) >= updates:
                            break
        except TimeoutError:
            raise UserError(f"no book for {symbol} from every venue within 10 s") from None
        finally:
            await events.aclose()  # type: ignore[attr-defined]
            await merged.close()
        return records

    for record in run_command(body):
        if as_json:
            print(json.dumps(record.record()))
            continue
        table = Table(
            "venue",
            "symbol",
            "bid",
            "bid qty",
            "ask",
            "ask qty",
            "spread bps",
            title=f"event_time {record.event_time}",
        )
        for top in record.venues:
            spread = (top.ask - top.bid) / top.mid * 10_000
            table.add_row(
                top.venue, top.symbol, _fmt(top.bid), _fmt(top.bid_qty), _fmt(top.ask), _fmt(top.ask_qty),
                f"{spread:.2f}",
            )  # fmt: skip
        console.print(table)
