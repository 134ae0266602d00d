"""Building and signing our own EIP-1559 transactions for a bundle (fees and gas filled in when missing)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from defibots.execution.bundles.fields import BundleFormatError
from defibots.execution.bundles.signed_tx import SignedTx


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
    return SignedTx.decode(bytes(signed.raw_transaction), signer=account.address)


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
        out.append(
            sign_request(account, request, chain_id, use, request_gas(request, gas_for, len(out)), fees)
        )
        nonce = use + 1
    return out


def request_gas(request: TxRequest, gas_for: Callable[[TxRequest], int] | None, index: int) -> int:
    """The request's own gas limit, else `gas_for` (an estimate); `index` names it in the error."""
    if request.gas is not None:
        return request.gas
    if gas_for is None:
        raise BundleFormatError(f"txs[{index}]: gas missing and no node to estimate it")
    return gas_for(request)
