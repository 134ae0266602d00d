"""`Devnet`: a running anvil holding a replica (mainnet's or Arbitrum's, from cache), a fork of some RPC, or
nothing.

The CLI's `devnet up` and the test fixtures both go through `Devnet.start`, so users and tests run the
same chain.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import urllib.error
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from defibots.devnet.profiles import DEFAULT_PROFILE, replica_profile
from defibots.errors import UserError
from defibots.foundry.accounts import dev_accounts
from defibots.foundry.anvil import AnvilConfig, AnvilNode, rpc_call
from defibots.paths import state_dir

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount
    from web3 import Web3

STATE_FILE = "devnet.json"


@dataclass(frozen=True)
class DevnetOptions:
    host: str = "127.0.0.1"
    port: int | None = None
    block_time: float | None = None
    fork_url: str | None = None
    fork_block: int | None = None
    replica: bool = True
    use_cache: bool = True
    accounts: int = 10
    chain_id: int | None = None
    """anvil's --chain-id (default: the profile's, 31337 or 31338); a state cache holds no chain id: any id
    restores it."""
    chain: str = DEFAULT_PROFILE
    """Which replica (profiles.PROFILES): "mainnet" or "arbitrum"; with fork_url, whose fork rules apply."""


class Devnet:
    """A devnet node plus what a bot or test needs to use it. Context manager: stops what it started."""

    def __init__(self, node: AnvilNode, options: DevnetOptions, rebuilt: bool = False) -> None:
        self.node = node
        self.options = options
        self.rebuilt = rebuilt
        """True when the replica was built now (cache miss or corrupt cache) rather than restored."""

    @classmethod
    def start(
        cls,
        options: DevnetOptions | None = None,
        detach: bool = False,
        log_path: Path | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> Devnet:
        opts = options or DevnetOptions()
        profile = replica_profile(opts.chain)
        chain_id = opts.chain_id if opts.chain_id is not None else profile.chain_id
        base = AnvilConfig(host=opts.host, port=opts.port, accounts=opts.accounts, chain_id=chain_id)
        if opts.fork_url:
            upstream = _check_fork_url(opts.fork_url)
            if profile.fork_sources and upstream not in profile.fork_sources:
                allowed = " or ".join(str(i) for i in profile.fork_sources)
                raise UserError(
                    f"--chain {profile.name} forks an RPC of chain {allowed}, "
                    f"but {opts.fork_url} serves chain {upstream}"
                )
            fork_id = opts.chain_id if opts.chain_id is not None else profile.fork_chain_id
            cfg = _with(base, chain_id=fork_id, fork_url=opts.fork_url, fork_block=opts.fork_block,
                        block_time=opts.block_time)  # fmt: skip
            return cls(AnvilNode(cfg, log_path).start(detach=detach, timeout=60), opts)
        if not opts.replica:
            return cls(
                AnvilNode(_with(base, block_time=opts.block_time), log_path).start(detach=detach), opts
            )

        cache = profile.cache_path()
        if opts.use_cache and cache.is_file():
            node = AnvilNode(_with(base, block_time=opts.block_time, load_state=cache), log_path)
            try:
                node.start(detach=detach)
                if profile.present(node.http_url):
                    return cls(node, opts)
                node.stop()
            except UserError:
                node.stop()
            if progress:
                progress("replica cache unusable: rebuilding")
            cache.unlink(missing_ok=True)
        node = AnvilNode(base, log_path).start(detach=detach)
        try:
            accounts = rpc_call(node.http_url, "eth_accounts")
            profile.build(node.http_url, accounts, progress)
            _write_cache(node.http_url, cache)
            if opts.block_time is not None:
                rpc_call(node.http_url, "evm_setIntervalMining", [opts.block_time])
        except BaseException:
            node.stop()
            raise
        return cls(node, opts, rebuilt=True)

    @property
    def http_url(self) -> str:
        return self.node.http_url

    @property
    def ws_url(self) -> str:
        return self.node.ws_url

    @property
    def pid(self) -> int | None:
        return self.node.process.pid if self.node.process else None

    @cached_property
    def chain_id(self) -> int:
        return int(self.rpc("eth_chainId"), 16)

    def block_number(self) -> int:
        return int(self.rpc("eth_blockNumber"), 16)

    def rpc(self, method: str, *params: Any) -> Any:
        return self.node.rpc(method, *params)

    @cached_property
    def w3(self) -> Web3:
        from web3 import HTTPProvider, Web3

        return Web3(HTTPProvider(self.http_url, request_kwargs={"timeout": 60}))

    @cached_property
    def accounts(self) -> list[LocalAccount]:
        """anvil's funded dev accounts, with keys (devnet only: these keys are public knowledge)."""
        return dev_accounts(self.options.accounts)

    def snapshot(self) -> str:
        return str(self.rpc("evm_snapshot"))

    def revert(self, snapshot_id: str) -> None:
        if not self.rpc("evm_revert", snapshot_id):
            raise RuntimeError(f"evm_revert({snapshot_id}) failed")

    def stop(self) -> None:
        self.node.stop()

    def __enter__(self) -> Devnet:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def describe(self) -> dict[str, Any]:
        """What later commands read from .defibots/devnet.json to find the devnet."""
        return {
            "pid": self.pid,
            "http_url": self.http_url,
            "ws_url": self.ws_url,
            "chain_id": self.chain_id,
            "chain": self.options.chain,
            "block_number": self.block_number(),
            "mode": "fork" if self.options.fork_url else ("replica" if self.options.replica else "empty"),
            "fork_url": self.options.fork_url,
            "accounts": list(self.rpc("eth_accounts")),
        }


def _with(cfg: AnvilConfig, **changes: Any) -> AnvilConfig:
    from dataclasses import replace

    return replace(cfg, **changes)


def _check_fork_url(url: str) -> int:
    """The chain id `url` serves; a malformed or unreachable URL is one UserError line."""
    if not url.startswith(("http://", "https://", "ws://", "wss://")):
        raise UserError(f"--fork-url {url!r} is not an http(s) or ws(s) URL")
    try:
        answer = rpc_call(
            url.replace("ws://", "http://").replace("wss://", "https://"), "eth_chainId", timeout=5
        )
        return int(str(answer), 16)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise UserError(f"cannot reach --fork-url {url}: {reason}") from None


def _write_cache(url: str, path: Path) -> None:
    """anvil_dumpState answers gzip'd JSON; --load-state wants the JSON. Write atomically."""
    dump = str(rpc_call(url, "anvil_dumpState", timeout=120))
    tmp = path.with_suffix(f".{os.getpid()}.tmp")  # test workers may build the same cache at once
    tmp.write_bytes(gzip.decompress(bytes.fromhex(dump.removeprefix("0x"))))
    tmp.replace(path)


def state_file() -> Path:
    return state_dir() / STATE_FILE


def write_state(info: dict[str, Any]) -> None:
    state_file().write_text(json.dumps(info, indent=2))


def read_state() -> dict[str, Any] | None:
    path = state_file()
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.split(")")[-1].split()[0] == "Z":  # zombie: exited, not yet reaped
            return False
    return True


def default_rpc_url() -> str | None:
    """The devnet this checkout started, if it is still up."""
    info = read_state()
    if info and isinstance(info.get("pid"), int) and pid_alive(info["pid"]):
        return str(info["http_url"])
    return None
