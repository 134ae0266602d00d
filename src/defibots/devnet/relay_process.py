"""The local relay in a process of its own (`defibots devnet relay`), as a searcher meets a real one: its
signature checks, decoding and block building never share the bot's event loop (benchmarks use it)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

from defibots.foundry.anvil import free_port, rpc_call


@contextmanager
def relay_process(node_url: str, block_time: float, slot_seconds: int | None = None) -> Iterator[str]:
    """Start the relay building `node_url`'s blocks every `block_time` s; yields its URL once it answers."""
    port = free_port()
    command = [sys.executable, "-m", "defibots.cli.main", "devnet", "relay", "--rpc", node_url,
               "--port", str(port), "--block-time", str(block_time)]  # fmt: skip
    if slot_seconds is not None:
        command += ["--slot-seconds", str(slot_seconds)]
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as state:
        quiet = subprocess.DEVNULL
        env = dict(os.environ, DEFIBOTS_STATE_DIR=state)
        relay = subprocess.Popen(command, env=env, stdout=quiet, stderr=quiet)
        try:
            for _ in range(400):  # up once it answers (403: the request is unsigned)
                try:
                    rpc_call(url, "eth_chainId", [])
                except Exception as exc:
                    if "403" in str(exc):
                        break
                time.sleep(0.05)
            else:
                raise RuntimeError(f"the local relay did not start on {url}")
            yield url
        finally:
            relay.send_signal(signal.SIGTERM)  # the relay stops its fork node on SIGTERM
            try:
                relay.wait(timeout=30)
            except subprocess.TimeoutExpired:
                relay.kill()
                relay.wait()
