"""`SignedTx`: a signed transaction decoded once, so simulation, inclusion tracking and the relay agree on
its hash, sender, nonce and fee fields."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account._utils.legacy_transactions import Transaction as LegacyTransaction
from eth_account.typed_transactions import TypedTransaction
from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes

from defibots.execution.bundles.fields import BundleFormatError, to_hex


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
    access_list: tuple[tuple[str, tuple[int, ...]], ...] = ()
    """(address, storage keys) per EIP-2930 entry: it changes the gas a call-based simulation charges."""

    @classmethod
    def decode(cls, raw: bytes, signer: str | None = None) -> SignedTx:
        """`signer`: the address that just signed `raw` (our own key), which skips recovering it (~0.6 ms of
        the hot path per transaction); bytes from anyone else are always recovered."""
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
            sender = signer if signer is not None else Account.recover_transaction(raw)
        except BundleFormatError:
            raise
        except Exception as exc:  # rlp / eth_account raise many unrelated types for bad bytes
            raise BundleFormatError(f"cannot decode signed transaction {to_hex(raw[:8])}...: {exc}") from None
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
            access_list=tuple(
                (str(to_checksum_address(bytes(e["address"]))), tuple(int(k) for k in e["storageKeys"]))
                for e in fields.get("accessList") or ()
            ),
        )

    @property
    def hash_hex(self) -> str:
        return to_hex(self.hash)

    @property
    def raw_hex(self) -> str:
        return to_hex(self.raw)

    def effective_tip(self, base_fee: int) -> int:
        """What the block's fee recipient gets per gas; negative when the fee cap is below the base fee."""
        return min(self.max_priority_fee_per_gas, self.max_fee_per_gas - base_fee)

    def effective_gas_price(self, base_fee: int) -> int:
        return base_fee + self.effective_tip(base_fee)
