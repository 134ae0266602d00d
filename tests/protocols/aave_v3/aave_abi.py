"""Calling Aave v3.6 contracts from tests: ABI encoding with tuples, revert data decoded to the model's
reason strings, and the forge `aave` profile's artifacts (a missing build fails, never skips)."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import pytest
from eth_abi import decode, encode
from eth_utils import function_signature_to_4byte_selector

from defibots.paths import project_root

from ..conftest import JsonRpc

AAVE_BUILD = "FOUNDRY_PROFILE=aave node_modules/@foundry-rs/forge-linux-amd64/bin/forge build"
PANIC_SELECTOR = "4e487b71"


def artifact(contract: str, source: str | None = None) -> dict[str, Any]:
    path = project_root() / "out-aave" / f"{source or contract}.sol" / f"{contract}.json"
    if not path.is_file():
        pytest.fail(f"Aave build output {path} is missing; build it with `{AAVE_BUILD}`", pytrace=False)
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def abi_type(param: dict[str, Any]) -> str:
    kind: str = param["type"]
    if kind.startswith("tuple"):
        return "(" + ",".join(abi_type(c) for c in param["components"]) + ")" + kind[len("tuple") :]
    return kind


ERRORS_SOURCE = "node_modules/@aave-dao/aave-v3-origin/src/contracts/protocol/libraries/helpers/Errors.sol"


def _custom_errors() -> dict[str, str]:
    """4-byte selector -> error name, for Aave's Errors.sol (read from the source: a library's artifact
    lists no errors) and SafeCast's."""
    signatures = {}
    for name, params in re.findall(r"error (\w+)\(([^)]*)\)", (project_root() / ERRORS_SOURCE).read_text()):
        types = [p.split()[0] for p in params.split(",") if p.strip()]
        signatures[name] = f"{name}({','.join(types)})"
    for item in artifact("SafeCast")["abi"]:
        if item["type"] == "error":
            signatures[item["name"]] = f"{item['name']}({','.join(abi_type(p) for p in item['inputs'])})"
    return {function_signature_to_4byte_selector(sig).hex(): name for name, sig in signatures.items()}


_ERRORS: dict[str, str] = {}


def revert_reason(data: bytes) -> str:
    """The model's reason for revert data: '' (no data), 'Panic(0x11)', or the custom error's name."""
    if not data:
        return ""
    if not _ERRORS:
        _ERRORS.update(_custom_errors())
    head = data[:4].hex()
    if head == PANIC_SELECTOR:
        (code,) = decode(["uint256"], data[4:])
        return f"Panic({code:#x})"
    return _ERRORS.get(head, "0x" + data.hex())


class Contract:
    """ABI-typed calldata and decoding for one deployed contract (functions by name, no overloads)."""

    def __init__(self, rpc: JsonRpc, abi: list[dict[str, Any]], address: str) -> None:
        self.rpc = rpc
        self.address = address
        self._functions: dict[str, tuple[bytes, list[str], list[str]]] = {}
        for item in abi:
            if item.get("type") == "function":
                inputs = [abi_type(p) for p in item["inputs"]]
                signature = f"{item['name']}({','.join(inputs)})"
                outputs = [abi_type(p) for p in item["outputs"]]
                self._functions[item["name"]] = (
                    function_signature_to_4byte_selector(signature),
                    inputs,
                    outputs,
                )

    def calldata(self, name: str, *args: Any) -> bytes:
        selector, inputs, _ = self._functions[name]
        return selector + encode(inputs, list(args))

    def decode(self, name: str, data: bytes) -> Any:
        values = decode(self._functions[name][2], data)
        return values[0] if len(values) == 1 else tuple(values)

    def call(self, name: str, *args: Any, block: str = "latest") -> Any:
        tx = {"to": self.address, "data": "0x" + self.calldata(name, *args).hex()}
        return self.decode(name, bytes.fromhex(self.rpc.call("eth_call", [tx, block])[2:]))

    def call_many(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        """Several view calls in one JSON-RPC batch (each must succeed)."""
        replies = self.rpc.batch(
            [
                ("eth_call", [{"to": self.address, "data": "0x" + self.calldata(n, *a).hex()}, "latest"])
                for n, a in calls
            ]
        )
        out = []
        for (name, _), reply in zip(calls, replies, strict=True):
            if "error" in reply:
                raise RuntimeError(f"{name}: {reply['error']}")
            out.append(self.decode(name, bytes.fromhex(reply["result"][2:])))
        return out
