"""Pending price-feed updates in the mempool, decoded into the answer each will publish.

What a liquidation backrun needs: the feed, the new answer, and the signed transaction to put first in the
bundle. Chainlink's data feeds move by OCR2 `transmit(reportContext, report, rs, ss, rawVs)`, sent to the
aggregator behind a feed's proxy (so `feeds` are aggregator addresses: `AaveReserve.feed`). The answer is
the report's median, `observations[len / 2]`, as OCR2Aggregator takes it.

An update that cannot publish a price (calldata or report of the wrong length, which the aggregator
refuses, no observations, a median <= 0, which AaveOracle would not use) raises DecodeError: the watcher
counts it and goes on. Signatures, the transmitter, staleness and the min-max range are the aggregator's to
check: an update that fails them reverts, and the bundle's simulation catches it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from eth_abi import decode
from eth_abi.exceptions import DecodingError
from eth_utils import function_signature_to_4byte_selector

from defibots.chain.calldata_decoder import DecodeError, checksum_hex
from defibots.chain.events import PendingPriceUpdate, PendingTx
from defibots.chain.router_calls import optional_quantity

TRANSMIT = function_signature_to_4byte_selector("transmit(bytes32[3],bytes,bytes32[],bytes32[],bytes32)")
_TRANSMIT_TYPES = ["bytes32[3]", "bytes", "bytes32[]", "bytes32[]", "bytes32"]
_REPORT_TYPES = ["uint32", "bytes32", "int192[]", "int192"]
_TRANSMIT_FIXED = 4 + 32 * 10  # selector, 3 context words, 3 offsets, rawVs, 3 lengths


def transmitted_answer(data: bytes) -> int:
    """The median an OCR2 `transmit` publishes (DecodeError where the aggregator would refuse the shape)."""
    try:
        _, raw_report, rs, ss, _ = decode(_TRANSMIT_TYPES, data[4:])
        if len(data) != _TRANSMIT_FIXED + len(raw_report) + 32 * (len(rs) + len(ss)):
            raise DecodeError(
                f"transmit calldata is {len(data)} bytes, not what its report and signatures take"
            )
        _, _, observations, _ = decode(_REPORT_TYPES, raw_report)
    except (DecodingError, OverflowError) as exc:
        raise DecodeError(f"transmit calldata does not decode ({exc})") from None
    if len(raw_report) != 32 * (5 + len(observations)):
        raise DecodeError(f"transmit report is {len(raw_report)} bytes for {len(observations)} observations")
    if not observations or not rs or len(rs) != len(ss):
        raise DecodeError(f"transmit has {len(observations)} observations and {len(rs)}/{len(ss)} signatures")
    answer = int(observations[len(observations) // 2])
    if answer <= 0:
        raise DecodeError(f"transmit median {answer}: a feed answer must be positive")
    return answer


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
            if data[:4] != TRANSMIT:
                return None
            answer = transmitted_answer(data)
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
