"""Flashbots-style bundles: ordered signed transactions for one target block, plus the file format.

A bundle is what a searcher asks a builder to put at the top of a block, all-or-nothing. The model
holds decoded signed transactions (so simulation, inclusion tracking and the relay all agree on
hashes, senders and nonces) and renders the exact JSON-RPC params of eth_sendBundle / eth_callBundle /
mev_sendBundle. Parsing a user's JSON bundle file is strict: any malformed field is one UserError line.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account._utils.legacy_transactions import Transaction as LegacyTransaction
from eth_account.signers.local import LocalAccount
from eth_account.typed_transactions import TypedTransaction
from eth_utils import is_checksum_address, is_hex_address, keccak, to_checksum_address
from hexbytes import HexBytes

from defibots.errors import UserError

MAX_BUNDLE_TXS = 100
MAX_BUNDLE_BYTES = 300_000
"""Relay limits: at most 100 transactions and 300 kB of raw transaction bytes per bundle."""


class BundleFormatError(UserError):
    """A bundle (file, JSON params, or raw transaction) that cannot be used as given."""


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


def parse_hex_bytes(value: Any, what: str) -> bytes:
    if not isinstance(value, str) or not value.startswith(("0x", "0X")):
        raise BundleFormatError(f"{what} must be a 0x-prefixed hex string, got {_short(value)}")
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        raise BundleFormatError(f"{what} is not valid hex: {_short(value)}") from None


def parse_quantity(value: Any, what: str) -> int:
    """An int, a decimal string or a 0x-hex string; never negative, never a float or bool."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise BundleFormatError(f"{what} must be an integer or a hex/decimal string, got {_short(value)}")
    if isinstance(value, str):
        text = value.strip()
        try:
            number = int(text, 16) if text.lower().startswith("0x") else int(text, 10)
        except ValueError:
            raise BundleFormatError(f"{what} is not a number: {_short(value)}") from None
    else:
        number = value
    if number < 0:
        raise BundleFormatError(f"{what} must not be negative, got {number}")
    return number


def parse_address(value: Any, what: str) -> str:
    if not isinstance(value, str) or not is_hex_address(value):
        raise BundleFormatError(f"{what} is not a 20-byte hex address: {_short(value)}")
    if value[2:] != value[2:].lower() and value[2:] != value[2:].upper() and not is_checksum_address(value):
        raise BundleFormatError(f"{what} has a wrong checksum: {value}")
    return str(to_checksum_address(value))


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 48 else text[:45] + "..."


@dataclass(frozen=True)
class SignedTx:
    """A signed transaction decoded once: its exact bytes, hash, sender and fee fields."""

    raw: bytes
    hash: bytes
    sender: str
    nonce: int
    to: str | None
    value: int
    gas: int
    data: bytes
    chain_id: int | None
    tx_type: int
    max_fee_per_gas: int
    max_priority_fee_per_gas: int
    """For legacy and access-list transactions both fee fields hold gasPrice."""

    @classmethod
    def decode(cls, raw: bytes) -> SignedTx:
        if not raw:
            raise BundleFormatError("empty transaction")
        try:
            if raw[0] >= 0xC0:
                legacy = LegacyTransaction.from_bytes(HexBytes(raw))
                fields: dict[str, Any] = dict(legacy.as_dict())
                v = int(fields["v"])
                chain_id = (v - 35) // 2 if v >= 35 else None
                gas_price = int(fields["gasPrice"])
                tx_type, max_fee, tip = 0, gas_price, gas_price
            else:
                fields = dict(TypedTransaction.from_bytes(HexBytes(raw)).as_dict())
                tx_type = int(fields["type"])
                chain_id = int(fields["chainId"])
                if "maxFeePerGas" in fields:
                    max_fee, tip = int(fields["maxFeePerGas"]), int(fields["maxPriorityFeePerGas"])
                else:
                    max_fee = tip = int(fields["gasPrice"])
            sender = Account.recover_transaction(raw)
        except BundleFormatError:
            raise
        except Exception as exc:  # rlp / eth_account raise many unrelated types for bad bytes
            raise BundleFormatError(f"cannot decode signed transaction {_hex(raw[:8])}...: {exc}") from None
        to_field = fields.get("to") or b""
        return cls(
            raw=bytes(raw),
            hash=keccak(raw),
            sender=str(to_checksum_address(sender)),
            nonce=int(fields["nonce"]),
            to=str(to_checksum_address(bytes(to_field))) if len(to_field) == 20 else None,
            value=int(fields["value"]),
            gas=int(fields["gas"]),
            data=bytes(fields.get("data") or b""),
            chain_id=chain_id,
            tx_type=tx_type,
            max_fee_per_gas=max_fee,
            max_priority_fee_per_gas=tip,
        )

    @property
    def hash_hex(self) -> str:
        return _hex(self.hash)

    @property
    def raw_hex(self) -> str:
        return _hex(self.raw)

    def effective_tip(self, base_fee: int) -> int:
        """What the block's fee recipient gets per gas; negative when the fee cap is below the base fee."""
        return min(self.max_priority_fee_per_gas, self.max_fee_per_gas - base_fee)

    def effective_gas_price(self, base_fee: int) -> int:
        return base_fee + self.effective_tip(base_fee)


@dataclass(frozen=True)
class Bundle:
    """Ordered signed transactions for one target block; all land in order or none do."""

    txs: tuple[SignedTx, ...]
    block_number: int
    min_timestamp: int | None = None
    max_timestamp: int | None = None
    reverting_tx_hashes: tuple[bytes, ...] = ()
    replacement_uuid: str | None = None
    builders: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.txs:
            raise BundleFormatError("bundle has no transactions")
        if len(self.txs) > MAX_BUNDLE_TXS:
            raise BundleFormatError(
                f"bundle has {len(self.txs)} transactions; relays take at most {MAX_BUNDLE_TXS}"
            )
        if self.size_bytes > MAX_BUNDLE_BYTES:
            raise BundleFormatError(
                f"bundle is {self.size_bytes} bytes; relays take at most {MAX_BUNDLE_BYTES}"
            )
        if self.block_number <= 0:
            raise BundleFormatError(f"target block must be positive, got {self.block_number}")
        if self.min_timestamp and self.max_timestamp and self.min_timestamp > self.max_timestamp:
            raise BundleFormatError(
                f"minTimestamp {self.min_timestamp} is after maxTimestamp {self.max_timestamp}"
            )
        hashes = [tx.hash for tx in self.txs]
        if len(set(hashes)) != len(hashes):
            raise BundleFormatError("bundle holds the same transaction twice")
        unknown = [h for h in self.reverting_tx_hashes if h not in hashes]
        if unknown:
            raise BundleFormatError(f"revertingTxHashes lists {_hex(unknown[0])}, which is not in the bundle")

    @property
    def size_bytes(self) -> int:
        return sum(len(tx.raw) for tx in self.txs)

    @property
    def bundle_hash(self) -> bytes:
        """keccak256 of the concatenated transaction hashes (what relays answer to eth_sendBundle)."""
        return bundle_hash(tx.hash for tx in self.txs)

    @property
    def bundle_hash_hex(self) -> str:
        return _hex(self.bundle_hash)

    @property
    def tx_hashes(self) -> tuple[bytes, ...]:
        return tuple(tx.hash for tx in self.txs)

    def may_revert(self, tx_hash: bytes) -> bool:
        return tx_hash in self.reverting_tx_hashes

    def for_block(self, block_number: int) -> Bundle:
        return dataclasses.replace(self, block_number=block_number)

    def timestamp_ok(self, timestamp: int) -> bool:
        """Relay semantics: 0 / missing bounds accept any timestamp; both bounds are inclusive."""
        if self.min_timestamp and timestamp < self.min_timestamp:
            return False
        return not (self.max_timestamp and timestamp > self.max_timestamp)

    def send_params(self) -> dict[str, Any]:
        """The single params object of eth_sendBundle."""
        params: dict[str, Any] = {
            "txs": [tx.raw_hex for tx in self.txs],
            "blockNumber": hex(self.block_number),
        }
        if self.min_timestamp:
            params["minTimestamp"] = self.min_timestamp
        if self.max_timestamp:
            params["maxTimestamp"] = self.max_timestamp
        if self.reverting_tx_hashes:
            params["revertingTxHashes"] = [_hex(h) for h in self.reverting_tx_hashes]
        if self.replacement_uuid:
            params["replacementUuid"] = self.replacement_uuid
        if self.builders:
            params["builders"] = list(self.builders)
        return params

    def call_params(self, state_block: int | str = "latest", timestamp: int | None = None) -> dict[str, Any]:
        """The single params object of eth_callBundle."""
        params: dict[str, Any] = {
            "txs": [tx.raw_hex for tx in self.txs],
            "blockNumber": hex(self.block_number),
            "stateBlockNumber": hex(state_block) if isinstance(state_block, int) else state_block,
        }
        if timestamp is not None:
            params["timestamp"] = timestamp
        return params

    def mev_share_params(self, max_block: int | None = None) -> dict[str, Any]:
        """The params object of mev_sendBundle (MEV-Share v0.1) carrying the same transactions."""
        inclusion: dict[str, Any] = {"block": hex(self.block_number)}
        if max_block is not None:
            inclusion["maxBlock"] = hex(max_block)
        return {
            "version": "v0.1",
            "inclusion": inclusion,
            "body": [{"tx": tx.raw_hex, "canRevert": self.may_revert(tx.hash)} for tx in self.txs],
        }

    @classmethod
    def from_send_params(cls, params: Any) -> Bundle:
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
        return cls(
            txs=txs,
            block_number=parse_quantity(params["blockNumber"], "blockNumber"),
            min_timestamp=parse_quantity(params["minTimestamp"], "minTimestamp")
            if params.get("minTimestamp")
            else None,
            max_timestamp=parse_quantity(params["maxTimestamp"], "maxTimestamp")
            if params.get("maxTimestamp")
            else None,
            reverting_tx_hashes=tuple(
                _parse_hash(h, f"revertingTxHashes[{i}]") for i, h in enumerate(reverting)
            ),
            replacement_uuid=uuid,
            builders=tuple(builders),
        )


def bundle_hash(tx_hashes: Iterable[bytes]) -> bytes:
    return keccak(b"".join(tx_hashes))


def _parse_hash(value: Any, what: str) -> bytes:
    data = parse_hex_bytes(value, what)
    if len(data) != 32:
        raise BundleFormatError(f"{what} must be 32 bytes, got {len(data)}")
    return data


# --- building and signing our own transactions ---------------------------------------------------


@dataclass(frozen=True)
class TxRequest:
    """An unsigned transaction to sign with our funds key; missing fields are filled when signing."""

    to: str | None
    data: bytes = b""
    value: int = 0
    gas: int | None = None
    max_fee_per_gas: int | None = None
    max_priority_fee_per_gas: int | None = None
    nonce: int | None = None
    can_revert: bool = False
    sender: str | None = None
    """When the file names a sender, it must be the signing key's address."""


@dataclass(frozen=True)
class FeeDefaults:
    """Fees for requests that leave them out: tip as given, fee cap = 2 * base fee + tip."""

    base_fee: int
    priority_fee: int = 1_000_000_000

    def max_fee(self, tip: int) -> int:
        return 2 * self.base_fee + tip


def sign_request(
    account: LocalAccount, request: TxRequest, chain_id: int, nonce: int, gas: int, fees: FeeDefaults
) -> SignedTx:
    """Sign one EIP-1559 transaction; the result is decoded back so every field is what was signed."""
    tip = (
        request.max_priority_fee_per_gas
        if request.max_priority_fee_per_gas is not None
        else fees.priority_fee
    )
    max_fee = request.max_fee_per_gas if request.max_fee_per_gas is not None else fees.max_fee(tip)
    if tip > max_fee:
        raise BundleFormatError(f"maxPriorityFeePerGas {tip} is above maxFeePerGas {max_fee}")
    tx: dict[str, Any] = {
        "type": 2,
        "chainId": chain_id,
        "nonce": nonce,
        "value": request.value,
        "gas": gas,
        "maxFeePerGas": max_fee,
        "maxPriorityFeePerGas": tip,
        "data": request.data,
    }
    if request.to is not None:
        tx["to"] = to_checksum_address(request.to)
    signed = account.sign_transaction(tx)
    return SignedTx.decode(bytes(signed.raw_transaction))


def sign_requests(
    account: LocalAccount,
    requests: Sequence[TxRequest],
    chain_id: int,
    pending_nonce: int,
    fees: FeeDefaults,
    gas_for: Callable[[TxRequest], int] | None = None,
) -> list[SignedTx]:
    """Sign several transactions from one account with consecutive nonces: pending nonce + index."""
    out: list[SignedTx] = []
    nonce = pending_nonce
    for request in requests:
        use = request.nonce if request.nonce is not None else nonce
        out.append(sign_request(account, request, chain_id, use, _gas(request, gas_for, len(out)), fees))
        nonce = use + 1
    return out


def _gas(request: TxRequest, gas_for: Callable[[TxRequest], int] | None, index: int) -> int:
    if request.gas is not None:
        return request.gas
    if gas_for is None:
        raise BundleFormatError(f"txs[{index}]: gas missing and no node to estimate it")
    return gas_for(request)


# --- the JSON bundle file -------------------------------------------------------------------------


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
        reverting_tx_hashes=tuple(_parse_hash(h, f"revertingTxHashes[{i}]") for i, h in enumerate(reverting)),
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
                tx = sign_request(signer, entry, chain_id, use, _gas(entry, gas_for, i), fees)
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
