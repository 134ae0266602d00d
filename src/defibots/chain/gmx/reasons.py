"""Why a keeper cancelled or froze an order: OrderCancelled / OrderFrozen `reasonBytes` in words.

The bytes are the revert data of the failed execution: Error(string), Panic(uint256), or one of GMX's
custom errors (the SDK's CustomErrors ABI), e.g. `OrderNotFulfillableAtAcceptablePrice(price=...,
acceptablePrice=...)`. Decoding never raises: unknown selectors and malformed arguments come back as hex.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from eth_abi import decode
from eth_utils import to_checksum_address

from defibots.chain.gmx.abis import AbiEntry, input_types, load_gmx_abi, selector

ERROR_STRING = bytes.fromhex("08c379a0")  # Error(string)
PANIC = bytes.fromhex("4e487b71")  # Panic(uint256)

PANIC_CODES: dict[int, str] = {
    0x00: "generic compiler panic",
    0x01: "assert failed",
    0x11: "arithmetic overflow or underflow",
    0x12: "division or modulo by zero",
    0x21: "invalid enum value",
    0x22: "invalid storage byte array encoding",
    0x31: "pop on an empty array",
    0x32: "array index out of bounds",
    0x41: "out of memory",
    0x51: "call to a zero-initialized function",
}


@dataclass(frozen=True, slots=True)
class RevertReason:
    """Decoded revert data. `name` is "Error", "Panic", a custom error's name, or "" when unknown."""

    name: str
    args: tuple[tuple[str, Any], ...]
    data: bytes
    text: str

    @property
    def selector(self) -> bytes:
        return self.data[:4]

    def __str__(self) -> str:
        return self.text


@cache
def _sdk_errors() -> dict[bytes, AbiEntry]:
    return errors_by_selector(load_gmx_abi("CustomErrors"))


def errors_by_selector(abi: Iterable[AbiEntry]) -> dict[bytes, AbiEntry]:
    """The `error` entries of an ABI keyed by selector."""
    return {selector(e): e for e in abi if e.get("type") == "error"}


def _format(param: AbiEntry, value: Any) -> str:
    """`value` of ABI parameter `param` as Solidity-ish text (addresses checksummed)."""
    kind: str = param["type"]
    if kind.endswith("]"):
        element = {**param, "type": kind[: kind.rindex("[")]}
        return "[" + ", ".join(_format(element, v) for v in value) + "]"
    if kind == "tuple":
        parts = (f"{c['name']}={_format(c, v)}" for c, v in zip(param["components"], value, strict=True))
        return "(" + ", ".join(parts) + ")"
    if kind == "address":
        return str(to_checksum_address(value))
    if kind == "bool":
        return "true" if value else "false"
    if kind == "string":
        return '"' + str(value) + '"'
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return str(value)


def _unknown(data: bytes) -> RevertReason:
    if not data:
        return RevertReason("", (), data, "empty revert data")
    return RevertReason("", (), data, f"unknown error 0x{data[:4].hex()} (0x{data.hex()})")


def decode_reason(data: bytes, extra_errors: Sequence[AbiEntry] = ()) -> RevertReason:
    """`data` (revert data / reasonBytes) decoded; `extra_errors`: error ABI entries beyond GMX's."""
    try:
        return _decode(bytes(data), extra_errors)
    except Exception:  # a malformed payload must still be shown, never crash the reporter
        return _unknown(bytes(data))


def _decode(data: bytes, extra_errors: Sequence[AbiEntry]) -> RevertReason:
    head, body = data[:4], data[4:]
    if head == ERROR_STRING:
        (message,) = decode(["string"], body)
        return RevertReason("Error", (("message", message),), data, str(message))
    if head == PANIC:
        (code,) = decode(["uint256"], body)
        meaning = PANIC_CODES.get(code, "unknown panic code")
        return RevertReason("Panic", (("code", code),), data, f"Panic(0x{code:02x}: {meaning})")
    known: Mapping[bytes, AbiEntry] = _sdk_errors()
    if extra_errors:
        known = {**known, **errors_by_selector(extra_errors)}
    entry = known.get(head) if len(data) >= 4 else None
    if entry is None:
        return _unknown(data)
    name = str(entry["name"])
    params = entry["inputs"]
    names = [i["name"] or f"arg{n}" for n, i in enumerate(params)]
    try:
        values = decode(input_types(entry), body)
    except Exception:
        return RevertReason(name, (), data, f"{name}(<undecodable arguments 0x{body.hex()}>)")
    words = [f"{k}={_format(p, v)}" for k, p, v in zip(names, params, values, strict=True)]
    args = tuple(zip(names, values, strict=True))
    return RevertReason(name, args, data, f"{name}(" + ", ".join(words) + ")")


def describe_reason(data: bytes) -> str:
    """One line for a log or the CLI."""
    return decode_reason(data).text
