"""`defibots devnet keeper` as a child of `devnet up --chain arbitrum`: started detached (its own session,
so it outlives a detached `up`), found again through the pid and URL the devnet state records."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from defibots.errors import UserError
from defibots.foundry.anvil import free_port


def start_keeper(
    rpc_url: str, log_path: Path, delay_seconds: float = 0.0, exchange_url: str | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """The keeper process serving `rpc_url` and its oracle URL, once its routes answer."""
    port = free_port()
    command = [sys.executable, "-m", "defibots.cli.main", "devnet", "keeper", "--rpc", rpc_url,
               "--port", str(port), "--delay", str(delay_seconds), "--quiet"]  # fmt: skip
    if exchange_url is not None:
        command += ["--exchange-url", exchange_url]
    url = f"http://127.0.0.1:{port}"
    with log_path.open("ab") as log:
        child = subprocess.Popen(command, stdout=log, stderr=log, start_new_session=True)
    for _ in range(400):
        if child.poll() is not None:
            raise UserError(f"the GMX keeper exited at start (see {log_path})")
        try:
            with urllib.request.urlopen(url + "/tokens", timeout=1):
                return child, url
        except OSError:
            time.sleep(0.05)
    child.kill()
    child.wait()
    raise UserError(f"the GMX keeper did not answer on {url} (see {log_path})")


def stop_keeper(pid: int) -> None:
    """Stops a keeper another process started (`devnet down` after `up --detach`)."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
