"""Write src/defibots/chain/aave_addresses.json from npm @aave-dao/aave-address-book (AaveV3Ethereum).

The addresses are read from the pinned npm package, never retyped. Run after bumping the package:

    .venv/bin/python scripts/gen_aave_addresses.py          # rewrite the JSON
    .venv/bin/python scripts/gen_aave_addresses.py --check  # exit 1 if the JSON differs from the package
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "src" / "defibots" / "chain" / "aave_addresses.json"
PACKAGE = "@aave-dao/aave-address-book"
CORE = (
    "POOL_ADDRESSES_PROVIDER",
    "POOL",
    "POOL_CONFIGURATOR",
    "ACL_MANAGER",
    "ACL_ADMIN",
    "ORACLE",
    "AAVE_PROTOCOL_DATA_PROVIDER",
    "UI_POOL_DATA_PROVIDER",
    "WETH_GATEWAY",
    "COLLECTOR",
)
ASSETS = ("WETH", "USDC", "USDT", "DAI", "WBTC")
ASSET_FIELDS = ("UNDERLYING", "decimals", "id", "A_TOKEN", "V_TOKEN", "ORACLE", "INTEREST_RATE_STRATEGY")
E_MODES = ("1",)
E_MODE_FIELDS = ("label", "ltv", "liquidationThreshold", "liquidationBonus")
# Not in the address book (no mainnet deployment listed): a fixed replica address, derived from a label.
REPLICA_ONLY = {"LIQUIDATION_DATA_PROVIDER": "defibots replica aave liquidation data provider"}
# Mainnet's PoolConfigurator created three token proxies per reserve (aToken, stable debt, variable debt)
# at CREATE nonces 1 + 3 * id, 2 + 3 * id, 3 + 3 * id. v3.6 creates two (aToken, variable debt) in one
# call, so the replica puts each aToken at its mainnet address and the variable debt token right after
# it, at the address of mainnet's retired stable-debt proxy: those replica-only addresses go in the JSON.

_NODE = """
const book = require(process.argv[1]);
const version = require(process.argv[2]).version;
process.stdout.write(JSON.stringify({version, market: book.AaveV3Ethereum}));
"""


def read_address_book() -> dict[str, Any]:
    """The subset of AaveV3Ethereum the replica uses, as the npm package states it."""
    modules = ROOT / "node_modules" / PACKAGE
    raw = subprocess.run(
        ["node", "-e", _NODE, str(modules), str(modules / "package.json")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    data = json.loads(raw)
    market = data["market"]
    return {
        "source": f"npm {PACKAGE}@{data['version']} AaveV3Ethereum (chain id {market['CHAIN_ID']})",
        "core": {key: market[key] for key in CORE},
        "assets": {sym: {f: market["ASSETS"][sym][f] for f in ASSET_FIELDS} for sym in ASSETS},
        "e_modes": {i: {f: market["E_MODES"][i][f] for f in E_MODE_FIELDS} for i in E_MODES},
        "replica_only": {
            **{key: _label_address(label) for key, label in REPLICA_ONLY.items()},
            "VARIABLE_DEBT_TOKEN": {sym: _replica_debt_token(market, sym) for sym in ASSETS},
        },
    }


def create_address(deployer: str, nonce: int) -> str:
    import rlp
    from eth_utils import keccak, to_checksum_address

    return str(to_checksum_address(keccak(rlp.encode([bytes.fromhex(deployer[2:]), nonce]))[12:]))


def _replica_debt_token(market: dict[str, Any], sym: str) -> str:
    asset, configurator = market["ASSETS"][sym], market["POOL_CONFIGURATOR"]
    if create_address(configurator, 1 + 3 * asset["id"]) != asset["A_TOKEN"]:
        raise SystemExit(f"{sym}: aToken is not at configurator nonce 1 + 3 * id; revisit the replica layout")
    return create_address(configurator, 2 + 3 * asset["id"])


def _label_address(label: str) -> str:
    from eth_utils import keccak, to_checksum_address

    return str(to_checksum_address(keccak(text=label)[12:]))


def render(book: dict[str, Any]) -> str:
    return json.dumps(book, indent=2) + "\n"


def main(argv: list[str]) -> int:
    text = render(read_address_book())
    if "--check" in argv:
        if not OUT.is_file() or OUT.read_text() != text:
            print(f"{OUT.relative_to(ROOT)} differs from {PACKAGE}: run scripts/gen_aave_addresses.py")
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
