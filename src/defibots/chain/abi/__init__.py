"""Contract ABIs shipped with the package, extracted from the pinned npm artifacts.

Only the ABI arrays are stored (the artifacts carry bytecode we do not need at runtime). Regenerate with
`python -m defibots.chain.abi` after an npm upgrade; the artifacts' paths are listed in NPM_SOURCES.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

NPM_SOURCES: dict[str, str] = {
    "UniswapV2Router02": "@uniswap/v2-periphery/build/UniswapV2Router02.json",
    "SwapRouter": "@uniswap/v3-periphery/artifacts/contracts/SwapRouter.sol/SwapRouter.json",
    "SwapRouter02": "@uniswap/swap-router-contracts/artifacts/contracts/SwapRouter02.sol/SwapRouter02.json",
}


@cache
def load_abi(name: str) -> list[dict[str, Any]]:
    """The ABI array stored as `<name>.json` next to this module."""
    text = resources.files(__package__).joinpath(f"{name}.json").read_text()
    abi: list[dict[str, Any]] = json.loads(text)
    return abi


def extract_from_npm() -> None:
    """Rewrite the stored ABIs from node_modules (a maintainer step, not a runtime one)."""
    from pathlib import Path

    from defibots.paths import npm_artifact

    here = Path(__file__).parent
    for name, relative in NPM_SOURCES.items():
        abi = json.loads(npm_artifact(relative).read_text())["abi"]
        (here / f"{name}.json").write_text(json.dumps(abi, separators=(",", ":")) + "\n")
    load_abi.cache_clear()


if __name__ == "__main__":
    extract_from_npm()
