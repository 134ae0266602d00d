"""Pending price-feed updates in the mempool, decoded into the answer each will publish.

What a liquidation backrun needs: the feed, the new answer, and the signed transaction to put first in the
bundle. Decoded: `updateAnswer(int256)`, the call the devnet replica's feeds take from their updater key.
Chainlink's OCR `transmit` carries the median inside a signed report; it is not decoded here yet, so on
mainnet the trigger is the mined `AnswerUpdated` (the next-block path) until it is.

An update that cannot be one (short or long calldata, an answer <= 0, which AaveOracle would not use) raises
DecodeError: the watcher counts it and goes on. One that will revert is caught by the bundle's simulation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from eth_utils import function_signature_to_4byte_selector

from defibots.chain.calldata_decoder import DecodeError, checksum_hex
from defibots.chain.events import PendingPriceUpdate, PendingTx
from defibots.chain.router_calls import optional_quantity

UPDATE_ANSWER = function_signature_to_4byte_selector("updateAnswer(int256)")


@dataclass(frozen=True, slots=True)
class DecodedUpdate:
    """What the mempool watcher yields: the transaction's fields, the answer, and (filled in) its bytes."""

    tx_hash: str
    sender: str
    feed: str
    answer: int
    nonce: int
    value: int
    gas: int
    tx_type: int
    gas_price: int | None
    max_fee_per_gas: int | None
    max_priority_fee_per_gas: int | None
    input: bytes
    raw: bytes | None = None


class PriceUpdateDecoder:
    """The watcher's decoder for price feeds (a `PendingDecoder`)."""

    def __init__(self, feeds: Iterable[str]) -> None:
        self.feeds = {f.lower(): checksum_hex(f) for f in feeds}

    def watches(self, address: str | None) -> bool:
        return address is not None and address.lower() in self.feeds

    def decode_transaction(self, tx: Mapping[str, Any]) -> DecodedUpdate | None:
        """The update, None for another call to the feed; DecodeError when it cannot publish a price."""
        try:
            data = bytes.fromhex(str(tx.get("input") or tx.get("data") or "0x")[2:])
            if data[:4] != UPDATE_ANSWER:
                return None
            if len(data) != 36:
                raise DecodeError(f"updateAnswer calldata is {len(data)} bytes, not 36")
            answer = int.from_bytes(data[4:], "big", signed=True)
            if answer <= 0:
                raise DecodeError(f"updateAnswer({answer}): a feed answer must be positive")
            fee_cap = tx.get("maxFeePerGas")
            return DecodedUpdate(
                tx_hash=str(tx["hash"]), sender=checksum_hex(tx["from"]),
                feed=self.feeds[str(tx["to"]).lower()], answer=answer, nonce=int(tx["nonce"], 16),
                value=int(tx.get("value") or "0x0", 16),
                gas=int(tx["gas"], 16), tx_type=int(tx.get("type") or "0x0", 16),
                gas_price=None if fee_cap is not None else optional_quantity(tx.get("gasPrice")),
                max_fee_per_gas=optional_quantity(fee_cap),
                max_priority_fee_per_gas=optional_quantity(tx.get("maxPriorityFeePerGas")), input=data,
            )  # fmt: skip
        except DecodeError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise DecodeError(f"malformed transaction object ({type(exc).__name__}: {exc})") from None


def update_event(update: DecodedUpdate, chain_id: int) -> PendingPriceUpdate:
    tx = PendingTx(
        chain_id=chain_id, hash=update.tx_hash, sender=update.sender, to=update.feed, nonce=update.nonce,
        value=update.value, gas=update.gas, input=update.input, tx_type=update.tx_type,
        gas_price=update.gas_price, max_fee_per_gas=update.max_fee_per_gas,
        max_priority_fee_per_gas=update.max_priority_fee_per_gas, raw=update.raw,
    )  # fmt: skip
    return PendingPriceUpdate(tx=tx, feed=update.feed, answer=update.answer)
