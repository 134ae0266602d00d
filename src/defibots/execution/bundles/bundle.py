"""`Bundle`: ordered signed transactions for one target block, all-or-nothing, within the relays' limits."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass

from eth_utils import keccak

from defibots.execution.bundles.fields import BundleFormatError, to_hex
from defibots.execution.bundles.signed_tx import SignedTx

MAX_BUNDLE_TXS = 100
MAX_BUNDLE_BYTES = 300_000
"""Relay limits: at most 100 transactions and 300 kB of raw transaction bytes per bundle."""


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
            raise BundleFormatError(
                f"revertingTxHashes lists {to_hex(unknown[0])}, which is not in the bundle"
            )

    @property
    def size_bytes(self) -> int:
        return sum(len(tx.raw) for tx in self.txs)

    @property
    def bundle_hash(self) -> bytes:
        """keccak256 of the concatenated transaction hashes (what relays answer to eth_sendBundle)."""
        return bundle_hash(tx.hash for tx in self.txs)

    @property
    def bundle_hash_hex(self) -> str:
        return to_hex(self.bundle_hash)

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


def bundle_hash(tx_hashes: Iterable[bytes]) -> bytes:
    return keccak(b"".join(tx_hashes))
