"""ABI-encode a call from its signature text, for the places that need calldata without a full ABI."""

from __future__ import annotations

from typing import Any

from eth_abi import encode
from eth_utils import keccak


def selector(signature: str) -> bytes:
    return keccak(text=signature)[:4]


def calldata(signature: str, *args: Any) -> str:
    """e.g. calldata('approve(address,uint256)', spender, amount) -> '0x095ea7b3...'."""
    types = split_types(signature[signature.index("(") + 1 : -1])
    return "0x" + (selector(signature) + encode(types, list(args))).hex()


def split_types(types: str) -> list[str]:
    """Top-level comma split that respects tuple parentheses."""
    out: list[str] = []
    depth, start = 0, 0
    for i, ch in enumerate(types):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(types[start:i])
            start = i + 1
    if types:
        out.append(types[start:])
    return out
