"""The real Uniswap V3 libraries on a private anvil, called with eth_call, to check the models against."""

from __future__ import annotations

import http.client
import json
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_abi import decode, encode
from eth_utils import function_signature_to_4byte_selector

from defibots.foundry.anvil import AnvilConfig, AnvilNode
from defibots.paths import npm_artifact, project_root

HARNESS_BUILD = "FOUNDRY_PROFILE=harness node_modules/@foundry-rs/forge-linux-amd64/bin/forge build"
HARNESS_ADDRESS = "0x" + "3e" * 20
ERROR_STRING_SELECTOR = "08c379a0"


@dataclass(frozen=True)
class Reverted:
    """An eth_call that reverted; `reason` is the Error(string) text, '' for none or an invalid opcode."""

    reason: str


class JsonRpc:
    """Minimal JSON-RPC over one kept-alive HTTP connection: thousands of eth_calls in seconds."""

    def __init__(self, url: str) -> None:
        parsed = urllib.parse.urlsplit(url)
        self._connection = http.client.HTTPConnection(parsed.hostname or "127.0.0.1", parsed.port, timeout=30)
        self._next_id = 0

    def batch(self, calls: Sequence[tuple[str, list[Any]]]) -> list[dict[str, Any]]:
        """One HTTP request carrying several calls; replies in request order (each has result or error)."""
        first = self._next_id
        self._next_id += len(calls)
        body = [
            {"jsonrpc": "2.0", "id": first + i, "method": method, "params": params}
            for i, (method, params) in enumerate(calls)
        ]
        self._connection.request("POST", "/", json.dumps(body), {"Content-Type": "application/json"})
        replies = json.loads(self._connection.getresponse().read())
        by_id = {reply["id"]: reply for reply in replies}
        return [by_id[first + i] for i in range(len(calls))]

    def call(self, method: str, params: list[Any]) -> Any:
        reply = self.batch([(method, params)])[0]
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply["result"]

    def close(self) -> None:
        self._connection.close()


class AbiContract:
    """Typed eth_call access to a deployed contract's functions, by name (no overloads needed here)."""

    def __init__(self, rpc: JsonRpc, abi: list[dict[str, Any]], address: str) -> None:
        self.rpc = rpc
        self.address = address
        self._functions: dict[str, tuple[str, list[str], list[str]]] = {}
        for item in abi:
            if item.get("type") != "function":
                continue
            inputs = [p["type"] for p in item["inputs"]]
            signature = f"{item['name']}({','.join(inputs)})"
            self._functions[item["name"]] = (
                selector(signature),
                inputs,
                [p["type"] for p in item["outputs"]],
            )

    def _request(self, name: str, args: Sequence[Any]) -> tuple[str, list[Any]]:
        selector, inputs, _ = self._functions[name]
        data = "0x" + selector + encode(inputs, list(args)).hex()
        return "eth_call", [{"to": self.address, "data": data, "gas": hex(30_000_000)}, "latest"]

    def _decode(self, name: str, reply: dict[str, Any]) -> Any:
        if "error" in reply:
            return _revert_of(reply["error"])
        values = decode(self._functions[name][2], bytes.fromhex(reply["result"][2:]))
        return values[0] if len(values) == 1 else tuple(values)

    def call(self, name: str, *args: Any) -> Any:
        """The decoded return value (a tuple for several outputs), or Reverted."""
        return self._decode(name, self.rpc.batch([self._request(name, args)])[0])

    def call_many(self, name: str, arg_lists: Sequence[Sequence[Any]]) -> list[Any]:
        """Several calls of one function in a single JSON-RPC batch."""
        replies = self.rpc.batch([self._request(name, args) for args in arg_lists])
        return [self._decode(name, reply) for reply in replies]


def _revert_of(error: dict[str, Any]) -> Reverted:
    data = error.get("data") or "0x"
    if isinstance(data, str) and data[2:10] == ERROR_STRING_SELECTOR:
        (reason,) = decode(["string"], bytes.fromhex(data[10:]))
        return Reverted(reason)
    message = str(error.get("message", ""))
    if error.get("code") == 3 or "InvalidFEOpcode" in message:
        return Reverted("")  # bare require / SafeCast, or 0.7's invalid opcode on division by zero
    raise RuntimeError(f"eth_call failed for a reason other than a revert: {error}")


def harness_artifact(contract: str) -> dict[str, Any]:
    """A contract built by the harness profile; missing output fails the test (never skips)."""
    path = project_root() / "out-harness" / f"{contract}.sol" / f"{contract}.json"
    if not path.is_file():
        pytest.fail(f"harness build output {path} is missing; build it with `{HARNESS_BUILD}`", pytrace=False)
    artifact: dict[str, Any] = json.loads(Path(path).read_text())
    return artifact


@pytest.fixture(scope="module")
def anvil_rpc() -> Iterator[JsonRpc]:
    """A private plain anvil for this test module.

    The block gas limit is raised because a V3 swap that runs out of liquidity in a spacing-1 pool
    walks ~3,500 bitmap words, which needs more than mainnet's 30M gas in one eth_call.
    """
    with AnvilNode(AnvilConfig(extra_args=["--gas-limit", "1000000000"])) as node:
        rpc = JsonRpc(node.http_url)
        try:
            yield rpc
        finally:
            rpc.close()


@pytest.fixture(scope="module")
def v3_math(anvil_rpc: JsonRpc) -> AbiContract:
    """The math harness placed with anvil_setCode (it has no constructor and no immutables)."""
    artifact = harness_artifact("V3MathHarness")
    anvil_rpc.call("anvil_setCode", [HARNESS_ADDRESS, artifact["deployedBytecode"]["object"]])
    return AbiContract(anvil_rpc, artifact["abi"], HARNESS_ADDRESS)


def selector(signature: str) -> str:
    return function_signature_to_4byte_selector(signature).hex()


def calldata(signature: str, types: Sequence[str], args: Sequence[Any]) -> str:
    return "0x" + selector(signature) + encode(list(types), list(args)).hex()


class DevChain:
    """Sends transactions from anvil's first (unlocked) dev account and waits for them."""

    def __init__(self, rpc: JsonRpc) -> None:
        self.rpc = rpc
        self.sender: str = rpc.call("eth_accounts", [])[0]

    def send(self, to: str | None, data: str) -> dict[str, Any]:
        tx: dict[str, Any] = {"from": self.sender, "data": data, "gas": hex(29_000_000)}
        if to is not None:
            tx["to"] = to
        tx_hash = self.rpc.call("eth_sendTransaction", [tx])
        receipt: dict[str, Any] | None = None
        for _ in range(2000):  # automine answers before the block is sealed; wait for the receipt
            receipt = self.rpc.call("eth_getTransactionReceipt", [tx_hash])
            if receipt is not None:
                break
            time.sleep(0.002)
        if receipt is None:
            raise RuntimeError(f"no receipt for {tx_hash}")
        if receipt["status"] != "0x1":
            raise RuntimeError(f"transaction to {to} reverted")
        return receipt

    def deploy(self, bytecode: str) -> str:
        address: str = self.send(None, bytecode)["contractAddress"]
        return address

    def eth_call(self, to: str, data: str) -> bytes:
        return bytes.fromhex(self.rpc.call("eth_call", [{"to": to, "data": data}, "latest"])[2:])


class ChainV3(DevChain):
    """A real UniswapV3Factory (npm v3-core artifact) plus harness/V3PoolDriver.sol on a private anvil."""

    def __init__(self, rpc: JsonRpc) -> None:
        super().__init__(rpc)
        factory_artifact = json.loads(npm_artifact(FACTORY_ARTIFACT).read_text())
        self.factory = self.deploy(factory_artifact["bytecode"])
        # the 0.01% tier came later by governance vote (as on mainnet): enable it as the owner
        self.send(self.factory, calldata("enableFeeAmount(uint24,int24)", ["uint24", "int24"], [100, 1]))
        self.driver_artifact = harness_artifact("V3PoolDriver")

    def new_pool(self, fee: int, sqrt_price_x96: int) -> tuple[str, str, str, str]:
        """(driver, pool, token0, token1): fresh tokens each time, so any fee tier can be created again."""
        driver = self.deploy(self.driver_artifact["bytecode"]["object"])
        (token0,) = decode(["address"], self.eth_call(driver, calldata("token0()", [], [])))
        (token1,) = decode(["address"], self.eth_call(driver, calldata("token1()", [], [])))
        self.send(
            self.factory,
            calldata(
                "createPool(address,address,uint24)", ["address", "address", "uint24"], [token0, token1, fee]
            ),
        )
        (pool,) = decode(
            ["address"],
            self.eth_call(
                self.factory,
                calldata(
                    "getPool(address,address,uint24)", ["address", "address", "uint24"], [token0, token1, fee]
                ),
            ),
        )
        self.send(pool, calldata("initialize(uint160)", ["uint160"], [sqrt_price_x96]))
        return driver, pool, token0, token1


FACTORY_ARTIFACT = "@uniswap/v3-core/artifacts/contracts/UniswapV3Factory.sol/UniswapV3Factory.json"


@pytest.fixture(scope="module")
def chain_v3(anvil_rpc: JsonRpc) -> ChainV3:
    return ChainV3(anvil_rpc)
