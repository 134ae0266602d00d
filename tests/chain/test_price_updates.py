"""The pending-update decoder against the replica's OCR2 aggregators behind Chainlink's AggregatorProxy.

Each case is a signed `transmit` from the devnet's oracle network, run on the chain (eth_simulateV1: the
transmit, then `latestAnswer()` through the proxy AaveOracle reads) and decoded from the same transaction
object a mempool subscription yields. The answer the decoder predicts is the one the chain publishes, over
random observation sets; each malformed shape it refuses, the aggregator refuses too.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from eth_abi import encode

from defibots.chain.aave_addresses import aave_v3_ethereum
from defibots.chain.calldata import calldata
from defibots.chain.calldata_decoder import DecodeError
from defibots.chain.price_updates import PriceUpdateDecoder
from defibots.devnet.aave_replica import feed_aggregator, price_update_tx
from defibots.devnet.node import Devnet
from defibots.devnet.ocr_feed import SIGNER_KEYS, TRANSMITTER, report, transmit_calldata
from defibots.execution.bundles import SignedTx
from defibots.foundry.anvil import rpc_call

pytestmark = pytest.mark.devnet

AGGREGATOR = feed_aggregator("WETH")
PROXY = aave_v3_ethereum().asset("WETH").price_source


def _details(url: str) -> tuple[bytes, int, int]:
    """The aggregator's config digest, its latest epoch, and the head's time."""
    digest = bytes.fromhex(_call(url, "latestConfigDetails()")[2:])[64:96]
    epoch = int(_call(url, "latestConfigDigestAndEpoch()")[2 + 128 : 2 + 192], 16)
    return digest, epoch, int(rpc_call(url, "eth_getBlockByNumber", ["latest", False])["timestamp"], 16)


def _call(url: str, signature: str) -> str:
    return str(rpc_call(url, "eth_call", [{"to": AGGREGATOR, "data": calldata(signature)}, "latest"]))


def _on_chain(url: str, data: str) -> tuple[bool, int]:
    """Whether the transmit succeeds, and the proxy's latestAnswer after it."""
    calls = [
        {"from": TRANSMITTER, "to": AGGREGATOR, "data": data, "gas": hex(1_000_000)},
        {"to": PROXY, "data": calldata("latestAnswer()")},
    ]
    params = [{"blockStateCalls": [{"calls": calls}], "validation": False}, "latest"]
    transmit, read = rpc_call(url, "eth_simulateV1", params)[0]["calls"]
    return int(transmit["status"], 16) == 1, int.from_bytes(
        bytes.fromhex(read["returnData"][2:]), "big", signed=True
    )


def _pending(data: str, to: str = AGGREGATOR) -> dict[str, Any]:
    """The object eth_subscribe('newPendingTransactions', true) yields for a transmit."""
    return {
        "hash": "0x" + "ab" * 32, "from": TRANSMITTER, "to": to, "nonce": "0x7", "value": "0x0",
        "gas": "0x3d090", "type": "0x2", "maxFeePerGas": "0x77359400", "maxPriorityFeePerGas": "0x3b9aca00",
        "input": data,
    }  # fmt: skip


def test_the_decoded_answer_is_the_one_the_aggregator_publishes(devnet: Devnet) -> None:
    url, rng = devnet.http_url, random.Random(7)
    decoder = PriceUpdateDecoder([AGGREGATOR])
    digest, epoch, now = _details(url)
    sizes = set()
    for case in range(300):
        n = rng.randint(2, 31)  # the aggregator wants more than f = 1 observations, at most 31
        centre = rng.randint(1, 10**12)
        values = sorted(max(1, centre + rng.randint(-centre // 5, centre // 5)) for _ in range(n))
        if case % 5 == 0:
            rng.shuffle(values)  # the aggregator takes index n / 2 whatever the order
        data = transmit_calldata(digest, (epoch + 1) << 8, report(0, now, values))
        ok, published = _on_chain(url, data)
        update = decoder.decode_transaction(_pending(data))
        assert ok and update is not None, case
        assert update.answer == published == values[n // 2], case
        assert update.feed == AGGREGATOR
        sizes.add(n % 2)
    assert sizes == {0, 1}  # odd and even observation counts both ran


def test_the_devnet_update_decodes_from_its_signed_bytes(devnet: Devnet) -> None:
    raw = bytes.fromhex(price_update_tx(devnet.http_url, "WETH", 2_345 * 10**8)[2:])
    tx = SignedTx.decode(raw)
    update = PriceUpdateDecoder([AGGREGATOR]).decode_transaction(_pending("0x" + tx.data.hex(), str(tx.to)))
    assert tx.sender == TRANSMITTER and tx.to == AGGREGATOR
    assert update is not None and update.answer == 2_345 * 10**8
    assert _on_chain(devnet.http_url, "0x" + tx.data.hex()) == (True, 2_345 * 10**8)


def _report_words(values: list[int], extra: bytes = b"") -> bytes:
    return encode(["uint32", "bytes32", "int192[]", "int192"], [1, b"\0" * 32, values, 0]) + extra


def test_shapes_the_decoder_refuses_are_refused_by_the_aggregator(devnet: Devnet) -> None:
    url = devnet.http_url
    decoder = PriceUpdateDecoder([AGGREGATOR])
    digest, epoch, now = _details(url)
    context = (epoch + 1) << 8
    good = transmit_calldata(digest, context, report(3_000 * 10**8, now))
    malformed = {
        "calldata cut short": good[:-64],
        "bytes appended": good + "00" * 32,
        "report longer than its observations": transmit_calldata(
            digest, context, _report_words([5, 6], b"\1" * 32)
        ),
        "median not positive": transmit_calldata(digest, context, report(0, now, [-3, -1, 0, 9])),
        "no signatures": transmit_calldata(digest, context, report(3_000 * 10**8, now), signer_keys=()),
    }
    for why, data in malformed.items():
        with pytest.raises(DecodeError):
            decoder.decode_transaction(_pending(data))
        assert _on_chain(url, data)[0] is False, why
    # a well-formed one the chain refuses (a signer the DON does not have) decodes: simulation catches it
    forged = transmit_calldata(
        digest, context, report(3_000 * 10**8, now), signer_keys=(SIGNER_KEYS[0], "0x" + "11" * 32)
    )
    assert _on_chain(url, forged)[0] is False
    assert decoder.decode_transaction(_pending(forged)) is not None
    # other calls to the aggregator, and calls to contracts it does not watch, are not updates
    assert decoder.decode_transaction(_pending(calldata("latestAnswer()"))) is None
    assert not decoder.watches(PROXY)
