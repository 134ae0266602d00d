"""The SDK side of the GMX fidelity tests: @gmx-io/sdk 1.4.0 run by node (its ABIs, enums and encoder, viem),
the stand-in's forge artifacts in out-gmx/, and the v2.1 ExchangeRouter ABI inside the gmx-python-ng wheel."""

from __future__ import annotations

import json
import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]
SDK = ROOT / "node_modules" / "@gmx-io" / "sdk"
SDK_SRC = SDK / "build" / "cjs" / "src"
OUT_GMX = ROOT / "out-gmx"
WHEELS = ROOT / ".venv" / "wheels"

# SDK ABI name -> the stand-in's artifact (source file, contract)
STAND_INS = {
    "ExchangeRouter": ("ExchangeRouter.sol", "ExchangeRouter"),
    "SyntheticsRouter": ("Router.sol", "Router"),
    "SyntheticsReader": ("Reader.sol", "Reader"),
    "DataStore": ("DataStore.sol", "DataStore"),
    "EventEmitter": ("EventEmitter.sol", "EventEmitter"),
}


def run_node(script: str, payload: Any = None) -> Any:
    """Run `script` (CommonJS, cwd = project root) with `payload` as JSON on stdin; it prints JSON.

    The script reads the payload as `input` (`big(n)` values arrive as BigInt) and prints with `out(value)`
    (bigints as decimal strings).
    """
    if shutil.which("node") is None or not SDK.is_dir():
        pytest.fail("node or node_modules/@gmx-io/sdk missing: run `make setup`")
    prelude = (
        "const input = JSON.parse(require('fs').readFileSync(0, 'utf8'), (k, x) =>"
        " x !== null && typeof x === 'object' && '$n' in x ? BigInt(x.$n) : x);"
        "const out = (v) => process.stdout.write(JSON.stringify(v, (k, x) =>"
        " typeof x === 'bigint' ? x.toString() : x));"
        f"const SDK_SRC = {json.dumps(str(SDK_SRC))};"
    )
    result = subprocess.run(
        ["node", "-e", prelude + script],
        input=json.dumps(payload),
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(result.stdout)


def big(value: int) -> dict[str, str]:
    """An int that reaches node as a BigInt."""
    return {"$n": str(value)}


def sdk_abis(names: list[str]) -> dict[str, list[dict[str, Any]]]:
    """The SDK's ABI arrays, evaluated from its CommonJS modules."""
    script = (
        "const o = {}; for (const n of input) o[n] = require(SDK_SRC + '/abis/' + n + '.js').default; out(o);"
    )
    abis: dict[str, list[dict[str, Any]]] = run_node(script, names)
    return abis


def artifact(source: str, contract: str) -> dict[str, Any]:
    path = OUT_GMX / source / f"{contract}.json"
    if not path.is_file():
        pytest.fail(f"{path} missing: run `make build` (forge build of contracts-gmx)")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def v21_exchange_router_abi() -> list[dict[str, Any]]:
    """ExchangeRouter ABI of gmx-python-ng 1.0.1 (GMX v2.1), read from the wheel without installing it."""
    wheels = sorted(WHEELS.glob("gmx_python_ng-1.0.1-*.whl"))
    if not wheels:
        pytest.fail("gmx_python_ng wheel missing from .venv/wheels: run `make setup`")
    with zipfile.ZipFile(wheels[0]) as wheel:
        raw = json.loads(wheel.read("gmx_python_sdk/contracts/arbitrum/exchangerouter.json"))
    abi: list[dict[str, Any]] = raw["abi"] if isinstance(raw, dict) else raw
    return abi
