"""The GMX v2.2 ABIs shipped under chain/abi/gmx, copied unchanged from @gmx-io/sdk 1.4.0 by
scripts/gmx_abis.py, and lookups of their entries by name or canonical signature."""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

from eth_utils import keccak

from defibots.chain.calldata_decoder import canonical_type, function_signature

# The SDK's file names (build/cjs/src/abis/<name>.js), shipped under chain/abi/gmx by scripts/gmx_abis.py.
GMX_ABIS = (
    "ExchangeRouter",
    "SyntheticsRouter",
    "SyntheticsReader",
    "DataStore",
    "EventEmitter",
    "CustomErrors",
)

AbiEntry = Mapping[str, Any]


@cache
def load_gmx_abi(name: str) -> tuple[AbiEntry, ...]:
    """The SDK's ABI array for contract `name` (one of GMX_ABIS)."""
    if name not in GMX_ABIS:
        raise KeyError(f"no GMX ABI named {name!r} (shipped: {', '.join(GMX_ABIS)})")
    text = resources.files("defibots.chain.abi").joinpath("gmx", f"{name}.json").read_text()
    entries: list[dict[str, Any]] = json.loads(text)
    return tuple(entries)


def signature(entry: AbiEntry) -> str:
    """`name(type,...)` with tuples expanded: what a selector or event topic hashes."""
    return function_signature(entry)


def input_types(entry: AbiEntry) -> list[str]:
    return [canonical_type(i) for i in entry["inputs"]]


def output_types(entry: AbiEntry) -> list[str]:
    return [canonical_type(o) for o in entry.get("outputs", [])]


def selector(entry: AbiEntry) -> bytes:
    """The 4-byte selector of a function or error entry."""
    return keccak(text=signature(entry))[:4]


def event_topic(entry: AbiEntry) -> bytes:
    """topic0 of an event entry."""
    return keccak(text=signature(entry))


def find_entry(contract: str, name_or_signature: str, kind: str = "function") -> AbiEntry:
    """The `kind` entry of `contract` named `name_or_signature`, or with that exact signature.

    A bare name that is overloaded is an error: pass the signature then.
    """
    by_kind = [e for e in load_gmx_abi(contract) if e.get("type") == kind]
    if "(" in name_or_signature:
        found = [e for e in by_kind if signature(e) == name_or_signature]
    else:
        found = [e for e in by_kind if e.get("name") == name_or_signature]
    if len(found) != 1:
        what = "overloaded" if found else "not found"
        raise KeyError(f"{contract} {kind} {name_or_signature!r}: {what}")
    return found[0]
