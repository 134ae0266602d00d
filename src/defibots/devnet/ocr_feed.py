"""The devnet's oracle network: OCR2 reports for the replica's aggregators, signed as Chainlink's DON signs.

Mainnet's feeds move when a transmitter sends `transmit(reportContext, report, rs, ss, rawVs)` to the OCR2
aggregator behind a feed's proxy: the report holds the sorted observations (the median is the answer), and
f + 1 oracle signatures over keccak(abi.encode(keccak(report), reportContext)) make it valid. The replica's
aggregators (contracts/replica/ReplicaAggregator.sol) check all of that, so the devnet's price updates are
the same calldata a bot sees in mainnet's mempool. The keys are derived from fixed phrases: devnet only.
"""

from __future__ import annotations

from collections.abc import Sequence

from eth_abi import encode
from eth_account import Account
from eth_utils import keccak

from defibots.chain.price_updates import TRANSMIT

ORACLES = 4
FAULTY = 1
"""f: the aggregator wants f + 1 signatures and more than f observations."""
SIGNER_KEYS = tuple("0x" + keccak(text=f"defibots replica ocr signer {i}").hex() for i in range(ORACLES))
SIGNERS = tuple(str(Account.from_key(k).address) for k in SIGNER_KEYS)
TRANSMITTER_KEY = "0x" + keccak(text="defibots replica price feed updater").hex()
"""The transmitter that sends the devnet's updates (its txs sit in the mempool as a real feed update does)."""
TRANSMITTER = str(Account.from_key(TRANSMITTER_KEY).address)
TRANSMITTERS = (
    TRANSMITTER,
    *(
        str(Account.from_key(keccak(text=f"defibots replica ocr transmitter {i}")).address)
        for i in range(1, 4)
    ),
)
JUELS_PER_FEE_COIN = 160 * 10**18  # LINK (in juels) per ETH, which the report carries for billing
SET_CONFIG = "setConfig(address[],address[],uint8,bytes,uint64,bytes)"


def config_args() -> tuple[list[str], list[str], int, bytes, int, bytes]:
    """`setConfig` arguments: the devnet DON's signers and transmitters, f, and empty off-chain config."""
    return list(SIGNERS), list(TRANSMITTERS), FAULTY, b"", 0, b""


def observations_for(answer: int) -> list[int]:
    """What the oracles observed, sorted, with `answer` at index len // 2 (the median the aggregator uses)."""
    step = max(1, answer // 10_000)
    return [answer - step, answer, answer, answer + step]


def report(answer: int, observations_timestamp: int, observations: Sequence[int] | None = None) -> bytes:
    """The ABI report OCR2 aggregators decode: (uint32 timestamp, bytes32 observers, int192[], int192)."""
    values = list(observations) if observations is not None else observations_for(answer)
    observers = bytes(range(len(values))).ljust(32, b"\0")
    return encode(
        ["uint32", "bytes32", "int192[]", "int192"],
        [observations_timestamp, observers, values, JUELS_PER_FEE_COIN],
    )


def transmit_calldata(
    config_digest: bytes,
    epoch_and_round: int,
    raw_report: bytes,
    signer_keys: Sequence[str] = SIGNER_KEYS[: FAULTY + 1],
) -> str:
    """`transmit` calldata for `raw_report`, signed by `signer_keys` (by default f + 1 of the DON's)."""
    context = [config_digest, epoch_and_round.to_bytes(32, "big"), keccak(raw_report + config_digest)]
    digest = keccak(encode(["bytes32", "bytes32[3]"], [keccak(raw_report), context]))
    rs, ss, vs = [], [], bytearray()
    for key in signer_keys:
        signed = Account.unsafe_sign_hash(digest, key)
        rs.append(signed.r.to_bytes(32, "big"))
        ss.append(signed.s.to_bytes(32, "big"))
        vs.append(signed.v - 27)
    args = [context, raw_report, rs, ss, bytes(vs).ljust(32, b"\0")]
    return (
        "0x" + (TRANSMIT + encode(["bytes32[3]", "bytes", "bytes32[]", "bytes32[]", "bytes32"], args)).hex()
    )
