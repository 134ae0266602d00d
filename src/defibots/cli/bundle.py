"""`defibots bundle ...`: simulate, send and follow Flashbots-style bundles.

Bundle file (JSON): {"txs": [...], "blockNumber"?, "minTimestamp"?, "maxTimestamp"?,
"revertingTxHashes"?, "replacementUuid"?, "builders"?, "watch"?: [addresses]} or just the list of txs.
Each tx is a signed raw tx ("0x02f8..."), {"tx": "0x...", "canRevert": true}, or an unsigned tx
{"to", "data"?, "value"?, "gas"?, "maxFeePerGas"?, "maxPriorityFeePerGas"?, "nonce"?, "canRevert"?}
signed with the funds key (--keystore / --key-env, else settings.keystore / key_env) at pending nonce + index.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlparse

import typer
from eth_account import Account
from eth_account.signers.local import LocalAccount
from rich.console import Console
from rich.table import Table

from defibots.chain.async_rpc import HttpRpc, RpcReplyError, to_int
from defibots.cli.endpoints import resolve_relays, resolve_rpc
from defibots.cli.options import ConfigOpt, RpcOpt
from defibots.config import Settings, load_settings
from defibots.errors import UserError
from defibots.execution.bundles import (
    Bundle,
    BundleFile,
    FeeDefaults,
    SignedTx,
    TxRequest,
    assemble_bundle,
    read_bundle_file,
)
from defibots.execution.inclusion import InclusionResult, InclusionStatus, InclusionTracker, StageTimes
from defibots.execution.keys import key_choice, load_explicit_signer, load_key_env
from defibots.execution.relay_client import RelayClient, RelayFanout
from defibots.execution.simulation import AnvilSimulator, BundleSimulationError, SimulationResult
from defibots.paths import state_dir
from defibots.protocols import eip1559

app = typer.Typer(help="Simulate, send and track Flashbots-style bundles.", no_args_is_help=True)
console = Console(soft_wrap=True)

BUNDLES_DIR = "bundles"

WatchOpt = Annotated[
    list[str] | None,
    typer.Option("--watch", help="Address whose balance changes count as ours (repeatable)."),
]
KeyEnvOpt = Annotated[
    str | None, typer.Option("--key-env", help="Env var holding the funds key (default: settings.key_env).")
]
KeystoreOpt = Annotated[
    Path | None,
    typer.Option(
        "--keystore",
        help="Funds key keystore JSON (password from $DEFIBOTS_KEYSTORE_PASSWORD or a prompt; "
        "default: settings.keystore).",
    ),
]
InPlaceOpt = Annotated[
    bool,
    typer.Option(
        "--in-place", help="Simulate on the node itself (anvil --order fifo) instead of a private fork."
    ),
]


def funds_account(keystore: Path | None, key_env: str | None, settings: Settings) -> LocalAccount | None:
    """The funds key: --keystore / --key-env, else the config's keystore / key_env; None if none is set."""
    keystore, key_env = key_choice(keystore, key_env, settings.keystore, settings.key_env)
    return load_explicit_signer(keystore, key_env, purpose="funds key")


def next_base_fee(block: dict[str, Any]) -> int:
    """EIP-1559 base fee of the block after `block` (a JSON-RPC block object)."""
    base = to_int(block.get("baseFeePerGas") or 0)
    return eip1559.next_base_fee(base, to_int(block["gasUsed"]), to_int(block["gasLimit"]))


def _upcoming_base_fee(head: dict[str, Any], pending: Any) -> int:
    """The node's pending base fee when it reports one (anvil may deviate from EIP-1559), else the formula."""
    if (
        isinstance(pending, dict)
        and pending.get("baseFeePerGas")
        and to_int(pending["number"]) == to_int(head["number"]) + 1
    ):
        return to_int(pending["baseFeePerGas"])
    return next_base_fee(head)


@dataclass
class Prepared:
    bundle: Bundle
    head: dict[str, Any]
    chain_id: int
    signer: LocalAccount | None
    watch: list[str]
    timestamp: int


async def prepare(
    rpc: HttpRpc,
    spec: BundleFile,
    signer: LocalAccount | None,
    watch: Sequence[str],
    settings: Settings,
    timestamp: int | None,
) -> Prepared:
    """Sign what needs signing for the next block and decide whose balances count."""
    try:
        chain_id = to_int(await rpc.call("eth_chainId"))
        head = await rpc.call("eth_getBlockByNumber", ["latest", False])
        upcoming = await rpc.call("eth_getBlockByNumber", ["pending", False])
    except RpcReplyError as exc:
        raise UserError(f"node at {rpc.url} failed: {exc.message}") from None
    if spec.needs_key and signer is None:
        raise UserError(
            f"{spec.source}: has unsigned transactions but no funds key "
            "(--keystore, --key-env, or set keystore/key_env)"
        )
    pending_nonce = None
    estimates: dict[TxRequest, int] = {}
    if signer is not None and spec.needs_key:
        pending_nonce = to_int(await rpc.call("eth_getTransactionCount", [signer.address, "pending"]))
        for i, entry in enumerate(spec.entries):
            if isinstance(entry, TxRequest) and entry.gas is None:
                estimates[entry] = await _estimate(rpc, signer.address, entry, i)
    bundle = assemble_bundle(
        spec,
        block_number=to_int(head["number"]) + 1,
        chain_id=chain_id,
        fees=FeeDefaults(_upcoming_base_fee(head, upcoming), settings.arb.priority_fee_wei),
        signer=signer,
        pending_nonce=pending_nonce,
        gas_for=estimates.__getitem__,
    )
    who = list(dict.fromkeys([*watch, *spec.watch, *([signer.address] if signer else [])]))
    if not who:
        who = list(dict.fromkeys(tx.sender for tx in bundle.txs))
    when = timestamp if timestamp is not None else max(to_int(head["timestamp"]) + 1, int(time.time()))
    return Prepared(bundle, head, chain_id, signer, who, when)


async def _estimate(rpc: HttpRpc, sender: str, request: TxRequest, index: int) -> int:
    call: dict[str, Any] = {"from": sender, "data": "0x" + request.data.hex(), "value": hex(request.value)}
    if request.to is not None:
        call["to"] = request.to
    try:
        gas = to_int(await rpc.call("eth_estimateGas", [call]))
    except RpcReplyError as exc:
        raise UserError(
            f'txs[{index}]: gas estimation failed ({exc.message}); give "gas" in the file '
            "(txs that depend on earlier bundle txs cannot be estimated alone)"
        ) from None
    return gas * 6 // 5


async def run_simulation(rpc_url: str, prepared: Prepared, in_place: bool) -> SimulationResult:
    async with AnvilSimulator(rpc_url, fork=not in_place) as simulator:
        try:
            return await simulator.simulate(
                prepared.bundle,
                state_block=to_int(prepared.head["number"]),
                timestamp=prepared.timestamp,
                watch=prepared.watch,
            )
        except BundleSimulationError as exc:
            raise UserError(f"bundle cannot execute: {exc}") from None


def format_eth(wei: int) -> str:
    sign = "-" if wei < 0 else ""
    whole, frac = divmod(abs(wei), 10**18)
    return f"{sign}{whole}.{frac:018d}".rstrip("0").rstrip(".") if frac else f"{sign}{whole}"


def print_simulation(result: SimulationResult, watch: Sequence[str]) -> None:
    table = Table(
        title=f"bundle {result.bundle.bundle_hash_hex} on block {result.block_number} "
        f"(state {result.state_block}, base fee {result.base_fee} wei)"
    )
    for name in ("#", "tx", "from", "to", "result", "gas used", "gas fees (wei)", "coinbase diff (wei)"):
        table.add_column(
            name,
            justify="right" if name in ("#", "gas used", "gas fees (wei)", "coinbase diff (wei)") else "left",
            overflow="fold",
        )
    for t in result.txs:
        if t.success:
            outcome = "[green]ok[/]"
        else:
            reason = t.revert_reason or t.error or "reverted"
            outcome = (
                f"[yellow]reverted (allowed): {reason}[/]"
                if t.allowed_to_revert
                else f"[red]REVERTED: {reason}[/]"
            )
        table.add_row(
            str(t.index),
            t.tx.hash_hex[:18] + "…",
            t.tx.sender,
            t.tx.to or "(create)",
            outcome,
            f"{t.gas_used:,}",
            f"{t.gas_fees:,}",
            f"{t.coinbase_diff:,}",
        )
    console.print(table)
    console.print(
        f"total gas {result.total_gas_used:,}  coinbase diff {result.coinbase_diff:,} wei "
        f"({format_eth(result.coinbase_diff)} ETH)  sent to coinbase {result.eth_sent_to_coinbase:,} wei  "
        f"bundle gas price {result.bundle_gas_price:,} wei"
    )
    changes = Table(title="balance changes")
    for name in ("address", "asset", "change"):
        changes.add_column(name, justify="right" if name == "change" else "left", overflow="fold")
    for address in watch:
        changes.add_row(address, "ETH (wei)", f"{result.eth_changes.get(address, 0):,}")
        for token, delta in sorted(result.token_changes.get(address, {}).items()):
            changes.add_row(address, token, f"{delta:,}")
    console.print(changes)
    console.print(
        f"profit (ETH + WETH of watched addresses): {result.profit(watch):,} wei "
        f"({format_eth(result.profit(watch))} ETH)"
    )


@app.command()
def simulate(
    file: Annotated[str, typer.Argument(help="Bundle JSON file, or - for stdin.")],
    rpc: RpcOpt = None,
    config: ConfigOpt = None,
    watch: WatchOpt = None,
    keystore: KeystoreOpt = None,
    key_env: KeyEnvOpt = None,
    timestamp: Annotated[
        int | None, typer.Option(help="Block timestamp (default: max(head+1, now)).")
    ] = None,
    in_place: InPlaceOpt = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the eth_callBundle response as JSON.")
    ] = False,
) -> None:
    """Simulate a bundle on top of the latest block; exit 1 if a tx reverts that may not."""
    settings = load_settings(config)
    url = resolve_rpc(rpc, settings)
    spec = read_bundle_file(file)
    signer = funds_account(keystore, key_env, settings) if spec.needs_key else None

    async def go() -> SimulationResult:
        async with HttpRpc(url) as node:
            prepared = await prepare(node, spec, signer, watch or [], settings, timestamp)
        result = await run_simulation(url, prepared, in_place)
        if as_json:
            typer.echo(json.dumps(result.call_bundle_response(), indent=2))
        else:
            print_simulation(result, prepared.watch)
        return result

    result = asyncio.run(go())
    if not result.ok:
        bad = result.failed[0]
        typer.echo(f"tx {bad.index} {bad.tx.hash_hex} reverted: {bad.revert_reason or bad.error}", err=True)
        raise typer.Exit(1)


def relay_signer(urls: Sequence[str], settings: Settings) -> LocalAccount:
    """The reputation key; a throwaway one is fine when every relay is on this machine."""
    if settings.relay_signing_key_env or not all(_is_local(u) for u in urls):
        if not settings.relay_signing_key_env:
            raise UserError(
                "no relay signing key: set relay_signing_key_env in defibots.toml to an env var name"
            )
        return load_key_env(settings.relay_signing_key_env, purpose="relay signing key")
    account: LocalAccount = Account.create()
    return account


def _is_local(url: str) -> bool:
    return (urlparse(url).hostname or "") in ("127.0.0.1", "localhost", "::1")


def save_record(bundle: Bundle, targets: Sequence[int], relays: Sequence[str], ours: Sequence[str]) -> Path:
    """What `bundle status` needs later: the signed txs, targets and whose txs are ours."""
    folder = state_dir() / BUNDLES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{bundle.bundle_hash_hex}.json"
    record = {
        "bundle_hash": bundle.bundle_hash_hex,
        "txs": [tx.raw_hex for tx in bundle.txs],
        "reverting_tx_hashes": ["0x" + h.hex() for h in bundle.reverting_tx_hashes],
        "target_blocks": list(targets),
        "relays": list(relays),
        "ours": list(ours),
        "sent_at": time.time(),
    }
    path.write_text(json.dumps(record, indent=2))
    return path


def load_record(bundle_hash: str) -> dict[str, Any]:
    name = bundle_hash.lower()
    if not name.startswith("0x"):
        name = "0x" + name
    path = state_dir() / BUNDLES_DIR / f"{name}.json"
    if not path.is_file():
        raise UserError(f"unknown bundle {bundle_hash}: only bundles sent from this checkout are tracked")
    try:
        record: dict[str, Any] = json.loads(path.read_text())
    except ValueError:
        raise UserError(f"bundle record {path} is corrupt") from None
    return record


def print_inclusion(result: InclusionResult) -> None:
    style = {"included": "green", "not_included": "yellow", "conflicted": "red", "pending": "cyan"}
    table = Table(title=f"bundle {result.bundle_hash}: {result.status.value}")
    for name in ("block", "status", "tx positions", "reason"):
        table.add_column(name, overflow="fold")
    for number in result.target_blocks:
        outcome = result.outcomes.get(number)
        status = outcome.status.value if outcome else "pending"
        table.add_row(
            str(number),
            f"[{style.get(status, 'white')}]{status}[/]",
            ",".join(str(i) for i in outcome.tx_indexes) if outcome else "",
            outcome.reason if outcome else "",
        )
    console.print(table)
    timings = {k: v for k, v in result.stage_ms_into_slot().items() if v is not None}
    if timings:
        console.print("ms into slot: " + "  ".join(f"{k} {v:,.0f}" for k, v in timings.items()))


@app.command()
def send(
    file: Annotated[str, typer.Argument(help="Bundle JSON file, or - for stdin.")],
    rpc: RpcOpt = None,
    config: ConfigOpt = None,
    relay: Annotated[
        list[str] | None,
        typer.Option(
            "--relay",
            help="Relay URL (repeatable; default: relay_urls, else the running `defibots devnet relay`).",
        ),
    ] = None,
    blocks: Annotated[int, typer.Option("--blocks", min=1, max=25, help="Target the next N blocks.")] = 1,
    min_profit: Annotated[
        int | None, typer.Option("--min-profit", help="Refuse if the watched addresses gain less (wei).")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Send even if simulation reverts or profit is low.")
    ] = False,
    wait: Annotated[
        bool, typer.Option("--wait", help="Follow the target blocks until included or missed.")
    ] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait with --wait.")] = 120.0,
    watch: WatchOpt = None,
    keystore: KeystoreOpt = None,
    key_env: KeyEnvOpt = None,
    in_place: InPlaceOpt = False,
) -> None:
    """Simulate, then send to the relays for the next block(s); prints the bundle hash."""
    settings = load_settings(config)
    url = resolve_rpc(rpc, settings)
    urls = resolve_relays(relay, settings)
    spec = read_bundle_file(file)
    stages = StageTimes()
    stages.mark("trigger")
    signer = funds_account(keystore, key_env, settings) if spec.needs_key else None
    auth = relay_signer(urls, settings)

    async def go() -> InclusionResult | None:
        async with HttpRpc(url) as node:
            prepared = await prepare(node, spec, signer, watch or [], settings, None)
        stages.mark("signed")
        stages.mark("decided")
        result = await run_simulation(url, prepared, in_place)
        stages.mark("simulated")
        print_simulation(result, prepared.watch)
        if not result.ok and not force:
            bad = result.failed[0]
            raise UserError(
                f"not sent: tx {bad.index} reverts in simulation ({bad.revert_reason or bad.error}); "
                "--force to send anyway"
            )
        profit = result.profit(prepared.watch)
        if min_profit is not None and profit < min_profit and not force:
            raise UserError(
                f"not sent: profit {profit} wei is below --min-profit {min_profit}; --force to send anyway"
            )
        first = prepared.bundle.block_number
        targets = list(range(first, first + blocks))
        fanout = RelayFanout([RelayClient(u, auth) for u in urls])
        try:
            outcomes = await fanout.send_bundle(prepared.bundle, targets)
        finally:
            await fanout.close()
        stages.mark("sent")
        for outcome in outcomes:
            if outcome.ok:
                console.print(
                    f"[green]sent[/] block {outcome.block_number} -> {outcome.relay}: {outcome.bundle_hash}"
                )
            else:
                console.print(
                    f"[red]failed[/] block {outcome.block_number} -> {outcome.relay}: {outcome.error}"
                )
        if not any(o.ok for o in outcomes):
            raise UserError(f"no relay accepted the bundle: {outcomes[0].error}")
        ours = list(prepared.watch)
        save_record(prepared.bundle, targets, urls, ours)
        typer.echo(prepared.bundle.bundle_hash_hex)
        if not wait:
            return None
        async with HttpRpc(url) as node:
            tracker = InclusionTracker(node)
            return await tracker.track(prepared.bundle, targets, ours or None, stages, timeout=timeout)

    tracked = asyncio.run(go())
    if tracked is not None:
        print_inclusion(tracked)
        if tracked.status is not InclusionStatus.INCLUDED:
            raise typer.Exit(1)


@app.command()
def status(
    bundle_hash: Annotated[str, typer.Argument(help="Bundle hash printed by `bundle send`.")],
    rpc: RpcOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Where a bundle sent from this checkout stands in its target blocks."""
    settings = load_settings(config)
    url = resolve_rpc(rpc, settings)
    record = load_record(bundle_hash)
    txs = tuple(SignedTx.decode(bytes.fromhex(raw[2:])) for raw in record["txs"])
    targets = [int(b) for b in record["target_blocks"]]
    bundle = Bundle(
        txs,
        targets[0],
        reverting_tx_hashes=tuple(bytes.fromhex(h[2:]) for h in record.get("reverting_tx_hashes", [])),
    )

    async def go() -> InclusionResult:
        async with HttpRpc(url) as node:
            tracker = InclusionTracker(node)
            result = InclusionResult(bundle.bundle_hash_hex, tuple(targets))
            for number in targets:
                outcome = await tracker.check_block(bundle, number, record.get("ours") or None)
                if outcome is None:
                    break
                result.outcomes[number] = outcome
                if outcome.status is not InclusionStatus.NOT_INCLUDED:
                    break
            return result

    print_inclusion(asyncio.run(go()))
