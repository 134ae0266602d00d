"""Write src/defibots/chain/abi/gmx/*.json from npm @gmx-io/sdk (build/cjs/src/abis/<Name>.js), and
arbitrum.json: the SDK's Arbitrum One addresses (CONTRACTS[42161], the contracts the client uses) and token
list (TOKENS[42161]: symbol, address, decimals, isSynthetic and, where the SDK gives them, baseSymbol,
assetSymbol, isNative), read by defibots.chain.gmx.deployment at runtime (never node).

The SDK ships its ABIs as CommonJS modules (`exports.default = [...]`, JS object literals, not JSON), so
node evaluates each one and prints it as JSON; the arrays are stored unchanged. Run after bumping the SDK:

    .venv/bin/python scripts/gmx_abis.py          # rewrite the JSON
    .venv/bin/python scripts/gmx_abis.py --check  # exit 1 if the JSON differs from the package
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from eth_utils import is_address

from defibots.chain.gmx.abis import GMX_ABIS
from defibots.chain.gmx.deployment import CONTRACT_NAMES, DEPLOYMENT_FILES, TOKEN_FIELDS

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "src" / "defibots" / "chain" / "abi" / "gmx"
SDK_ABIS = ROOT / "node_modules" / "@gmx-io" / "sdk" / "build" / "cjs" / "src" / "abis"
NAMES = GMX_ABIS


def sdk_abi(name: str) -> list[dict[str, Any]]:
    """The SDK's ABI array for `name`, evaluated by node."""
    source = SDK_ABIS / f"{name}.js"
    script = "process.stdout.write(JSON.stringify(require(process.argv[1]).default))"
    out = subprocess.run(["node", "-e", script, str(source)], check=True, capture_output=True, text=True)
    abi: list[dict[str, Any]] = json.loads(out.stdout)
    return abi


def render(abi: list[dict[str, Any]]) -> str:
    return json.dumps(abi, separators=(",", ":")) + "\n"


def sdk_config(config: str, expression: str) -> Any:
    """`expression` of the SDK's configs/<config> module (CommonJS), evaluated by node, as JSON."""
    script = f'process.stdout.write(JSON.stringify(require("@gmx-io/sdk/configs/{config}").{expression}))'
    out = subprocess.run(["node", "-e", script], check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads(out.stdout)


def sdk_version() -> str:
    package: dict[str, Any] = json.loads((SDK_ABIS.parents[3] / "package.json").read_text())
    return f"@gmx-io/sdk {package['version']}"


def deployment_json(chain_id: int) -> dict[str, Any]:
    """The addresses file for `chain_id`: the client's contracts and every token of the SDK's list."""
    contracts = sdk_config("contracts", f"CONTRACTS[{chain_id}]")
    tokens = []
    for token in sdk_config("tokens", f"TOKENS[{chain_id}]"):
        if not is_address(token["address"]):  # the SDK's GM / GLV placeholders ("<market-token-address>")
            continue
        row = {field: token[field] for field in TOKEN_FIELDS if field in token}
        row["isSynthetic"] = bool(token.get("isSynthetic", False))
        tokens.append(row)
    return {
        "source": sdk_version(),
        "chainId": chain_id,
        "contracts": {name: contracts[name] for name in CONTRACT_NAMES},
        "tokens": tokens,
    }


def render_deployment(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=1) + "\n"


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    OUT.mkdir(parents=True, exist_ok=True)
    for name in NAMES:
        text = render(sdk_abi(name))
        target = OUT / f"{name}.json"
        if check:
            if not target.is_file() or target.read_text() != text:
                stale.append(name)
        else:
            target.write_text(text)
    for file_name, chain_id in DEPLOYMENT_FILES.items():
        text = render_deployment(deployment_json(chain_id))
        target = OUT / file_name
        if check:
            if not target.is_file() or target.read_text() != text:
                stale.append(file_name)
        else:
            target.write_text(text)
    if stale:
        print(f"stale GMX ABIs (run scripts/gmx_abis.py): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
