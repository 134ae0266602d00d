"""Write src/defibots/chain/abi/gmx/*.json from npm @gmx-io/sdk (build/cjs/src/abis/<Name>.js).

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

from defibots.chain.gmx.abis import GMX_ABIS

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
    if stale:
        print(f"stale GMX ABIs (run scripts/gmx_abis.py): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
