"""Start and stop an anvil process; the one place that knows anvil's command line.

Low level on purpose: the bundle simulator (execution) and the local world (devnet) both start anvil
nodes, and neither may import the other.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from defibots.errors import UserError
from defibots.foundry.accounts import DEV_MNEMONIC
from defibots.paths import foundry_binary


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def rpc_call(url: str, method: str, params: list[Any] | None = None, timeout: float = 10.0) -> Any:
    """One JSON-RPC call without web3: used where start-up time matters (readiness probes)."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        reply = json.loads(response.read())
    if "error" in reply:
        raise UserError(f"{method} failed at {url}: {reply['error'].get('message', reply['error'])}")
    return reply["result"]


@dataclass
class AnvilConfig:
    host: str = "127.0.0.1"
    port: int | None = None
    block_time: float | None = None
    fork_url: str | None = None
    fork_block: int | None = None
    chain_id: int | None = None
    load_state: Path | None = None
    accounts: int = 10
    balance_eth: int = 10_000
    order: str = "fifo"
    """Transaction pool order. FIFO because a bundle's transactions must land in the order given (the
    local relay puts them at the top of the block); anvil's default ("fees") sorts by fee."""
    extra_args: list[str] = field(default_factory=list)


class AnvilNode:
    """A running anvil. Use as a context manager so the process never outlives its owner."""

    def __init__(self, config: AnvilConfig | None = None, log_path: Path | None = None) -> None:
        self.config = config or AnvilConfig()
        self.port = self.config.port or free_port(self.config.host)
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def http_url(self) -> str:
        return f"http://{self.config.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.config.host}:{self.port}"

    def command(self) -> list[str]:
        cfg = self.config
        cmd = [
            str(foundry_binary("anvil")),
            "--host", cfg.host,
            "--port", str(self.port),
            "--accounts", str(cfg.accounts),
            "--balance", str(cfg.balance_eth),
            "--mnemonic", DEV_MNEMONIC,
            "--order", cfg.order,
            "--silent",
        ]  # fmt: skip
        if cfg.block_time is not None:
            cmd += ["--block-time", f"{cfg.block_time:g}"]
        if cfg.fork_url:
            cmd += ["--fork-url", cfg.fork_url, "--no-rate-limit"]
            if cfg.fork_block is not None:
                cmd += ["--fork-block-number", str(cfg.fork_block)]
        if cfg.chain_id is not None:
            cmd += ["--chain-id", str(cfg.chain_id)]
        if cfg.load_state is not None:
            cmd += ["--load-state", str(cfg.load_state)]
        return cmd + cfg.extra_args

    def start(self, timeout: float = 30.0, detach: bool = False) -> AnvilNode:
        if port_in_use(self.config.host, self.port):
            raise UserError(f"port {self.port} on {self.config.host} is already in use")
        log = open(self.log_path, "wb") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            self.command(),
            stdout=log,
            stderr=subprocess.PIPE if not detach else log,
            stdin=subprocess.DEVNULL,
            start_new_session=detach,
        )
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        delay = 0.005
        while True:
            assert self.process is not None
            code = self.process.poll()
            if code is not None:
                raise UserError(f"anvil exited with code {code}: {self._stderr_tail()}")
            try:
                rpc_call(self.http_url, "eth_chainId", timeout=1.0)
                return
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            if time.monotonic() > deadline:
                raise UserError(f"anvil did not answer on {self.http_url} within {timeout:g}s")
            time.sleep(delay)
            delay = min(delay * 1.5, 0.1)

    def _stderr_tail(self) -> str:
        if self.process is None or self.process.stderr is None:
            return "see the anvil log"
        text = self.process.stderr.read().decode(errors="replace").strip()
        lines = [line for line in text.splitlines() if line.strip()]
        return lines[-1] if lines else "no output"

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stderr is not None:
            self.process.stderr.close()
        self.process = None

    def rpc(self, method: str, *params: Any) -> Any:
        return rpc_call(self.http_url, method, list(params))

    def __enter__(self) -> AnvilNode:
        if self.process is None:
            self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
