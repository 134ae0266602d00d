"""The JSON-RPC params of eth_sendBundle, eth_callBundle and mev_sendBundle for a `Bundle`, both ways.

Parsing (the relay side) is strict: unknown fields, malformed values and oversized bundles are
BundleFormatError lines.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from defibots.execution.bundles.bundle import MAX_BUNDLE_TXS, Bundle
from defibots.execution.bundles.fields import (
    BundleFormatError,
    parse_hash,
    parse_hex_bytes,
    parse_quantity,
    to_hex,
)
from defibots.execution.bundles.signed_tx import SignedTx


def send_bundle_params(bundle: Bundle) -> dict[str, Any]:
    """The single params object of eth_sendBundle."""
    params: dict[str, Any] = {
        "txs": [tx.raw_hex for tx in bundle.txs],
        "blockNumber": hex(bundle.block_number),
    }
    if bundle.min_timestamp:
        params["minTimestamp"] = bundle.min_timestamp
    if bundle.max_timestamp:
        params["maxTimestamp"] = bundle.max_timestamp
    if bundle.reverting_tx_hashes:
        params["revertingTxHashes"] = [to_hex(h) for h in bundle.reverting_tx_hashes]
    if bundle.replacement_uuid:
        params["replacementUuid"] = bundle.replacement_uuid
    if bundle.builders:
        params["builders"] = list(bundle.builders)
    return params


def call_bundle_params(
    bundle: Bundle, state_block: int | str = "latest", timestamp: int | None = None
) -> dict[str, Any]:
    """The single params object of eth_callBundle."""
    params: dict[str, Any] = {
        "txs": [tx.raw_hex for tx in bundle.txs],
        "blockNumber": hex(bundle.block_number),
        "stateBlockNumber": hex(state_block) if isinstance(state_block, int) else state_block,
    }
    if timestamp is not None:
        params["timestamp"] = timestamp
    return params


def mev_send_bundle_params(bundle: Bundle, max_block: int | None = None) -> dict[str, Any]:
    """The params object of mev_sendBundle (MEV-Share v0.1) carrying the same transactions."""
    inclusion: dict[str, Any] = {"block": hex(bundle.block_number)}
    if max_block is not None:
        inclusion["maxBlock"] = hex(max_block)
    return {
        "version": "v0.1",
        "inclusion": inclusion,
        "body": [{"tx": tx.raw_hex, "canRevert": bundle.may_revert(tx.hash)} for tx in bundle.txs],
    }


def bundle_from_send_params(params: Any) -> Bundle:
    """Parse eth_sendBundle params strictly (the relay side)."""
    if not isinstance(params, Mapping):
        raise BundleFormatError("bundle params must be an object")
    unknown = set(params) - {
        "txs",
        "blockNumber",
        "minTimestamp",
        "maxTimestamp",
        "revertingTxHashes",
        "replacementUuid",
        "builders",
        "uuid",
        "stateBlockNumber",
        "timestamp",
    }
    if unknown:
        raise BundleFormatError(f"unknown bundle field {sorted(unknown)[0]!r}")
    raw_txs = params.get("txs")
    if not isinstance(raw_txs, list) or not raw_txs:
        raise BundleFormatError("txs must be a non-empty list of signed transactions")
    if len(raw_txs) > MAX_BUNDLE_TXS:
        raise BundleFormatError(f"bundle has {len(raw_txs)} transactions; at most {MAX_BUNDLE_TXS}")
    txs = tuple(SignedTx.decode(parse_hex_bytes(raw, f"txs[{i}]")) for i, raw in enumerate(raw_txs))
    if "blockNumber" not in params:
        raise BundleFormatError("blockNumber missing")
    reverting = params.get("revertingTxHashes") or []
    if not isinstance(reverting, list):
        raise BundleFormatError("revertingTxHashes must be a list")
    uuid = params.get("replacementUuid", params.get("uuid"))
    if uuid is not None and (not isinstance(uuid, str) or not uuid):
        raise BundleFormatError("replacementUuid must be a non-empty string")
    builders = params.get("builders") or []
    if not isinstance(builders, list) or not all(isinstance(b, str) for b in builders):
        raise BundleFormatError("builders must be a list of names")
    return Bundle(
        txs=txs,
        block_number=parse_quantity(params["blockNumber"], "blockNumber"),
        min_timestamp=parse_quantity(params["minTimestamp"], "minTimestamp")
        if params.get("minTimestamp")
        else None,
        max_timestamp=parse_quantity(params["maxTimestamp"], "maxTimestamp")
        if params.get("maxTimestamp")
        else None,
        reverting_tx_hashes=tuple(parse_hash(h, f"revertingTxHashes[{i}]") for i, h in enumerate(reverting)),
        replacement_uuid=uuid,
        builders=tuple(builders),
    )
