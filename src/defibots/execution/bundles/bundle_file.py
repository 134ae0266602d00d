"""The JSON bundle file a user hands `defibots bundle` (see `defibots bundle --help`), and turning it into a
`Bundle` once the target block, fees and the signer's nonce are known."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount

from defibots.execution.bundles.bundle import MAX_BUNDLE_TXS, Bundle
from defibots.execution.bundles.fields import (
    BundleFormatError,
    parse_address,
    parse_hash,
    parse_hex_bytes,
    parse_quantity,
)
from defibots.execution.bundles.signed_tx import SignedTx
from defibots.execution.bundles.signing import FeeDefaults, TxRequest, request_gas, sign_request


@dataclass(frozen=True)
class RawEntry:
    """Someone's (or our own) already signed transaction, taken as is."""

    tx: SignedTx
    can_revert: bool = False


@dataclass(frozen=True)
class BundleFile:
    """A parsed bundle file: what to put in the bundle, before nonces, fees and the target are known."""

    entries: tuple[RawEntry | TxRequest, ...]
    block_number: int | None = None
    min_timestamp: int | None = None
    max_timestamp: int | None = None
    reverting_tx_hashes: tuple[bytes, ...] = ()
    replacement_uuid: str | None = None
    builders: tuple[str, ...] = ()
    source: str = "bundle"
    watch: tuple[str, ...] = field(default=())
    """Addresses whose ETH and token balance changes to report (the searcher's accounts)."""

    @property
    def needs_key(self) -> bool:
        return any(isinstance(entry, TxRequest) for entry in self.entries)


_TOP_KEYS = {
    "txs",
    "blockNumber",
    "minTimestamp",
    "maxTimestamp",
    "revertingTxHashes",
    "replacementUuid",
    "builders",
    "watch",
}
_TX_KEYS = {
    "to",
    "data",
    "input",
    "value",
    "gas",
    "gasLimit",
    "maxFeePerGas",
    "maxPriorityFeePerGas",
    "nonce",
    "canRevert",
    "from",
}


def parse_bundle_json(text: str, source: str = "bundle") -> BundleFile:
    """Parse the bundle file format (see `defibots bundle --help`); malformed input -> one UserError line."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise BundleFormatError(f"{source}: not valid JSON ({exc})") from None
    if isinstance(doc, list):
        doc = {"txs": doc}
    if not isinstance(doc, dict):
        raise BundleFormatError(f"{source}: expected an object with 'txs' or a list of transactions")
    try:
        return _parse_doc(doc, source)
    except BundleFormatError as exc:
        raise BundleFormatError(f"{source}: {exc}") from None


def _parse_doc(doc: dict[str, Any], source: str) -> BundleFile:
    unknown = set(doc) - _TOP_KEYS
    if unknown:
        raise BundleFormatError(f"unknown field {sorted(unknown)[0]!r}")
    txs = doc.get("txs")
    if not isinstance(txs, list) or not txs:
        raise BundleFormatError("'txs' must be a non-empty list")
    if len(txs) > MAX_BUNDLE_TXS:
        raise BundleFormatError(f"{len(txs)} transactions; a bundle takes at most {MAX_BUNDLE_TXS}")
    entries = tuple(_parse_entry(item, f"txs[{i}]") for i, item in enumerate(txs))
    reverting = doc.get("revertingTxHashes") or []
    if not isinstance(reverting, list):
        raise BundleFormatError("'revertingTxHashes' must be a list")
    watch = doc.get("watch") or []
    if not isinstance(watch, list):
        raise BundleFormatError("'watch' must be a list of addresses")
    uuid = doc.get("replacementUuid")
    if uuid is not None and (not isinstance(uuid, str) or not uuid):
        raise BundleFormatError("'replacementUuid' must be a non-empty string")
    builders = doc.get("builders") or []
    if not isinstance(builders, list) or not all(isinstance(b, str) for b in builders):
        raise BundleFormatError("'builders' must be a list of names")

    def opt(key: str) -> int | None:
        return parse_quantity(doc[key], key) if doc.get(key) is not None else None

    return BundleFile(
        entries=entries,
        block_number=opt("blockNumber"),
        min_timestamp=opt("minTimestamp"),
        max_timestamp=opt("maxTimestamp"),
        reverting_tx_hashes=tuple(parse_hash(h, f"revertingTxHashes[{i}]") for i, h in enumerate(reverting)),
        replacement_uuid=uuid,
        builders=tuple(builders),
        source=source,
        watch=tuple(parse_address(a, f"watch[{i}]") for i, a in enumerate(watch)),
    )


def _parse_entry(item: Any, what: str) -> RawEntry | TxRequest:
    if isinstance(item, str):
        return RawEntry(SignedTx.decode(parse_hex_bytes(item, what)))
    if not isinstance(item, dict):
        raise BundleFormatError(f"{what} must be a signed tx (hex) or an object")
    can_revert = item.get("canRevert", False)
    if not isinstance(can_revert, bool):
        raise BundleFormatError(f"{what}.canRevert must be true or false")
    if "tx" in item or "raw" in item:
        extra = set(item) - {"tx", "raw", "canRevert"}
        if extra:
            raise BundleFormatError(f"{what}: unknown field {sorted(extra)[0]!r} next to a signed tx")
        raw = item.get("tx", item.get("raw"))
        return RawEntry(SignedTx.decode(parse_hex_bytes(raw, f"{what}.tx")), can_revert)
    unknown = set(item) - _TX_KEYS
    if unknown:
        raise BundleFormatError(f"{what}: unknown field {sorted(unknown)[0]!r}")
    if "to" not in item:
        raise BundleFormatError(f"{what}: 'to' missing (use null to deploy a contract)")
    data_value = item.get("data", item.get("input", "0x"))

    def opt(key: str, *aliases: str) -> int | None:
        for name in (key, *aliases):
            if item.get(name) is not None:
                return parse_quantity(item[name], f"{what}.{name}")
        return None

    return TxRequest(
        to=parse_address(item["to"], f"{what}.to") if item["to"] is not None else None,
        data=parse_hex_bytes(data_value, f"{what}.data"),
        value=opt("value") or 0,
        gas=opt("gas", "gasLimit"),
        max_fee_per_gas=opt("maxFeePerGas"),
        max_priority_fee_per_gas=opt("maxPriorityFeePerGas"),
        nonce=opt("nonce"),
        can_revert=can_revert,
        sender=parse_address(item["from"], f"{what}.from") if item.get("from") is not None else None,
    )


def read_bundle_file(path: str) -> BundleFile:
    """Read a bundle file, or standard input for '-'."""
    if path == "-":
        return parse_bundle_json(sys.stdin.read(), "stdin")
    file = Path(path)
    if not file.is_file():
        raise BundleFormatError(f"bundle file {path} not found")
    try:
        text = file.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise BundleFormatError(f"cannot read bundle file {path}: {exc}") from None
    return parse_bundle_json(text, path)


def assemble_bundle(
    spec: BundleFile,
    block_number: int,
    chain_id: int,
    fees: FeeDefaults,
    signer: LocalAccount | None = None,
    pending_nonce: int | None = None,
    gas_for: Callable[[TxRequest], int] | None = None,
) -> Bundle:
    """Turn a parsed file into a bundle: sign its unsigned entries with the signer's next nonces.

    The signer's nonce counter starts at its pending nonce and moves past any of the signer's own raw
    transactions that come earlier in the file, so mixed files stay consistent.
    """
    if spec.needs_key and signer is None:
        raise BundleFormatError(f"{spec.source}: has unsigned transactions but no signing key is configured")
    txs: list[SignedTx] = []
    reverting = list(spec.reverting_tx_hashes)
    nonce = pending_nonce or 0
    for i, entry in enumerate(spec.entries):
        if isinstance(entry, RawEntry):
            tx = entry.tx
            if chain_id and tx.chain_id is not None and tx.chain_id != chain_id:
                raise BundleFormatError(
                    f"{spec.source}: txs[{i}] is signed for chain {tx.chain_id}, node is {chain_id}"
                )
            if signer is not None and tx.sender == signer.address:
                nonce = max(nonce, tx.nonce + 1)
            if entry.can_revert:
                reverting.append(tx.hash)
        else:
            assert signer is not None
            if entry.sender is not None and entry.sender != signer.address:
                raise BundleFormatError(
                    f"{spec.source}: txs[{i}] is from {entry.sender} but the signing key is {signer.address}"
                )
            use = entry.nonce if entry.nonce is not None else nonce
            try:
                tx = sign_request(signer, entry, chain_id, use, request_gas(entry, gas_for, i), fees)
            except BundleFormatError as exc:
                raise BundleFormatError(f"{spec.source}: txs[{i}]: {exc}") from None
            nonce = use + 1
            if entry.can_revert:
                reverting.append(tx.hash)
        txs.append(tx)
    return Bundle(
        txs=tuple(txs),
        block_number=spec.block_number or block_number,
        min_timestamp=spec.min_timestamp,
        max_timestamp=spec.max_timestamp,
        reverting_tx_hashes=tuple(dict.fromkeys(reverting)),
        replacement_uuid=spec.replacement_uuid,
        builders=spec.builders,
    )
