"""Time `defibots devnet up --detach` from a warm cache and from scratch (prints numbers; asserts nothing)."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from defibots.devnet import replica
from defibots.foundry.anvil import free_port, rpc_call


def up_down(state: Path, extra: list[str]) -> float:
    env = dict(os.environ, DEFIBOTS_STATE_DIR=str(state))
    port = free_port()
    cli = [sys.executable, "-m", "defibots.cli.main", "devnet"]
    start = time.perf_counter()
    subprocess.run(
        [*cli, "up", "--detach", "--port", str(port), *extra], env=env, check=True, capture_output=True
    )
    assert replica.replica_present(f"http://127.0.0.1:{port}")
    rpc_call(f"http://127.0.0.1:{port}", "eth_blockNumber")
    elapsed = time.perf_counter() - start
    subprocess.run([*cli, "down"], env=env, check=True, capture_output=True)
    return elapsed


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        cold = up_down(state, ["--no-cache"])
        warm = [up_down(state, []) for _ in range(5)]
    print(f"devnet up --detach, cold (build replica): {cold:.2f} s")
    print(f"devnet up --detach, warm cache: median {statistics.median(warm):.2f} s, max {max(warm):.2f} s")


if __name__ == "__main__":
    main()
