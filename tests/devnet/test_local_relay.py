"""The local relay on a real anvil: signature checks, atomic inclusion at the top of the block, replacement,
cancellation, timestamps, ordering by payment, mev_sendBundle backruns, inclusion tracking, and the
parity that matters most: what simulate() predicts is exactly what the relay's block did.

The chain is a plain `anvil --order fifo` with an OpenZeppelin ERC-20 deployed; to run on the mainnet
replica instead, point `chain_url` at a fifo fork of it (`anvil --fork-url <replica> --order fifo`).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from eth_abi import encode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address

from defibots.chain.addresses import TOKENS, UNISWAP_V2_ROUTER02, UNISWAP_V3_SWAP_ROUTER
from defibots.chain.async_rpc import HttpRpc
from defibots.devnet.node import Devnet
from defibots.devnet.relay import LocalRelay
from defibots.errors import UserError
from defibots.execution.bundles import Bundle, FeeDefaults, SignedTx, TxRequest, sign_request
from defibots.execution.flashbots_auth import SIGNATURE_HEADER, sign_body
from defibots.execution.inclusion import InclusionStatus, InclusionTracker
from defibots.execution.relay_client import RelayClient, RelayError
from defibots.execution.simulation import BUILDER_COINBASE, AnvilSimulator, SimulationResult, token_transfers
from defibots.foundry.accounts import dev_accounts
from defibots.foundry.anvil import AnvilConfig, AnvilNode, rpc_call
from defibots.paths import project_root

pytestmark = pytest.mark.asyncio(loop_scope="session")

ERC20 = "node_modules/@openzeppelin/contracts/build/contracts/ERC20PresetFixedSupply.json"
PAYER_CODE = "0x5f5f5f5f34415af15000"  # CALL(gas, COINBASE, CALLVALUE, 0, 0, 0, 0); STOP
REVERTER_CODE = "0x365f5f37365ffd"  # revert with the calldata as revert data
PAYER = str(to_checksum_address("0x00000000000000000000000000000000000000a1"))
REVERTER = str(to_checksum_address("0x00000000000000000000000000000000000000a2"))
TRANSFER = keccak(text="transfer(address,uint256)")[:4]
BALANCE_OF = keccak(text="balanceOf(address)")[:4]
CHAIN_ID = 31337


@dataclass
class Chain:
    node: AnvilNode
    token: str
    accounts: list[LocalAccount]

    @property
    def url(self) -> str:
        return self.node.http_url

    def rpc(self, method: str, *params: Any) -> Any:
        return rpc_call(self.url, method, list(params))


def wait_receipt(url: str, tx_hash: str) -> dict[str, Any]:
    for _ in range(200):
        receipt = rpc_call(url, "eth_getTransactionReceipt", [tx_hash])
        if receipt is not None:
            return dict(receipt)
        time.sleep(0.01)
    raise AssertionError(f"no receipt for {tx_hash}")


@pytest.fixture(scope="module")
def chain() -> Iterator[Chain]:
    accounts = dev_accounts(8)
    with AnvilNode(AnvilConfig(accounts=8)) as node:
        url = node.http_url
        artifact = json.loads((project_root() / ERC20).read_text())
        args = encode(
            ["string", "string", "uint256", "address"], ["Test", "TST", 10**27, accounts[0].address]
        )
        deploy = rpc_call(
            url,
            "eth_sendTransaction",
            [{"from": accounts[0].address, "data": artifact["bytecode"] + args.hex(), "gas": hex(3_000_000)}],
        )
        token = str(to_checksum_address(wait_receipt(url, deploy)["contractAddress"]))
        for account in accounts[1:6]:
            data = "0x" + (TRANSFER + encode(["address", "uint256"], [account.address, 10**24])).hex()
            wait_receipt(
                url,
                rpc_call(
                    url, "eth_sendTransaction", [{"from": accounts[0].address, "to": token, "data": data}]
                ),
            )
        rpc_call(url, "anvil_setCode", [PAYER, PAYER_CODE])
        rpc_call(url, "anvil_setCode", [REVERTER, REVERTER_CODE])
        yield Chain(node, token, accounts)


@pytest.fixture
async def relay(chain: Chain) -> AsyncIterator[LocalRelay]:
    relay = await LocalRelay(chain.url, block_time=None).start()
    try:
        yield relay
    finally:
        await relay.stop()


@pytest.fixture
async def client(relay: LocalRelay) -> AsyncIterator[RelayClient]:
    client = RelayClient(relay.url, Account.create(), backoff=0.01)
    try:
        yield client
    finally:
        await client.close()


class Signer:
    """Signs transfers, token transfers and contract calls with each sender's next nonce."""

    def __init__(self, chain: Chain) -> None:
        self.chain = chain
        self.nonces: dict[str, int] = {}
        self.fees = FeeDefaults(
            to_int_hex(chain.rpc("eth_getBlockByNumber", "pending", False)["baseFeePerGas"])
        )

    def nonce(self, account: LocalAccount) -> int:
        if account.address not in self.nonces:
            self.nonces[account.address] = to_int_hex(
                self.chain.rpc("eth_getTransactionCount", account.address, "pending")
            )
        value = self.nonces[account.address]
        self.nonces[account.address] = value + 1
        return value

    def tx(
        self,
        account: LocalAccount,
        to: str,
        value: int = 0,
        data: bytes = b"",
        gas: int = 100_000,
        tip: int = 10**9,
        max_fee: int | None = None,
    ) -> SignedTx:
        request = TxRequest(
            to=to, value=value, data=data, max_priority_fee_per_gas=tip, max_fee_per_gas=max_fee
        )
        return sign_request(account, request, CHAIN_ID, self.nonce(account), gas, self.fees)

    def token_transfer(self, account: LocalAccount, to: str, amount: int, **kw: Any) -> SignedTx:
        data = TRANSFER + encode(["address", "uint256"], [to, amount])
        return self.tx(account, self.chain.token, data=data, **kw)


def to_int_hex(value: str) -> int:
    return int(value, 16)


def head(chain: Chain) -> dict[str, Any]:
    return dict(chain.rpc("eth_getBlockByNumber", "latest", False))


def token_balance(chain: Chain, who: str, block: int, token: str | None = None) -> int:
    data = "0x" + (BALANCE_OF + encode(["address"], [who])).hex()
    return to_int_hex(chain.rpc("eth_call", {"to": token or chain.token, "data": data}, hex(block)))


# --- signature checks -----------------------------------------------------------------------------


async def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as session, session.post(url, data=body, headers=headers) as response:
        return response.status, await response.json(content_type=None)


async def test_relay_rejects_missing_wrong_and_reserialized_signatures(relay: LocalRelay) -> None:
    searcher = Account.create()
    other = Account.create()
    payload = {"jsonrpc": "2.0", "id": 7, "method": "eth_cancelBundle", "params": [{"replacementUuid": "x"}]}
    body = json.dumps(payload, separators=(",", ":")).encode()
    plain = {"Content-Type": "application/json"}

    status, answer = await post(relay.url, body, plain)
    assert status == 403
    assert answer == {
        "jsonrpc": "2.0",
        "id": 7,
        "error": {"code": -32600, "message": "missing X-Flashbots-Signature header"},
    }

    forged = other.address + ":" + sign_body(body, searcher).split(":")[1]
    status, answer = await post(relay.url, body, {**plain, SIGNATURE_HEADER: forged})
    assert status == 403
    assert answer["error"] == {"code": -32600, "message": f"error in signature check {other.address}"}

    reserialized = json.dumps(payload).encode()  # same JSON, other whitespace
    assert reserialized != body and json.loads(reserialized) == json.loads(body)
    status, answer = await post(
        relay.url, reserialized, {**plain, SIGNATURE_HEADER: sign_body(body, searcher)}
    )
    assert status == 403
    assert answer["error"]["code"] == -32600
    assert answer["error"]["message"] == f"error in signature check {searcher.address}"

    status, answer = await post(relay.url, body, {**plain, SIGNATURE_HEADER: "0x1234"})
    assert status == 403 and "expected <address>:<signature>" in answer["error"]["message"]

    status, answer = await post(relay.url, body, {**plain, SIGNATURE_HEADER: sign_body(body, searcher)})
    assert (status, answer) == (200, {"jsonrpc": "2.0", "id": 7, "result": None})


async def test_unknown_method_and_bad_params(client: RelayClient, relay: LocalRelay) -> None:
    with pytest.raises(RelayError) as info:
        await client.request("eth_sendBundleX", [{}])
    assert info.value.code == -32601
    with pytest.raises(RelayError) as info:
        await client.request("eth_sendBundle", [{"txs": ["0x1234"], "blockNumber": "0x99999"}])
    assert info.value.code == -32602 and "cannot decode signed transaction" in info.value.message


# --- inclusion semantics --------------------------------------------------------------------------


async def test_simulation_matches_relay_inclusion_for_random_bundles(
    chain: Chain, relay: LocalRelay, client: RelayClient
) -> None:
    rng = random.Random(20240611)
    senders = chain.accounts[1:6]
    sinks = [a.address for a in chain.accounts[6:8]] + ["0x000000000000000000000000000000000000bEEF"]
    async with AnvilSimulator(chain.url) as simulator:
        kinds_seen: set[str] = set()
        for round_ in range(22):
            signer = Signer(chain)
            parent = head(chain)
            parent_number = to_int_hex(parent["number"])
            when = to_int_hex(parent["timestamp"]) + rng.randint(1, 12)
            txs: list[SignedTx] = []
            intents: list[tuple[str, int]] = []  # (kind, ETH value meant for the coinbase)
            reverting: list[bytes] = []
            for _ in range(rng.randint(1, 4)):
                sender = rng.choice(senders)
                tip = rng.choice([0, 1, 10**9, 3 * 10**9])
                max_fee = None
                if rng.random() < 0.3:  # a fee cap that limits the tip actually paid
                    max_fee = signer.fees.base_fee + rng.choice([0, 5 * 10**8])
                    tip = min(tip, max_fee)
                kind = rng.choice(["eth", "token", "token_revert", "tip", "payer", "reverter"])
                kinds_seen.add(kind)
                if kind == "eth":
                    tx = signer.tx(
                        sender,
                        rng.choice(sinks),
                        value=rng.randint(1, 10**18),
                        gas=21_000,
                        tip=tip,
                        max_fee=max_fee,
                    )
                    intents.append((kind, 0))
                elif kind == "token":
                    tx = signer.token_transfer(
                        sender, rng.choice(sinks), rng.randint(1, 10**21), tip=tip, max_fee=max_fee
                    )
                    intents.append((kind, 0))
                elif kind == "token_revert":
                    tx = signer.token_transfer(sender, rng.choice(sinks), 10**30, tip=tip, max_fee=max_fee)
                    reverting.append(tx.hash)
                    intents.append((kind, 0))
                elif kind == "tip":
                    value = rng.randint(1, 10**16)
                    tx = signer.tx(
                        sender, BUILDER_COINBASE, value=value, gas=21_000, tip=tip, max_fee=max_fee
                    )
                    intents.append((kind, value))
                elif kind == "payer":
                    value = rng.randint(1, 10**16)
                    tx = signer.tx(sender, PAYER, value=value, tip=tip, max_fee=max_fee)
                    intents.append((kind, value))
                else:
                    reason = encode(["string"], [f"nope {round_}"])
                    tx = signer.tx(
                        sender,
                        REVERTER,
                        data=keccak(text="Error(string)")[:4] + reason,
                        tip=tip,
                        max_fee=max_fee,
                    )
                    reverting.append(tx.hash)
                    intents.append((kind, 0))
                txs.append(tx)
            bundle = Bundle(tuple(txs), parent_number + 1, reverting_tx_hashes=tuple(reverting))
            watched = sorted({t.sender for t in txs} | set(sinks))
            sim = await simulator.simulate(bundle, state_block=parent_number, timestamp=when, watch=watched)
            assert sim.ok

            assert await client.send_bundle(bundle) == bundle.bundle_hash_hex
            report = await relay.build_block(timestamp=when)
            assert report.included == [bundle.bundle_hash_hex], report.rejected
            assert_block_matches(chain, sim, intents, watched)
        assert kinds_seen == {"eth", "token", "token_revert", "tip", "payer", "reverter"}


def assert_block_matches(
    chain: Chain,
    sim: SimulationResult,
    intents: list[tuple[str, int]],
    watched: list[str],
    tokens: list[str] | None = None,
) -> None:
    """Compare the prediction with the real block, read independently of the simulator's own machinery."""
    number = sim.block_number
    block = chain.rpc("eth_getBlockByNumber", hex(number), False)
    base_fee = to_int_hex(block["baseFeePerGas"])
    assert (base_fee, to_int_hex(block["timestamp"])) == (sim.base_fee, sim.timestamp)
    assert block["miner"].lower() == BUILDER_COINBASE.lower()
    receipts = chain.rpc("eth_getBlockReceipts", hex(number))
    for tx_sim, receipt, (kind, to_coinbase) in zip(sim.txs, receipts, intents, strict=False):
        assert receipt["transactionHash"] == tx_sim.tx.hash_hex
        assert to_int_hex(receipt["transactionIndex"]) == tx_sim.index
        assert to_int_hex(receipt["gasUsed"]) == tx_sim.gas_used
        assert (to_int_hex(receipt["status"]) == 1) == tx_sim.success
        assert tx_sim.success == (kind not in ("token_revert", "reverter", "swap_revert"))
        gas_fees = to_int_hex(receipt["gasUsed"]) * (to_int_hex(receipt["effectiveGasPrice"]) - base_fee)
        assert tx_sim.gas_fees == gas_fees
        assert tx_sim.coinbase_diff == gas_fees + to_coinbase
        if kind == "reverter":
            assert tx_sim.revert_reason is not None and tx_sim.revert_reason.startswith("nope ")
        if kind == "token_revert":
            assert tx_sim.revert_reason == "ERC20: transfer amount exceeds balance"
        if kind == "swap_revert":
            assert tx_sim.revert_reason == "UniswapV2Router: INSUFFICIENT_OUTPUT_AMOUNT"
    coinbase_after = to_int_hex(chain.rpc("eth_getBalance", BUILDER_COINBASE, hex(number)))
    coinbase_before = to_int_hex(chain.rpc("eth_getBalance", BUILDER_COINBASE, hex(number - 1)))
    assert sim.coinbase_diff == coinbase_after - coinbase_before
    response = sim.call_bundle_response()
    assert response["coinbaseDiff"] == str(coinbase_after - coinbase_before)
    assert response["totalGasUsed"] == sum(to_int_hex(r["gasUsed"]) for r in receipts[: len(sim.txs)])
    for address in watched:
        eth_delta = to_int_hex(chain.rpc("eth_getBalance", address, hex(number))) - to_int_hex(
            chain.rpc("eth_getBalance", address, hex(number - 1))
        )
        assert sim.eth_changes[address] == eth_delta
        for token in tokens or [chain.token]:
            delta = token_balance(chain, address, number, token) - token_balance(
                chain, address, number - 1, token
            )
            assert sim.token_changes[address].get(token, 0) == delta, (address, token)


async def test_bundle_whose_second_tx_reverts_is_not_included(
    chain: Chain, relay: LocalRelay, client: RelayClient
) -> None:
    signer = Signer(chain)
    alice, bob = chain.accounts[1], chain.accounts[2]
    first = signer.tx(alice, bob.address, value=10**15, gas=21_000)
    second = signer.token_transfer(bob, alice.address, 10**30)
    public = signer.tx(chain.accounts[3], bob.address, value=1, gas=21_000)
    chain.rpc("eth_sendRawTransaction", public.raw_hex)
    nonce_before = to_int_hex(chain.rpc("eth_getTransactionCount", alice.address, "latest"))
    target = to_int_hex(head(chain)["number"]) + 1
    bundle = Bundle((first, second), target)
    await client.send_bundle(bundle)
    report = await relay.build_block()
    assert report.number == target and report.included == []
    assert "ERC20: transfer amount exceeds balance" in report.rejected[bundle.bundle_hash_hex]
    mined = chain.rpc("eth_getBlockByNumber", hex(target), False)["transactions"]
    assert mined == [public.hash_hex]  # the public tx still lands; nothing of the bundle does
    assert to_int_hex(chain.rpc("eth_getTransactionCount", alice.address, "latest")) == nonce_before
    assert relay.status(bundle.bundle_hash_hex) == "expired"


async def test_bundle_txs_go_on_top_in_order_before_higher_paying_public_txs(
    chain: Chain, relay: LocalRelay, client: RelayClient
) -> None:
    signer = Signer(chain)
    public = signer.tx(chain.accounts[3], chain.accounts[6].address, value=1, gas=21_000, tip=50 * 10**9)
    chain.rpc("eth_sendRawTransaction", public.raw_hex)
    low = signer.tx(chain.accounts[1], chain.accounts[6].address, value=1, gas=21_000, tip=0)
    high = signer.tx(chain.accounts[2], chain.accounts[6].address, value=1, gas=21_000, tip=2 * 10**9)
    target = to_int_hex(head(chain)["number"]) + 1
    await client.send_bundle(Bundle((low, high), target))
    report = await relay.build_block()
    assert report.order_ok and len(report.included) == 1
    receipts = chain.rpc("eth_getBlockReceipts", hex(target))
    assert [(r["transactionHash"], to_int_hex(r["transactionIndex"])) for r in receipts] == [
        (low.hash_hex, 0),
        (high.hash_hex, 1),
        (public.hash_hex, 2),
    ]


async def test_replacement_and_cancellation_by_uuid(
    chain: Chain, relay: LocalRelay, client: RelayClient
) -> None:
    signer = Signer(chain)
    alice = chain.accounts[1]
    target = to_int_hex(head(chain)["number"]) + 1
    nonce = signer.nonce(alice)
    fees = signer.fees
    first = sign_request(
        alice, TxRequest(to=chain.accounts[6].address, value=1), CHAIN_ID, nonce, 21_000, fees
    )
    second = sign_request(
        alice, TxRequest(to=chain.accounts[6].address, value=2), CHAIN_ID, nonce, 21_000, fees
    )
    a = Bundle((first,), target, replacement_uuid="11111111-2222-4333-8444-555555555555")
    b = Bundle((second,), target, replacement_uuid="11111111-2222-4333-8444-555555555555")
    await client.send_bundle(a)
    await client.send_bundle(b)
    assert relay.status(a.bundle_hash_hex) == "replaced"
    report = await relay.build_block()
    assert report.included == [b.bundle_hash_hex]
    assert chain.rpc("eth_getBlockByNumber", hex(target), False)["transactions"] == [second.hash_hex]

    third = signer.tx(alice, chain.accounts[6].address, value=3, gas=21_000)
    c = Bundle((third,), target + 1, replacement_uuid="cancel-me")
    await client.send_bundle(c)
    assert await client.cancel_bundle("cancel-me") is None
    assert relay.status(c.bundle_hash_hex) == "cancelled"
    report = await relay.build_block()
    assert report.number == target + 1 and report.included == [] and report.tx_count == 0

    # another searcher cannot cancel your bundle: uuids are per signing key
    d = Bundle((third,), target + 2, replacement_uuid="cancel-me")
    await client.send_bundle(d)
    stranger = RelayClient(relay.url, Account.create())
    try:
        await stranger.cancel_bundle("cancel-me")
    finally:
        await stranger.close()
    assert (await relay.build_block()).included == [d.bundle_hash_hex]


async def test_target_block_in_the_past_is_refused(chain: Chain, client: RelayClient) -> None:
    signer = Signer(chain)
    current = to_int_hex(head(chain)["number"])
    bundle = Bundle((signer.tx(chain.accounts[1], chain.accounts[6].address, gas=21_000),), current)
    with pytest.raises(RelayError) as info:
        await client.send_bundle(bundle)
    assert info.value.code == -32602
    assert info.value.message == f"blockNumber {current} is not in the future (head is {current})"


async def test_min_and_max_timestamp(chain: Chain, relay: LocalRelay, client: RelayClient) -> None:
    signer = Signer(chain)
    parent = head(chain)
    target = to_int_hex(parent["number"]) + 1
    when = to_int_hex(parent["timestamp"]) + 12
    early = Bundle(
        (signer.tx(chain.accounts[1], chain.accounts[6].address, gas=21_000),), target, min_timestamp=when + 1
    )
    late = Bundle(
        (signer.tx(chain.accounts[2], chain.accounts[6].address, gas=21_000),), target, max_timestamp=when - 1
    )
    fits = Bundle(
        (signer.tx(chain.accounts[3], chain.accounts[6].address, gas=21_000),),
        target,
        min_timestamp=when,
        max_timestamp=when,
    )
    for bundle in (early, late, fits):
        await client.send_bundle(bundle)
    report = await relay.build_block(timestamp=when)
    assert report.included == [fits.bundle_hash_hex]
    assert set(report.rejected) == {early.bundle_hash_hex, late.bundle_hash_hex}
    assert all("outside" in reason for reason in report.rejected.values())


async def test_best_paying_bundle_first_and_conflicts_dropped(
    chain: Chain, relay: LocalRelay, client: RelayClient
) -> None:
    signer = Signer(chain)
    alice, bob = chain.accounts[1], chain.accounts[2]
    target = to_int_hex(head(chain)["number"]) + 1
    cheap = Bundle((signer.tx(alice, chain.accounts[6].address, gas=21_000, tip=1),), target)
    rich = Bundle((signer.tx(bob, BUILDER_COINBASE, value=10**16, gas=21_000, tip=1),), target)
    nonce = to_int_hex(chain.rpc("eth_getTransactionCount", bob.address, "pending"))
    clash_tx = sign_request(
        bob, TxRequest(to=chain.accounts[7].address, value=5), CHAIN_ID, nonce, 21_000, signer.fees
    )
    clash = Bundle((clash_tx,), target)  # same nonce as `rich`, pays less
    for bundle in (cheap, clash, rich):
        await client.send_bundle(bundle)
    report = await relay.build_block()
    assert report.included == [rich.bundle_hash_hex, cheap.bundle_hash_hex]
    assert "after higher-paying bundles" in report.rejected[clash.bundle_hash_hex]
    assert chain.rpc("eth_getBlockByNumber", hex(target), False)["transactions"] == [
        rich.txs[0].hash_hex,
        cheap.txs[0].hash_hex,
    ]


async def test_call_bundle_over_the_relay_equals_local_simulation(chain: Chain, client: RelayClient) -> None:
    signer = Signer(chain)
    parent = head(chain)
    number = to_int_hex(parent["number"])
    txs = (
        signer.token_transfer(chain.accounts[1], chain.accounts[6].address, 10**18),
        signer.tx(chain.accounts[1], PAYER, value=12345),
        signer.token_transfer(chain.accounts[2], chain.accounts[6].address, 10**30),
    )
    bundle = Bundle(txs, number + 1)
    when = to_int_hex(parent["timestamp"]) + 5
    remote = await client.call_bundle(bundle, state_block=number, timestamp=when)
    async with AnvilSimulator(chain.url) as simulator:
        local = await simulator.simulate(bundle, state_block=number, timestamp=when)
    assert remote == local.call_bundle_response()
    assert remote["results"][2]["error"] == "execution reverted"
    assert remote["results"][2]["revert"] == "ERC20: transfer amount exceeds balance"
    assert remote["results"][1]["ethSentToCoinbase"] == "12345"
    assert remote["stateBlockNumber"] == number
    assert to_int_hex(head(chain)["number"]) == number  # simulation never touched the devnet


async def test_mev_send_bundle_backrun_and_inclusion_tracking(
    chain: Chain, relay: LocalRelay, client: RelayClient
) -> None:
    signer = Signer(chain)
    victim = signer.token_transfer(chain.accounts[4], chain.accounts[7].address, 10**18, tip=3 * 10**9)
    chain.rpc("eth_sendRawTransaction", victim.raw_hex)
    ours = signer.tx(chain.accounts[1], BUILDER_COINBASE, value=10**15, gas=21_000, tip=0)
    target = to_int_hex(head(chain)["number"]) + 1
    answer = await client.mev_send_bundle(
        {
            "version": "v0.1",
            "inclusion": {"block": hex(target), "maxBlock": hex(target + 2)},
            "body": [{"hash": victim.hash_hex}, {"tx": ours.raw_hex, "canRevert": False}],
        }
    )
    bundle = Bundle((victim, ours), target)
    assert answer == {"bundleHash": bundle.bundle_hash_hex}
    await relay.build_block()
    async with HttpRpc(chain.url) as rpc:
        result = await InclusionTracker(rpc, poll_interval=0.01).track(
            bundle, [target, target + 1], our_senders=[ours.sender]
        )
    assert result.status is InclusionStatus.INCLUDED
    assert result.included_block == target
    assert result.outcomes[target].tx_indexes == (0, 1)
    assert result.stages.included is not None and result.slot_start is not None
    assert set(result.as_record()["ms_into_slot"]) == {
        "trigger",
        "decided",
        "simulated",
        "signed",
        "sent",
        "included",
    }


async def test_inclusion_tracker_conflicts_and_misses(
    chain: Chain, relay: LocalRelay, client: RelayClient
) -> None:
    signer = Signer(chain)
    alice = chain.accounts[1]
    target = to_int_hex(head(chain)["number"]) + 1
    # 1) our nonce is taken by a public tx in `target`; the bundle targeted target + 1
    nonce = signer.nonce(alice)
    ours = sign_request(
        alice, TxRequest(to=chain.accounts[6].address, value=7), CHAIN_ID, nonce, 21_000, signer.fees
    )
    other = sign_request(
        alice, TxRequest(to=chain.accounts[7].address, value=8), CHAIN_ID, nonce, 21_000, signer.fees
    )
    late = Bundle((ours,), target + 1)
    await client.send_bundle(late)
    chain.rpc("eth_sendRawTransaction", other.raw_hex)
    # 2) a backrun whose own tx reverts: the relay drops it, the victim lands alone
    victim = signer.tx(chain.accounts[4], chain.accounts[7].address, value=9, gas=21_000)
    chain.rpc("eth_sendRawTransaction", victim.raw_hex)
    failing = signer.token_transfer(chain.accounts[2], chain.accounts[6].address, 10**30)
    backrun = Bundle((victim, failing), target)
    await client.send_bundle(backrun)
    # 3) a bundle that simply is not taken (timestamp bound) and conflicts with nothing
    missed = Bundle(
        (signer.tx(chain.accounts[3], chain.accounts[6].address, gas=21_000),), target, min_timestamp=2**40
    )
    await client.send_bundle(missed)
    await relay.build_block()
    await relay.build_block()
    async with HttpRpc(chain.url) as rpc:
        tracker = InclusionTracker(rpc, poll_interval=0.01)
        nonce_clash = await tracker.track(late, [target + 1], our_senders=[alice.address])
        victim_alone = await tracker.track(backrun, [target, target + 1], our_senders=[failing.sender])
        not_taken = await tracker.track(missed, [target])
    assert nonce_clash.status is InclusionStatus.CONFLICTED
    assert (
        nonce_clash.outcomes[target + 1].reason
        == f"nonce {nonce} of {alice.address} was used before block {target + 1}"
    )
    assert victim_alone.status is InclusionStatus.CONFLICTED
    assert victim_alone.outcomes[target].reason == f"victim tx {victim.hash_hex} landed without the bundle"
    assert victim_alone.outcomes[target + 1].reason == f"after conflict in block {target}"
    assert not_taken.status is InclusionStatus.NOT_INCLUDED


async def test_relay_mines_on_its_own_clock(chain: Chain, tmp_path: Path) -> None:
    relay = await LocalRelay(chain.url, block_time=0.2).start()
    client = RelayClient(relay.url, Account.create())
    try:
        signer = Signer(chain)
        tx = signer.tx(chain.accounts[5], BUILDER_COINBASE, value=10**15, gas=21_000)
        start = to_int_hex(head(chain)["number"])
        await client.mev_send_bundle(
            {
                "version": "v0.1",
                "inclusion": {"block": hex(start + 1), "maxBlock": hex(start + 50)},
                "body": [{"tx": tx.raw_hex}],
            }
        )
        bundle = Bundle((tx,), start + 1)
        for _ in range(100):
            if relay.status(bundle.bundle_hash_hex) == "included":
                break
            await asyncio.sleep(0.05)
        assert relay.status(bundle.bundle_hash_hex) == "included"
        assert to_int_hex(chain.rpc("eth_getTransactionReceipt", tx.hash_hex)["status"]) == 1
        assert to_int_hex(head(chain)["number"]) > start
    finally:
        await client.close()
        await relay.stop()
    assert chain.rpc("anvil_getAutomine") is True  # mining mode restored


async def test_chain_slots_stamp_blocks_exactly_whatever_the_wall_clock(chain: Chain) -> None:
    """With slot_seconds, a bundle pinned to parent.timestamp + 12 (as a searcher plans on mainnet) lands
    although the relay builds a block every 0.2 s of wall-clock time."""
    relay = LocalRelay(chain.url, block_time=0.2, slot_seconds=12)
    client = RelayClient(relay.url, Account.create())
    try:
        await relay.start()
        signer = Signer(chain)
        parent = head(chain)
        target, when = to_int_hex(parent["number"]) + 1, to_int_hex(parent["timestamp"]) + 12
        tx = signer.tx(chain.accounts[5], chain.accounts[6].address, gas=21_000)
        pinned = Bundle((tx,), target, min_timestamp=when, max_timestamp=when)
        await client.send_bundle(pinned)
        for _ in range(100):
            if len(relay.blocks) >= 2:
                break
            await asyncio.sleep(0.05)
        first, second = relay.blocks[:2]
        assert (first.number, first.timestamp) == (target, when)
        assert first.included == [pinned.bundle_hash_hex]
        assert second.timestamp == when + 12
    finally:
        await client.close()
        await relay.stop()


# --- the same parity on the mainnet replica: Uniswap swaps -----------------------------------------


@pytest.fixture(scope="module")
def replica_chain(replica: Devnet) -> Iterator[Chain]:
    """A FIFO-ordered fork of the session replica (the relay needs FIFO; the replica is fee-ordered)."""
    with AnvilNode(AnvilConfig(fork_url=replica.http_url)) as node:
        yield Chain(node, TOKENS["USDC"].address, dev_accounts(10))


def v2_swap_eth_for(token: str, recipient: str, min_out: int = 0) -> bytes:
    selector = keccak(text="swapExactETHForTokens(uint256,address[],address,uint256)")[:4]
    path = [TOKENS["WETH"].address, token]
    return selector + encode(
        ["uint256", "address[]", "address", "uint256"], [min_out, path, recipient, 2**40]
    )


def v2_swap_tokens_for_eth(token: str, amount: int, recipient: str) -> bytes:
    selector = keccak(text="swapExactTokensForETH(uint256,uint256,address[],address,uint256)")[:4]
    path = [token, TOKENS["WETH"].address]
    return selector + encode(
        ["uint256", "uint256", "address[]", "address", "uint256"], [amount, 0, path, recipient, 2**40]
    )


def v3_exact_input_single_eth(token: str, recipient: str, amount: int, fee: int) -> bytes:
    kind = "(address,address,uint24,address,uint256,uint256,uint256,uint160)"
    selector = keccak(text=f"exactInputSingle({kind})")[:4]
    return selector + encode([kind], [(TOKENS["WETH"].address, token, fee, recipient, 2**40, amount, 0, 0)])


async def test_simulation_matches_relay_inclusion_for_swaps_on_the_replica(replica_chain: Chain) -> None:
    chain = replica_chain
    rng = random.Random(7)
    usdc, dai = TOKENS["USDC"].address, TOKENS["DAI"].address
    approve = keccak(text="approve(address,uint256)")[:4]
    relay = await LocalRelay(chain.url, block_time=None).start()
    client = RelayClient(relay.url, Account.create())
    try:
        async with AnvilSimulator(chain.url) as simulator:
            for _ in range(8):
                signer = Signer(chain)
                parent = head(chain)
                number = to_int_hex(parent["number"])
                when = to_int_hex(parent["timestamp"]) + 12
                txs: list[SignedTx] = []
                intents: list[tuple[str, int]] = []
                reverting: list[bytes] = []
                for _ in range(rng.randint(2, 4)):
                    who = rng.choice(chain.accounts[1:8])
                    kind = rng.choice(["v2_buy", "v2_sell", "v3_buy", "swap_revert", "tip"])
                    token = rng.choice([usdc, dai])
                    value = 0
                    if kind == "v2_buy":
                        data = v2_swap_eth_for(token, who.address)
                        tx = signer.tx(
                            who,
                            UNISWAP_V2_ROUTER02,
                            value=rng.randint(10**16, 5 * 10**18),
                            data=data,
                            gas=300_000,
                        )
                    elif kind == "v2_sell":
                        amount = rng.randint(10**6, 10**10) * (10**12 if token == dai else 1)
                        allow = approve + encode(["address", "uint256"], [UNISWAP_V2_ROUTER02, amount])
                        txs.append(signer.tx(who, token, data=allow, gas=100_000))
                        intents.append(("approve", 0))
                        data = v2_swap_tokens_for_eth(token, amount, who.address)
                        tx = signer.tx(who, UNISWAP_V2_ROUTER02, data=data, gas=300_000)
                    elif kind == "v3_buy":
                        amount = rng.randint(10**16, 2 * 10**18)
                        data = v3_exact_input_single_eth(token, who.address, amount, rng.choice([500, 3000]))
                        tx = signer.tx(who, UNISWAP_V3_SWAP_ROUTER, value=amount, data=data, gas=400_000)
                    elif kind == "swap_revert":
                        data = v2_swap_eth_for(token, who.address, min_out=2**200)
                        tx = signer.tx(who, UNISWAP_V2_ROUTER02, value=10**16, data=data, gas=300_000)
                        reverting.append(tx.hash)
                    else:
                        value = rng.randint(1, 10**17)
                        tx = signer.tx(who, BUILDER_COINBASE, value=value, gas=21_000)
                    txs.append(tx)
                    intents.append((kind, value))
                bundle = Bundle(tuple(txs), number + 1, reverting_tx_hashes=tuple(reverting))
                watched = sorted({t.sender for t in txs})
                sim = await simulator.simulate(bundle, state_block=number, timestamp=when, watch=watched)
                assert sim.ok, [(t.revert_reason, t.error) for t in sim.failed]
                await client.send_bundle(bundle)
                report = await relay.build_block(timestamp=when)
                assert report.included == [bundle.bundle_hash_hex], report.rejected
                assert_block_matches(chain, sim, intents, watched, tokens=[usdc, dai, TOKENS["WETH"].address])
                for tx_sim, (kind, _) in zip(sim.txs, intents, strict=True):
                    if kind in ("v2_buy", "v3_buy"):
                        assert any(
                            t in (usdc, dai) for t, _, _, _ in token_transfers_to(tx_sim, tx_sim.tx.sender)
                        )
    finally:
        await client.close()
        await relay.stop()


def token_transfers_to(tx_sim: Any, who: str) -> list[tuple[str, str, str, int]]:
    return [t for t in token_transfers(tx_sim.logs) if t[2] == who]


async def test_relay_refuses_a_fee_ordered_node() -> None:
    with (
        AnvilNode(AnvilConfig(order="fees")) as node,
        pytest.raises(UserError, match="orders its pool by fees; bundles need FIFO order"),
    ):
        await LocalRelay(node.http_url, block_time=None).start()
