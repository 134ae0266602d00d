"""`defibots devnet ...`: run a local replica (mainnet's, or Arbitrum's with --chain arbitrum) or a fork of
any RPC, for bots and tests."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from defibots.cli.endpoints import RELAY_STATE_FILE, resolve_rpc
from defibots.cli.options import ConfigOpt, RpcOpt
from defibots.config import load_settings
from defibots.devnet.node import DevnetOptions
from defibots.errors import UserError
from defibots.paths import state_dir

app = typer.Typer(
    help="Run a local devnet: the mainnet or Arbitrum replica, or a fork of any RPC.", no_args_is_help=True
)
relay_app = typer.Typer(help="Run the local Flashbots-protocol relay that builds the devnet's blocks.")
app.add_typer(relay_app, name="relay")
console = Console()
ChainOpt = Annotated[
    str, typer.Option("--chain", help="Which replica: mainnet (chain id 31337) or arbitrum (31338).")
]


def _options(
    host: str,
    port: int | None,
    block_time: float | None,
    fork_url: str | None,
    fork_block: int | None,
    no_cache: bool,
    chain: str = "mainnet",
) -> DevnetOptions:
    if block_time is not None and block_time <= 0:
        raise UserError("--block-time must be positive (omit it for automine)")
    if fork_block is not None and not fork_url:
        raise UserError("--fork-block needs --fork-url")
    return DevnetOptions(
        host=host,
        port=port,
        block_time=block_time,
        fork_url=fork_url,
        fork_block=fork_block,
        use_cache=not no_cache,
        chain=chain,
    )


@app.command()
def up(
    port: Annotated[int, typer.Option(help="RPC port (HTTP and WS).", min=1, max=65535)] = 8545,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    block_time: Annotated[float | None, typer.Option(help="Seconds per block; default automine.")] = None,
    detach: Annotated[bool, typer.Option("--detach", help="Return once the node is ready.")] = False,
    fork_url: Annotated[
        str | None, typer.Option(help="Fork this RPC instead of building the replica.")
    ] = None,
    fork_block: Annotated[int | None, typer.Option(help="Block to fork at (with --fork-url).", min=0)] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Rebuild the replica instead of restoring it.")
    ] = False,
    show_keys: Annotated[
        bool, typer.Option("--show-keys", help="Also print the dev accounts' keys.")
    ] = False,
    chain: ChainOpt = "mainnet",
    keeper_delay: Annotated[
        float, typer.Option(help="Arbitrum replica: seconds before the GMX keeper executes an order.", min=0)
    ] = 1.0,
    exchange_url: Annotated[
        str | None,
        typer.Option(help="Arbitrum replica: the GMX oracle follows this local exchange's ETHUSDT, BTCUSDT."),
    ] = None,
) -> None:
    """Start anvil with a replica (mainnet by default) or a fork; print endpoints and funded accounts.

    The Arbitrum replica also starts the GMX keeper with its oracle routes (`devnet keeper`)."""
    from defibots.devnet.node import Devnet, default_rpc_url, write_state

    if default_rpc_url():
        raise UserError("a devnet from this checkout is already running (see `defibots devnet status`)")
    opts = _options(host, port, block_time, fork_url, fork_block, no_cache, chain)
    with console.status("starting devnet") as status:
        devnet = Devnet.start(
            opts,
            detach=detach,
            log_path=state_dir() / "anvil.log",
            progress=lambda step: status.update(f"building {chain} replica: {step}"),
        )
    keeper = None
    try:
        info = devnet.describe()
        if chain == "arbitrum" and _has_gmx_standin(devnet.http_url):
            keeper, info["gmx_oracle_url"] = _start_gmx_keeper(devnet.http_url, keeper_delay, exchange_url)
            info["gmx_keeper_pid"] = keeper.pid
        write_state(info)
        _print_info(info, devnet.rebuilt, show_keys)
    except BaseException:
        if keeper is not None:
            keeper.terminate()
        devnet.stop()
        raise
    if detach:
        return
    console.print("[dim]Ctrl-C to stop[/dim]")
    try:
        while devnet.node.process and devnet.node.process.poll() is None:
            time.sleep(0.5)
        raise UserError("anvil exited unexpectedly (see .defibots/anvil.log)")
    except KeyboardInterrupt:
        pass
    finally:
        if keeper is not None:
            keeper.terminate()
            keeper.wait(10)
        devnet.stop()
        _forget_state()


def _has_gmx_standin(rpc_url: str) -> bool:
    """The replica, or a fork of it, has our GMX stand-in; a fork of real Arbitrum has GMX's own contracts,
    which need GMX's signed oracle reports (no local keeper: see the README's GMX section)."""
    from defibots.devnet.gmx_standin import own_address
    from defibots.foundry.anvil import rpc_call

    code = rpc_call(rpc_url, "eth_getCode", [own_address("OrderHandler"), "latest"], timeout=10)
    return code not in ("0x", "")


def _start_gmx_keeper(
    rpc_url: str, delay: float, exchange_url: str | None
) -> tuple[subprocess.Popen[bytes], str]:
    from defibots.devnet.gmx_process import start_keeper

    with console.status("starting the GMX keeper and oracle"):
        return start_keeper(rpc_url, state_dir() / "gmx-keeper.log", delay, exchange_url)


def _print_info(info: dict[str, object], rebuilt: bool, show_keys: bool) -> None:
    from defibots.foundry.accounts import dev_accounts

    mode = str(info["mode"])
    if mode == "replica" and info.get("chain", "mainnet") != "mainnet":
        mode = f"{info['chain']} {mode}"
    if mode.endswith("replica"):
        mode += " (built now, cached for next time)" if rebuilt else " (restored from cache)"
    console.print(f"[bold green]devnet up[/bold green]: {mode}")
    console.print(f"  HTTP      {info['http_url']}")
    console.print(f"  WS        {info['ws_url']}")
    console.print(f"  chain id  {info['chain_id']}")
    console.print(f"  block     {info['block_number']}")
    console.print(f"  pid       {info['pid']}")
    if "gmx_oracle_url" in info:
        console.print(f"  GMX       keeper and oracle routes at {info['gmx_oracle_url']}")
    console.print("  funded accounts:")
    accounts = info.get("accounts")
    keys = dev_accounts(len(accounts)) if show_keys and isinstance(accounts, list) else []
    for i, address in enumerate(accounts if isinstance(accounts, list) else []):
        key = f"  {keys[i].key.hex()}" if keys else ""
        console.print(f"    {i}  {address}{key}")


def _forget_state() -> None:
    from defibots.devnet.node import state_file

    state_file().unlink(missing_ok=True)


@app.command()
def status() -> None:
    """Show the devnet this checkout started, if any."""
    from defibots.devnet.node import pid_alive, read_state
    from defibots.foundry.anvil import rpc_call

    info = read_state()
    if not info or not isinstance(info.get("pid"), int) or not pid_alive(info["pid"]):
        console.print("no devnet running")
        raise typer.Exit(1)
    try:
        block = int(rpc_call(str(info["http_url"]), "eth_blockNumber", timeout=3), 16)
    except OSError as exc:
        raise UserError(
            f"devnet pid {info['pid']} is alive but {info['http_url']} does not answer: {exc}"
        ) from None
    console.print(
        f"devnet {info['mode']} pid {info['pid']}: {info['http_url']} chain {info['chain_id']} block {block}"
    )


@app.command()
def down() -> None:
    """Stop the devnet this checkout started (only that process, by pid)."""
    from defibots.devnet.node import pid_alive, read_state

    info = read_state()
    pid = info.get("pid") if info else None
    if not isinstance(pid, int) or not pid_alive(pid):
        _forget_state()
        console.print("no devnet running")
        return
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    if "anvil" not in cmdline:
        _forget_state()
        raise UserError(f"pid {pid} is not an anvil process; forgetting the stale state file")
    keeper = info.get("gmx_keeper_pid") if info else None
    if isinstance(keeper, int) and pid_alive(keeper):
        from defibots.devnet.gmx_process import stop_keeper

        stop_keeper(keeper)
    os.kill(pid, signal.SIGTERM)
    for _ in range(100):
        if not pid_alive(pid):
            break
        time.sleep(0.05)
    else:
        os.kill(pid, signal.SIGKILL)
    _forget_state()
    console.print(f"devnet pid {pid} stopped")


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def exec(
    ctx: typer.Context,
    fork_url: Annotated[str | None, typer.Option(help="Fork this RPC instead of the replica.")] = None,
    chain: ChainOpt = "mainnet",
) -> None:
    """Run a command against a fresh replica on a free port (env DEFIBOTS_RPC_URL / DEFIBOTS_WS_URL)."""
    from defibots.devnet.node import Devnet

    args = list(ctx.args)
    if not args:
        raise UserError("usage: defibots devnet exec -- COMMAND [ARGS...]")
    with Devnet.start(DevnetOptions(fork_url=fork_url, chain=chain)) as devnet:
        env = dict(os.environ, DEFIBOTS_RPC_URL=devnet.http_url, DEFIBOTS_WS_URL=devnet.ws_url)
        try:
            code = subprocess.call(args, env=env)
        except FileNotFoundError:
            raise UserError(f"command not found: {args[0]}") from None
    raise typer.Exit(code)


@app.command()
def noise(
    rate: Annotated[float, typer.Option(help="Swaps per second (Poisson arrivals).", min=0.01)] = 2.0,
    duration: Annotated[
        float | None, typer.Option(help="Seconds to run; default until Ctrl-C.", min=0)
    ] = None,
    seed: Annotated[int | None, typer.Option(help="RNG seed (printed when omitted).")] = None,
    rpc: Annotated[str | None, typer.Option(help="RPC URL; default the running devnet.")] = None,
    exchange_url: Annotated[
        str | None,
        typer.Option(
            help="Also move this local exchange's ETH/USDT mid (its admin endpoint) after each swap."
        ),
    ] = None,
    exchange_port: Annotated[
        int | None,
        typer.Option(
            help="Serve a local exchange (ETH/USDT, Binance API) on this port and move it after each swap.",
            min=1,
            max=65535,
        ),
    ] = None,
) -> None:
    """Send realistic random swaps through the Uniswap routers from dev accounts 5-9 (devnet only).

    With --exchange-url or --exchange-port the CEX leads: a price driver random-walks the local exchange's
    ETH/USDT mid after each swap, sets the Aave replica's WETH feed to it, and arbitrageurs drag the
    replica's WETH/stable pools after it (not always at once), so `watch arb --cex-url ...` has gaps to find.
    """
    from decimal import Decimal

    from rich.live import Live

    from defibots.chain.rpc import JsonRpc
    from defibots.devnet.exchange import ExchangeThread, LocalExchange, MarketSpec, admin_set_mid
    from defibots.devnet.node import default_rpc_url
    from defibots.devnet.noise import MarketNoise, NoiseStats, reference_pool
    from defibots.devnet.price_driver import PriceDriver, pool_price
    from defibots.foundry.accounts import dev_accounts

    if exchange_url and exchange_port:
        raise UserError("give either --exchange-url or --exchange-port, not both")
    url = rpc or default_rpc_url()
    if not url:
        raise UserError("no devnet running; start one with `defibots devnet up` or pass --rpc")
    if int(JsonRpc(url).call("eth_chainId"), 16) != 31337:
        raise UserError(
            "devnet noise only runs on the devnet (chain id 31337): it signs with public dev keys"
        )
    market = MarketNoise(url, dev_accounts(10)[5:], seed=seed)
    with contextlib.ExitStack() as stack:
        if exchange_port is not None:
            served = LocalExchange(exchange_port, [MarketSpec("ETH/USDT", Decimal(3000))], seed=market.seed)
            exchange_url = stack.enter_context(ExchangeThread(served)).url
            console.print(f"local exchange (Binance API, ETH/USDT) at {exchange_url}")
        mover = None
        if exchange_url:
            target = exchange_url
            start = pool_price(market, reference_pool()).quantize(Decimal("0.01"))
            admin_set_mid(target, "ETH/USDT", start)  # fails here, once, if the exchange is not there
            venues = {"local": lambda symbol, mid: admin_set_mid(target, symbol, mid)}
            mover = PriceDriver(venues, rpc_url=url, noise=market, start_mid=start, seed=market.seed)
        console.print(f"noise seed {market.seed}; approving routers")
        market.approve_routers()

        def line(stats: NoiseStats) -> str:
            moved = f"; exchange moves: {mover.stats.steps}" if mover else ""
            return f"swaps sent: {stats.sent}{moved}"

        def tick(stats: NoiseStats, live: Live) -> None:
            if mover is not None:
                mover.step()
            live.update(line(stats))

        with (
            Live(line(market.stats), console=console, refresh_per_second=4) as live,
            contextlib.suppress(KeyboardInterrupt),
        ):
            market.run(rate, duration, on_tick=lambda s: tick(s, live))
    console.print(f"sent {market.stats.sent} swaps")


@relay_app.callback(invoke_without_command=True)
def relay_main(
    rpc: RpcOpt = None,
    config: ConfigOpt = None,
    port: Annotated[int, typer.Option(help="Port for the relay's JSON-RPC.", min=1, max=65535)] = 8550,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    block_time: Annotated[float, typer.Option(help="Seconds per block (the relay mines the devnet).")] = 12.0,
    slot_seconds: Annotated[
        int | None,
        typer.Option(help="Stamp each block parent + N s (mainnet-like slots; default: wall-clock).", min=1),
    ] = None,
) -> None:
    """Serve the bundle JSON-RPC methods and build one devnet block per slot."""
    from defibots.devnet.relay import LocalRelay

    if block_time <= 0:
        raise UserError("--block-time must be positive")
    settings = load_settings(config)
    url = resolve_rpc(rpc, settings)

    async def serve() -> None:
        relay = LocalRelay(url, port=port, block_time=block_time, host=host, slot_seconds=slot_seconds)
        await relay.start()
        main = asyncio.current_task()
        if main is not None:  # SIGTERM stops as cleanly as Ctrl-C: the relay's fork node must not outlive it
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main.cancel)
        state = state_dir() / RELAY_STATE_FILE
        state.write_text(json.dumps({"url": relay.url, "pid": os.getpid(), "node_url": url}))
        console.print(
            f"local relay on {relay.url} building blocks for {url} every {block_time:g}s (Ctrl-C stops)",
            soft_wrap=True,
        )
        seen = 0
        try:
            while True:
                await asyncio.sleep(0.5)
                for report in relay.blocks[seen:]:
                    console.print(
                        f"block {report.number}: {report.tx_count} txs, bundles {report.included or '-'}"
                        + (f", rejected {report.rejected}" if report.rejected else ""),
                        soft_wrap=True,
                    )
                seen = len(relay.blocks)
        finally:
            state.unlink(missing_ok=True)
            await relay.stop()

    try:
        asyncio.run(serve())
    except (KeyboardInterrupt, asyncio.CancelledError):
        console.print("relay stopped", soft_wrap=True)


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


@app.command()
def keeper(
    rpc: RpcOpt = None,
    config: ConfigOpt = None,
    port: Annotated[int, typer.Option(help="Port for the oracle routes.", min=1, max=65535)] = 8560,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    delay: Annotated[float, typer.Option(help="Seconds before an order is executed.", min=0)] = 1.0,
    poll: Annotated[float, typer.Option(help="Seconds between keeper rounds.", min=0.05)] = 0.25,
    quiet: Annotated[bool, typer.Option("--quiet", help="No live table (as a background process).")] = False,
    exchange_url: Annotated[
        str | None, typer.Option(help="Follow this local exchange's ETHUSDT and BTCUSDT mids (Binance API).")
    ] = None,
) -> None:
    """Run the GMX keeper of the Arbitrum replica: it executes and liquidates at its oracle's prices and
    serves GMX's oracle-keeper routes (/prices/tickers, /signed_prices/latest, /tokens, /markets/info) and
    POST /admin/prices to move a price."""
    from rich.live import Live
    from rich.table import Table

    from defibots.devnet.gmx_service import GmxServiceConfig, gmx_service

    url = resolve_rpc(rpc, load_settings(config))
    if not _has_gmx_standin(url):
        raise UserError(f"no GMX stand-in at {url} (start one with `defibots devnet up --chain arbitrum`)")
    signal.signal(signal.SIGTERM, _interrupt)  # `devnet down` stops it as cleanly as Ctrl-C

    cfg = GmxServiceConfig(
        url, host=host, port=port, delay_seconds=delay, poll_seconds=poll, exchange_url=exchange_url
    )
    with gmx_service(cfg) as svc:
        console.print(f"GMX keeper for {url}; oracle routes at {svc.url} (Ctrl-C stops)", soft_wrap=True)

        def table() -> Table:
            s = svc.keeper.stats
            t = Table("executed", "cancelled", "frozen", "liquidated", "waiting", "errors", "prices")
            prices = ", ".join(
                f"{p.token.symbol} {svc.oracle.usd(p.token.symbol):.2f}" for p in svc.oracle.prices()
            )
            t.add_row(*(str(n) for n in (s.executed, s.cancelled, s.frozen, s.liquidated, s.waiting)),
                      str(len(svc.errors)), prices)  # fmt: skip
            return t

        with contextlib.suppress(KeyboardInterrupt):
            if quiet:
                while True:
                    time.sleep(1)
            with Live(table(), console=console, refresh_per_second=2) as live:
                while True:
                    time.sleep(0.5)
                    live.update(table())
    console.print("keeper stopped")
