"""Bundle model and bundle file format: hashes, limits, nonces, and one-line errors for bad input."""

from __future__ import annotations

import json

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_hash.auto import keccak as eth_keccak

from defibots.errors import UserError
from defibots.execution.bundles import (
    MAX_BUNDLE_BYTES,
    MAX_BUNDLE_TXS,
    Bundle,
    BundleFormatError,
    FeeDefaults,
    RawEntry,
    SignedTx,
    TxRequest,
    assemble_bundle,
    bundle_from_send_params,
    call_bundle_params,
    mev_send_bundle_params,
    parse_bundle_json,
    read_bundle_file,
    send_bundle_params,
    sign_request,
    sign_requests,
)

KEY_A = "0x" + "11" * 32
KEY_B = "0x" + "22" * 32
TO = "0x000000000000000000000000000000000000dEaD"


@pytest.fixture(scope="module")
def alice() -> LocalAccount:
    account: LocalAccount = Account.from_key(KEY_A)
    return account


@pytest.fixture(scope="module")
def bob() -> LocalAccount:
    account: LocalAccount = Account.from_key(KEY_B)
    return account


def signed(
    account: LocalAccount, nonce: int, value: int = 1, data: bytes = b"", gas: int = 21_000
) -> SignedTx:
    raw = account.sign_transaction(
        {
            "type": 2,
            "chainId": 31337,
            "nonce": nonce,
            "to": TO,
            "value": value,
            "gas": gas,
            "maxFeePerGas": 3_000_000_000,
            "maxPriorityFeePerGas": 1_000_000_000,
            "data": data,
        }
    ).raw_transaction
    return SignedTx.decode(bytes(raw))


def test_decode_eip1559_fields_and_hash(alice: LocalAccount) -> None:
    tx = signed(alice, 7, value=12345)
    assert tx.sender == alice.address
    assert (tx.nonce, tx.value, tx.gas, tx.chain_id, tx.tx_type) == (7, 12345, 21_000, 31337, 2)
    assert (tx.max_fee_per_gas, tx.max_priority_fee_per_gas) == (3_000_000_000, 1_000_000_000)
    assert tx.to == TO
    assert tx.hash == eth_keccak(tx.raw)
    # tip is capped by fee cap - base fee
    assert tx.effective_tip(1_000_000_000) == 1_000_000_000
    assert tx.effective_tip(2_500_000_000) == 500_000_000
    assert tx.effective_gas_price(2_500_000_000) == 3_000_000_000


def test_decode_legacy_eip155(alice: LocalAccount) -> None:
    raw = alice.sign_transaction(
        {"chainId": 1, "nonce": 3, "to": TO, "value": 5, "gas": 21_000, "gasPrice": 10**9, "data": b""}
    ).raw_transaction
    tx = SignedTx.decode(bytes(raw))
    assert (tx.tx_type, tx.chain_id, tx.nonce, tx.sender) == (0, 1, 3, alice.address)
    assert tx.max_fee_per_gas == tx.max_priority_fee_per_gas == 10**9
    assert tx.effective_tip(4 * 10**8) == 6 * 10**8


def test_decode_rejects_garbage() -> None:
    with pytest.raises(BundleFormatError, match="cannot decode signed transaction"):
        SignedTx.decode(b"\x02\x01\x02\x03")
    with pytest.raises(BundleFormatError, match="empty"):
        SignedTx.decode(b"")


def test_bundle_hash_is_keccak_of_concatenated_tx_hashes(alice: LocalAccount, bob: LocalAccount) -> None:
    txs = (signed(alice, 0), signed(bob, 0), signed(alice, 1))
    bundle = Bundle(txs, block_number=100)
    expected = eth_keccak(b"".join(eth_keccak(t.raw) for t in txs))
    assert bundle.bundle_hash == expected
    assert bundle.bundle_hash_hex == "0x" + expected.hex()
    # order matters
    assert Bundle((txs[1], txs[0], txs[2]), 100).bundle_hash != expected
    # the target block does not change the hash
    assert bundle.for_block(101).bundle_hash == expected


def test_send_params_shape(alice: LocalAccount) -> None:
    tx0, tx1 = signed(alice, 0), signed(alice, 1)
    bundle = Bundle(
        (tx0, tx1),
        block_number=0x1234,
        min_timestamp=10,
        max_timestamp=20,
        reverting_tx_hashes=(tx1.hash,),
        replacement_uuid="e2b4a1f0-0000-4000-8000-000000000001",
        builders=("flashbots",),
    )
    assert send_bundle_params(bundle) == {
        "txs": [tx0.raw_hex, tx1.raw_hex],
        "blockNumber": "0x1234",
        "minTimestamp": 10,
        "maxTimestamp": 20,
        "revertingTxHashes": [tx1.hash_hex],
        "replacementUuid": "e2b4a1f0-0000-4000-8000-000000000001",
        "builders": ["flashbots"],
    }
    assert bundle_from_send_params(json.loads(json.dumps(send_bundle_params(bundle)))) == bundle
    assert call_bundle_params(bundle, 0x1233, 99) == {
        "txs": [tx0.raw_hex, tx1.raw_hex],
        "blockNumber": "0x1234",
        "stateBlockNumber": "0x1233",
        "timestamp": 99,
    }
    assert mev_send_bundle_params(bundle, 0x1236) == {
        "version": "v0.1",
        "inclusion": {"block": "0x1234", "maxBlock": "0x1236"},
        "body": [{"tx": tx0.raw_hex, "canRevert": False}, {"tx": tx1.raw_hex, "canRevert": True}],
    }


def test_limits(alice: LocalAccount) -> None:
    txs = tuple(signed(alice, n) for n in range(MAX_BUNDLE_TXS + 1))
    assert len(Bundle(txs[:MAX_BUNDLE_TXS], 5).txs) == MAX_BUNDLE_TXS
    with pytest.raises(BundleFormatError, match="at most 100"):
        Bundle(txs, 5)
    big = tuple(signed(alice, n, data=b"\x01" * 60_000, gas=2_000_000) for n in range(6))
    assert sum(len(t.raw) for t in big) > MAX_BUNDLE_BYTES
    with pytest.raises(BundleFormatError, match="at most 300000"):
        Bundle(big, 5)
    with pytest.raises(BundleFormatError, match="no transactions"):
        Bundle((), 5)
    with pytest.raises(BundleFormatError, match="same transaction twice"):
        Bundle((txs[0], txs[0]), 5)
    with pytest.raises(BundleFormatError, match="not in the bundle"):
        Bundle((txs[0],), 5, reverting_tx_hashes=(txs[1].hash,))
    with pytest.raises(BundleFormatError, match="minTimestamp"):
        Bundle((txs[0],), 5, min_timestamp=10, max_timestamp=9)


def test_timestamp_bounds(alice: LocalAccount) -> None:
    bundle = Bundle((signed(alice, 0),), 5, min_timestamp=100, max_timestamp=200)
    assert [bundle.timestamp_ok(t) for t in (99, 100, 200, 201)] == [False, True, True, False]
    assert Bundle((signed(alice, 0),), 5).timestamp_ok(1)


def test_sign_requests_uses_pending_nonce_plus_index(alice: LocalAccount) -> None:
    fees = FeeDefaults(base_fee=7, priority_fee=2)
    txs = sign_requests(alice, [TxRequest(to=TO, gas=21_000, value=v) for v in (1, 2, 3)], 31337, 41, fees)
    assert [t.nonce for t in txs] == [41, 42, 43]
    assert [t.value for t in txs] == [1, 2, 3]
    assert all(t.max_fee_per_gas == 2 * 7 + 2 and t.max_priority_fee_per_gas == 2 for t in txs)
    assert all(t.sender == alice.address and t.chain_id == 31337 for t in txs)


def test_our_signed_tx_equals_its_full_decode(alice: LocalAccount) -> None:
    """sign_request skips recovering our own address: every field must still be what a full decode reads."""
    request = TxRequest(to=TO, data=b"\x12" * 68, value=5, max_priority_fee_per_gas=3)
    ours = sign_request(alice, request, 1, 9, 400_000, FeeDefaults(base_fee=11))
    assert ours == SignedTx.decode(ours.raw)


def test_bundle_file_mixed_raw_and_unsigned(alice: LocalAccount, bob: LocalAccount) -> None:
    victim = signed(bob, 9)
    own_raw = signed(alice, 5)
    doc = {
        "txs": [
            victim.raw_hex,
            {"tx": own_raw.raw_hex, "canRevert": True},
            {"to": TO, "value": "0x10", "gas": 21000, "canRevert": True},
            {
                "to": TO,
                "data": "0x",
                "value": "17",
                "gas": "21000",
                "maxPriorityFeePerGas": 5,
                "from": alice.address,
            },
        ],
        "blockNumber": "0x64",
        "replacementUuid": "abc",
        "watch": [alice.address.lower()],
    }
    spec = parse_bundle_json(json.dumps(doc), "b.json")
    assert spec.needs_key
    assert isinstance(spec.entries[0], RawEntry)
    assert spec.watch == (alice.address,)
    bundle = assemble_bundle(spec, 999, 31337, FeeDefaults(base_fee=10), signer=alice, pending_nonce=3)
    assert bundle.block_number == 100  # the file's blockNumber wins
    assert [t.sender for t in bundle.txs] == [bob.address, alice.address, alice.address, alice.address]
    # alice's own raw tx used nonce 5, so the unsigned ones continue at 6 and 7 (not the pending nonce 3)
    assert [t.nonce for t in bundle.txs] == [9, 5, 6, 7]
    assert [t.value for t in bundle.txs] == [1, 1, 16, 17]
    assert bundle.txs[3].max_priority_fee_per_gas == 5
    assert bundle.txs[3].max_fee_per_gas == 2 * 10 + 5
    assert bundle.reverting_tx_hashes == (bundle.txs[1].hash, bundle.txs[2].hash)
    assert bundle.replacement_uuid == "abc"


def test_bundle_file_as_plain_list(alice: LocalAccount) -> None:
    tx = signed(alice, 0)
    spec = parse_bundle_json(json.dumps([tx.raw_hex]))
    bundle = assemble_bundle(spec, 12, 31337, FeeDefaults(1))
    assert bundle.txs == (tx,) and bundle.block_number == 12


def test_unsigned_tx_without_key_is_a_clear_error() -> None:
    spec = parse_bundle_json(json.dumps({"txs": [{"to": TO, "gas": 21000}]}), "b.json")
    with pytest.raises(UserError, match=r"^b\.json: has unsigned transactions but no signing key"):
        assemble_bundle(spec, 5, 31337, FeeDefaults(1), signer=None)


def test_wrong_from_and_wrong_chain(alice: LocalAccount, bob: LocalAccount) -> None:
    spec = parse_bundle_json(json.dumps({"txs": [{"to": TO, "gas": 21000, "from": bob.address}]}), "f")
    with pytest.raises(UserError, match=r"is from .* but the signing key is"):
        assemble_bundle(spec, 5, 31337, FeeDefaults(1), signer=alice, pending_nonce=0)
    spec = parse_bundle_json(json.dumps([signed(alice, 0).raw_hex]), "f")
    with pytest.raises(UserError, match="signed for chain 31337, node is 1"):
        assemble_bundle(spec, 5, 1, FeeDefaults(1))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not valid JSON"),
        ("42", "expected an object"),
        ("{}", "'txs' must be a non-empty list"),
        ('{"txs": []}', "'txs' must be a non-empty list"),
        ('{"txs": ["0x02zz"]}', r"txs\[0\] is not valid hex"),
        ('{"txs": ["02f8"]}', r"txs\[0\] must be a 0x-prefixed hex string"),
        ('{"txs": ["0x02f801"]}', "cannot decode signed transaction"),
        ('{"txs": [5]}', r"txs\[0\] must be a signed tx"),
        ('{"txs": [{"value": 1}]}', r"txs\[0\]: 'to' missing"),
        ('{"txs": [{"to": "0x12"}]}', r"txs\[0\]\.to is not a 20-byte hex address"),
        ('{"txs": [{"to": "0x000000000000000000000000000000000000DeaD"}]}', "wrong checksum"),
        ('{"txs": [{"to": null, "value": -1}]}', r"txs\[0\]\.value must not be negative"),
        ('{"txs": [{"to": null, "value": 1.5}]}', r"txs\[0\]\.value must be an integer"),
        ('{"txs": [{"to": null, "gas": "lots"}]}', r"txs\[0\]\.gas is not a number"),
        ('{"txs": [{"to": null, "colour": 1}]}', r"unknown field 'colour'"),
        ('{"txs": [{"to": null, "canRevert": "yes"}]}', "canRevert must be true or false"),
        ('{"txs": [{"to": null}], "extra": 1}', "unknown field 'extra'"),
        ('{"txs": [{"to": null}], "revertingTxHashes": ["0x12"]}', "must be 32 bytes"),
        ('{"txs": [{"to": null}], "blockNumber": "soon"}', "blockNumber is not a number"),
    ],
)
def test_malformed_bundle_files(text: str, message: str) -> None:
    with pytest.raises(BundleFormatError, match=message) as info:
        parse_bundle_json(text, "bad.json")
    line = str(info.value)
    assert line.startswith("bad.json: ") and "\n" not in line


def test_too_many_txs_in_file(alice: LocalAccount) -> None:
    raw = signed(alice, 0).raw_hex
    with pytest.raises(BundleFormatError, match="101 transactions; a bundle takes at most 100"):
        parse_bundle_json(json.dumps([raw] * 101))


def test_read_bundle_file_missing() -> None:
    with pytest.raises(UserError, match="not found"):
        read_bundle_file("/nonexistent/bundle.json")


def test_from_send_params_is_strict(alice: LocalAccount) -> None:
    raw = signed(alice, 0).raw_hex
    with pytest.raises(BundleFormatError, match="blockNumber missing"):
        bundle_from_send_params({"txs": [raw]})
    with pytest.raises(BundleFormatError, match="unknown bundle field 'foo'"):
        bundle_from_send_params({"txs": [raw], "blockNumber": "0x1", "foo": 1})
    with pytest.raises(BundleFormatError, match="txs must be a non-empty list"):
        bundle_from_send_params({"txs": "0x00", "blockNumber": "0x1"})
