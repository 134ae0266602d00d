"""`defibots deploy executor`: build, deploy and verify the Executor, then record it in deployments/.

The record (deployments/<chainId>.json) is meant to be committed: it says which code (compiler, git commit,
runtime code hash) runs at which address, who owns it and who may call it. A live deployment recorded there
is never replaced without --force.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from eth_utils import is_address, to_checksum_address
from rich.console import Console
from rich.table import Table
from web3 import Web3
from web3.exceptions import Web3Exception

from defibots.chain.addresses import DEVNET, MAINNET
from defibots.cli.endpoints import resolve_rpc
from defibots.config import load_settings
from defibots.errors import UserError
from defibots.execution import executor_client as ec
from defibots.execution.keys import key_choice, load_signer
from defibots.paths import foundry_binary, project_root

app = typer.Typer(
    help="Deploy the project's contracts and record them in deployments/.", no_args_is_help=True
)
console = Console()

CONTRACT = "Executor"


@dataclass(frozen=True)
class DeployRequest:
    rpc: str | None = None
    keystore: Path | None = None
    key_env: str | None = None
    owner: str | None = None
    allow: tuple[str, ...] = ()
    force: bool = False
    deployments_dir: Path | None = None


@app.command("executor")
def executor(
    rpc: Annotated[
        str | None,
        typer.Option(help="RPC URL (default: rpc_url / $DEFIBOTS_RPC_URL, else the running devnet)."),
    ] = None,
    keystore: Annotated[
        Path | None,
        typer.Option(help="Deployer keystore JSON (password from $DEFIBOTS_KEYSTORE_PASSWORD or a prompt)."),
    ] = None,
    key_env: Annotated[
        str | None, typer.Option(help="Environment variable holding the deployer's private key.")
    ] = None,
    owner: Annotated[str | None, typer.Option(help="Owner of the Executor (default: the deployer).")] = None,
    allow: Annotated[
        list[str] | None, typer.Option("--allow", help="An address allowed to call execute (repeatable).")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Deploy even when a live Executor is recorded for this chain.")
    ] = False,
    deployments_dir: Annotated[
        Path | None, typer.Option(help="Where <chainId>.json records go (default: <project>/deployments).")
    ] = None,
) -> None:
    """Deploy the Executor (owner + allowed callers), verify its code hash, record it."""
    request = DeployRequest(rpc, keystore, key_env, owner, tuple(allow or ()), force, deployments_dir)
    record, path = deploy_executor(request)
    _print_summary(record, path)


def deploy_executor(request: DeployRequest) -> tuple[dict[str, Any], Path]:
    """Everything `deploy executor` does; returns the record written and the file it went to."""
    settings = load_settings()
    url = resolve_rpc(request.rpc, settings)
    w3, chain_id = _connect(url)
    for address in (request.owner, *request.allow):
        if address is not None and not is_address(address):
            raise UserError(f"{address!r} is not an address")
    keystore, key_env = key_choice(request.keystore, request.key_env, settings.keystore, settings.key_env)
    signer = load_signer(chain_id, keystore, key_env)

    path = (request.deployments_dir or project_root() / "deployments") / f"{chain_id}.json"
    records = _read_records(path, chain_id)
    previous = records["contracts"].get(CONTRACT)
    if previous and not request.force and _has_code(w3, previous.get("address")):
        raise UserError(
            f"an Executor is already deployed at {previous['address']} on chain {chain_id} "
            f"(recorded in {path}); pass --force to deploy a new one"
        )

    _forge_build()
    owner = to_checksum_address(request.owner or signer.address)
    callers = [to_checksum_address(a) for a in request.allow]
    try:
        client, receipt = ec.ExecutorClient.deploy(w3, signer, owner, callers)
    except ec.ExecutorRevert as exc:
        raise UserError(f"deployment would revert: {exc.reason or 'no reason given'}") from None
    except (Web3Exception, ValueError) as exc:
        raise UserError(f"deployment failed: {_one_line(exc)}") from None

    code_hash = client.code_hash()
    expected = ec.runtime_code_hash()
    if code_hash != expected:
        raise UserError(
            f"code at {client.address} hashes to 0x{code_hash.hex()}, not the artifact's 0x{expected.hex()}"
        )
    block = w3.eth.get_block(receipt["blockNumber"])
    record: dict[str, Any] = {
        "address": client.address,
        "transactionHash": receipt["transactionHash"].to_0x_hex(),
        "blockNumber": receipt["blockNumber"],
        "deployedAt": datetime.fromtimestamp(int(block["timestamp"]), UTC).isoformat().replace("+00:00", "Z"),
        "deployer": signer.address,
        "owner": owner,
        "allowedCallers": callers,
        "codeHash": "0x" + code_hash.hex(),
        "gasUsed": receipt["gasUsed"],
        **ec.compiler_settings(),
        **_git_state(),
    }
    records["contracts"][CONTRACT] = record
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(records, indent=2) + "\n")
    tmp.replace(path)
    return {"chainId": chain_id, "rpc": url, **record}, path


def _connect(url: str) -> tuple[Web3, int]:
    if not url.startswith(("http://", "https://")):
        raise UserError(f"--rpc {url!r} is not an http(s) URL")
    w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 30}))
    try:
        return w3, int(w3.eth.chain_id)
    except Exception as exc:  # requests / web3 / JSON errors all mean the same to the user
        raise UserError(f"cannot reach RPC {url}: {_one_line(exc)}") from None


def _has_code(w3: Web3, address: object) -> bool:
    if not isinstance(address, str) or not is_address(address):
        return False
    return len(w3.eth.get_code(to_checksum_address(address))) > 0


def _read_records(path: Path, chain_id: int) -> dict[str, Any]:
    if not path.is_file():
        return {"chainId": chain_id, "contracts": {}}
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"cannot read {path}: {_one_line(exc)}") from None
    if not isinstance(data, dict) or not isinstance(data.get("contracts"), dict):
        raise UserError(f"{path} is not a deployments record (no 'contracts' object)")
    if data.get("chainId") != chain_id:
        raise UserError(f"{path} records chain {data.get('chainId')}, but the RPC is chain {chain_id}")
    return data


def _forge_build() -> None:
    """forge builds incrementally: cheap when nothing changed, and never deploys stale bytecode."""
    forge = foundry_binary("forge")
    done = subprocess.run(
        [str(forge), "build", "--quiet"], cwd=project_root(), capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        lines = [line for line in (done.stderr + done.stdout).splitlines() if line.strip()]
        raise UserError(f"forge build failed: {lines[-1] if lines else f'exit code {done.returncode}'}")
    ec.load_artifact.cache_clear()


def _git_state() -> dict[str, Any]:
    """Commit of the checkout and whether contracts/ differs from it (read-only git commands)."""

    def git(*args: str) -> subprocess.CompletedProcess[str] | None:
        try:
            return subprocess.run(
                ["git", *args], cwd=project_root(), capture_output=True, text=True, check=False, timeout=10
            )
        except (OSError, subprocess.TimeoutExpired):
            return None

    head = git("rev-parse", "HEAD")
    if head is None or head.returncode != 0:
        return {"gitCommit": None, "contractsDirty": None}
    changed = git("diff", "--quiet", "HEAD", "--", "contracts")
    untracked = git("ls-files", "--others", "--exclude-standard", "--", "contracts")
    dirty = (changed is None or changed.returncode != 0) or bool(untracked and untracked.stdout.strip())
    return {"gitCommit": head.stdout.strip(), "contractsDirty": dirty}


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _print_summary(record: dict[str, Any], path: Path) -> None:
    table = Table(title="Executor deployed", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    rows = [
        ("chain", str(record["chainId"])),
        ("rpc", record["rpc"]),
        ("address", record["address"]),
        ("tx", record["transactionHash"]),
        ("block", str(record["blockNumber"])),
        ("gas used", f"{record['gasUsed']:,}"),
        ("owner", record["owner"]),
        ("allowed callers", "\n".join(record["allowedCallers"]) or "(none)"),
        ("code hash", f"{record['codeHash']} (matches the artifact)"),
        ("compiler", f"{record['compiler']}, evm {record['evmVersion']}, {record['optimizerRuns']} runs"),
        (
            "git",
            f"{record['gitCommit'] or 'unknown'}"
            + (" + uncommitted contracts" if record["contractsDirty"] else ""),
        ),
        ("record", str(path)),
    ]
    for key, value in rows:
        table.add_row(key, value)
    console.print(table)
    if record["chainId"] not in (MAINNET, DEVNET):
        console.print(
            "[yellow]note:[/yellow] the Executor calls mainnet's WETH and Uniswap factory addresses; "
            f"chain {record['chainId']} must have them at the same addresses"
        )
