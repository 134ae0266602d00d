"""Gas of the Executor's arbitrage routes, two ways, on a fresh mainnet replica.

1. `forge test --isolate --gas-report` over contracts/test/ExecutorArb.t.sol (each call its own transaction).
2. Real transactions: for each route, deploy an Executor (holding 1 wei of each token, as a live executor
   that keeps its profits does), open a price gap with a big swap, send `execute` from an allowed caller and
   read gasUsed from the receipt: the whole transaction, 21,000 base and calldata included.

Usage: .venv/bin/python scripts/bench_gas.py [--no-forge] [--trace]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

from eth_abi import decode
from hexbytes import HexBytes
from web3 import Web3

from defibots.chain.addresses import TOKENS
from defibots.devnet.node import Devnet, DevnetOptions
from defibots.devnet.replica import calldata
from defibots.execution.executor_client import ExecutorClient
from defibots.execution.route import Funding, HopKind, Route, RouteHop
from defibots.paths import foundry_binary, project_root
from defibots.protocols.uniswap_v2 import get_amount_out

WETH, USDC, DAI = (TOKENS[s].address for s in ("WETH", "USDC", "DAI"))
V2_WETH_USDC = "0xB4e16d0168e52d35CaCD2c6185b44281Ec28C9Dc"
V2_DAI_USDC = "0xAE461cA67B15dc8dc81CE7615e0320dA1A9aB8D5"
V2_WETH_DAI = "0xA478c2975Ab1Ea89e8196811F51A7B7Ade33eB11"
V3_WETH_USDC_500 = "0x88e6A0c2dDD26FEEb64F039a2c41296FcB3f5640"


def send(w3: Web3, sender: str, to: str, data: str, value: int = 0) -> Any:
    """From an unlocked dev account; waits for the receipt unless automine is off (then returns the hash)."""
    tx_hash = w3.eth.send_transaction(
        {"from": sender, "to": to, "data": HexBytes(data), "value": value, "gas": 500_000}
    )
    if not w3.provider.make_request("anvil_getAutomine", [])["result"]:  # type: ignore[arg-type]
        return tx_hash
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash)
    if receipt["status"] != 1:
        raise SystemExit(f"setup transaction to {to} reverted")
    return receipt


def dump(w3: Web3, trader: str, pair: str, token_in: str, token_out: str, amount_in: int) -> None:
    """Sell into a V2 pair directly: the price gap the route closes."""
    raw = w3.eth.call({"to": pair, "data": HexBytes(calldata("getReserves()"))})
    r0, r1, _ = decode(["uint112", "uint112", "uint32"], raw)
    zero_for_one = int(token_in, 16) < int(token_out, 16)
    out = get_amount_out(amount_in, *((r0, r1) if zero_for_one else (r1, r0)))
    send(w3, trader, token_in, calldata("transfer(address,uint256)", pair, amount_in))
    amounts = (0, out) if zero_for_one else (out, 0)
    send(w3, trader, pair, calldata("swap(uint256,uint256,address,bytes)", *amounts, trader, b""))


def warm_pairs(w3: Web3, trader: str, route: Route) -> None:
    """A tiny swap through every V2 pair of the route, a block before: like any mainnet pair, their price
    accumulators are then non-zero (a freshly seeded pair's first swap pays 2 x 20k for 0 -> non-zero)."""
    for hop, token_in in zip(route.hops, route.token_ins, strict=True):
        if hop.kind == HopKind.UNISWAP_V2:
            reserve_in = balance_of(w3, token_in, hop.pool)
            dump(w3, trader, hop.pool, token_in, hop.token_out, reserve_in // 10**6)


def balance_of(w3: Web3, token: str, owner: str) -> int:
    raw = w3.eth.call({"to": token, "data": HexBytes(calldata("balanceOf(address)", owner))})
    return int(decode(["uint256"], raw)[0])


def weth_depth(w3: Web3) -> int:
    raw = w3.eth.call({"to": V2_WETH_USDC, "data": HexBytes(calldata("getReserves()"))})
    r0, r1, _ = decode(["uint112", "uint112", "uint32"], raw)
    return int(r1 if int(USDC, 16) < int(WETH, 16) else r0)


Scenario = tuple[str, Callable[[Web3, str], None], Callable[[int], Route]]

SCENARIOS: list[Scenario] = [
    (
        "2 hops V3 flash swap: V3 -> V2",
        lambda w3, trader: dump(w3, trader, V2_WETH_USDC, WETH, USDC, weth_depth(w3) // 20),
        lambda depth: Route(
            WETH,
            depth // 500,
            (RouteHop.v3(V3_WETH_USDC_500, USDC, 500), RouteHop.v2(V2_WETH_USDC, WETH)),
            Funding.V3_FLASH_SWAP,
        ),
    ),
    (
        "2 hops V2 flash swap: V2 -> V3",
        lambda w3, trader: dump(w3, trader, V2_WETH_USDC, USDC, WETH, 3_000_000 * 10**6),
        lambda depth: Route(
            WETH,
            depth // 500,
            (RouteHop.v2(V2_WETH_USDC, USDC), RouteHop.v3(V3_WETH_USDC_500, WETH, 500)),
            Funding.V2_FLASH_SWAP,
        ),
    ),
    (
        "2 hops own balance: V3 -> V2",
        lambda w3, trader: dump(w3, trader, V2_WETH_USDC, WETH, USDC, weth_depth(w3) // 20),
        lambda depth: Route(
            WETH,
            depth // 500,
            (RouteHop.v3(V3_WETH_USDC_500, USDC, 500), RouteHop.v2(V2_WETH_USDC, WETH)),
            Funding.OWN_BALANCE,
        ),
    ),
    (
        "3 hops V3 flash swap: V3 -> V2 -> V2",
        lambda w3, trader: dump(w3, trader, V2_WETH_DAI, WETH, DAI, weth_depth(w3) // 40),
        lambda depth: Route(
            WETH,
            depth // 1000,
            (
                RouteHop.v3(V3_WETH_USDC_500, USDC, 500),
                RouteHop.v2(V2_DAI_USDC, DAI),
                RouteHop.v2(V2_WETH_DAI, WETH),
            ),
            Funding.V3_FLASH_SWAP,
        ),
    ),
]


def forge_gas_report(url: str) -> None:
    print("== forge test --isolate --gas-report (ExecutorArbTest) ==", flush=True)
    cmd = [
        str(foundry_binary("forge")),
        "test",
        "--match-contract",
        "ExecutorArbTest",
        "--isolate",
        "--gas-report",
    ]
    done = subprocess.run(
        cmd, cwd=project_root(), env=dict(os.environ, DEFIBOTS_RPC_URL=url), capture_output=True, text=True
    )
    lines = done.stdout.splitlines()
    start = next((i for i, line in enumerate(lines) if "Executor.sol:Executor" in line), None)
    if done.returncode != 0 or start is None:
        print(done.stdout[-3000:], done.stderr[-2000:], sep="\n")
        raise SystemExit("forge test failed")
    end = next((i for i in range(start + 1, len(lines)) if not lines[i].startswith(("|", "+"))), len(lines))
    print("\n".join(lines[start - 1 : end]))


def intrinsic_gas(data: bytes) -> int:
    return 21_000 + sum(16 if b else 4 for b in data)


def print_trace(devnet: Devnet, tx_hash: str) -> None:
    """Gas per call frame (debug_traceTransaction callTracer)."""

    def walk(frame: dict[str, Any], depth: int) -> None:
        selector = str(frame.get("input", "0x"))[:10]
        print(f"    {'  ' * depth}{frame['to']} {selector} gas {int(frame['gasUsed'], 16):,}")
        for child in frame.get("calls", []):
            walk(child, depth + 1)

    walk(devnet.rpc("debug_traceTransaction", tx_hash, {"tracer": "callTracer"}), 0)


def measure(devnet: Devnet, scenario: Scenario, same_block: bool, access_list: bool, trace: bool) -> None:
    """One route on a fresh copy of the replica: gap then arb in the next block, or both in one block."""
    name, open_gap, make_route = scenario
    w3 = devnet.w3
    owner, bot, trader = devnet.accounts[0], devnet.accounts[1], devnet.accounts[2]
    snap = devnet.snapshot()
    try:
        deployed, _ = ExecutorClient.deploy(w3, owner, owner.address, [bot.address])
        for token in (WETH, USDC, DAI):  # dust: a working executor's balances are never zero
            send(w3, trader.address, token, calldata("transfer(address,uint256)", deployed.address, 1))
        client = ExecutorClient(w3, deployed.address, bot)
        route = make_route(weth_depth(w3))
        warm_pairs(w3, trader.address, route)
        if route.funding == Funding.OWN_BALANCE:
            send(
                w3,
                trader.address,
                route.token_in,
                calldata("transfer(address,uint256)", deployed.address, route.amount_in),
            )
        before = balance_of(w3, route.profit_token, deployed.address)
        timestamp = int(w3.eth.get_block("latest")["timestamp"])
        if same_block:
            devnet.rpc("evm_setAutomine", False)
            open_gap(w3, trader.address)
            entries = client.access_list(route, "pending") if access_list else None
            tx = client.build_execute(route, gas=1_000_000, access_list=entries)
            signed = bot.sign_transaction(tx)  # type: ignore[arg-type]
            tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
            devnet.rpc("evm_setNextBlockTimestamp", timestamp + 12)
            devnet.rpc("evm_mine")
            devnet.rpc("evm_setAutomine", True)
            receipt = w3.eth.get_transaction_receipt(tx_hash)
        else:
            open_gap(w3, trader.address)
            devnet.rpc("evm_setNextBlockTimestamp", timestamp + 24)
            receipt = client.execute(route, use_access_list=access_list)
        if receipt["status"] != 1:
            raise SystemExit(f"{name}: execute reverted")
        after = balance_of(w3, route.profit_token, deployed.address)
        data = client.execute_calldata(route)
        if trace:
            print_trace(devnet, receipt["transactionHash"].to_0x_hex())
        when = ("same block as the gap" if same_block else "block after the gap") + (
            " + access list" if access_list else ""
        )
        print(
            f"{name:38s} {when:36s} gasUsed {receipt['gasUsed']:>7,}  "
            f"(intrinsic {intrinsic_gas(data):,}, calldata {len(data)} B)  "
            f"profit {(after - before) / 1e18:.4f} WETH"
        )
    finally:
        devnet.rpc("evm_setAutomine", True)
        devnet.revert(snap)


def real_transactions(devnet: Devnet, trace: bool) -> None:
    print("\n== real transactions on the replica (receipt gasUsed: the whole tx) ==")
    for scenario in SCENARIOS:
        for same_block, access_list in ((False, False), (True, False), (True, True)):
            measure(devnet, scenario, same_block, access_list, trace)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--no-forge", action="store_true", help="skip the forge gas report")
    parser.add_argument("--trace", action="store_true", help="print gas per call frame of each transaction")
    args = parser.parse_args()
    subprocess.run([str(foundry_binary("forge")), "build", "--quiet"], cwd=project_root(), check=True)
    with Devnet.start(DevnetOptions()) as devnet:
        if not args.no_forge:
            forge_gas_report(devnet.http_url)
        real_transactions(devnet, args.trace)


if __name__ == "__main__":
    sys.exit(main())
