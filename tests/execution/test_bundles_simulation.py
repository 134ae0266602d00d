"""simulate(): exact eth_callBundle numbers on a real anvil, fork and in-place backends agreeing, revert
reasons, WETH balance changes, and bundles that cannot execute at all."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from eth_abi import encode
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address

from defibots.chain.addresses import TOKENS
from defibots.execution.bundles import Bundle, FeeDefaults, SignedTx, TxRequest, sign_request
from defibots.execution.simulation import (
    BUILDER_COINBASE,
    AnvilSimulator,
    BundleSimulationError,
    balance_changes_from_prestate_diff,
    decode_revert_reason,
)
from defibots.foundry.accounts import dev_accounts
from defibots.foundry.anvil import AnvilConfig, AnvilNode, rpc_call
from defibots.paths import project_root

pytestmark = pytest.mark.asyncio(loop_scope="session")

WETH = TOKENS["WETH"].address
REVERTER = str(to_checksum_address("0x00000000000000000000000000000000000000a2"))
REVERTER_CODE = "0x365f5f37365ffd"  # revert with the calldata as revert data
PAYER = str(to_checksum_address("0x00000000000000000000000000000000000000a1"))
PAYER_CODE = "0x5f5f5f5f34415af15000"  # forwards msg.value to block.coinbase
CHAIN_ID = 31337


@pytest.fixture(scope="module")
def node() -> Iterator[AnvilNode]:
    with AnvilNode(AnvilConfig(accounts=6)) as anvil:
        weth = json.loads(
            (project_root() / "node_modules/canonical-weth/build/contracts/WETH9.json").read_text()
        )
        rpc_call(anvil.http_url, "anvil_setCode", [WETH, weth["deployedBytecode"]])
        rpc_call(anvil.http_url, "anvil_setCode", [REVERTER, REVERTER_CODE])
        rpc_call(anvil.http_url, "anvil_setCode", [PAYER, PAYER_CODE])
        yield anvil


@pytest.fixture(scope="module")
def accounts() -> list[LocalAccount]:
    return dev_accounts(6)


def pending(node: AnvilNode) -> dict[str, Any]:
    return dict(node.rpc("eth_getBlockByNumber", "pending", False))


def sign(node: AnvilNode, account: LocalAccount, to: str, nonce_offset: int = 0, **fields: Any) -> SignedTx:
    gas = fields.pop("gas", 100_000)
    nonce = int(node.rpc("eth_getTransactionCount", account.address, "pending"), 16) + nonce_offset
    fees = FeeDefaults(int(pending(node)["baseFeePerGas"], 16))
    return sign_request(account, TxRequest(to=to, **fields), CHAIN_ID, fields.pop("nonce", nonce), gas, fees)


def head_number(node: AnvilNode) -> int:
    return int(node.rpc("eth_blockNumber"), 16)


async def test_transfer_and_coinbase_payment_numbers_are_exact(
    node: AnvilNode, accounts: list[LocalAccount]
) -> None:
    a, b = accounts[1], accounts[2]
    base = int(pending(node)["baseFeePerGas"], 16)  # what anvil itself charges next (not always EIP-1559)
    t1 = sign(node, a, b.address, value=10**18, gas=21_000, max_priority_fee_per_gas=2 * 10**9)
    t2 = sign(node, a, PAYER, nonce_offset=1, value=777, max_priority_fee_per_gas=0)
    bundle = Bundle((t1, t2), head_number(node) + 1)
    async with AnvilSimulator(node.http_url) as simulator:
        result = await simulator.simulate(bundle, watch=[a.address, b.address])
    r = result.call_bundle_response()
    payer_gas = r["results"][1]["gasUsed"]
    assert set(r) == {
        "bundleGasPrice",
        "bundleHash",
        "coinbaseDiff",
        "ethSentToCoinbase",
        "gasFees",
        "results",
        "stateBlockNumber",
        "totalGasUsed",
    }
    assert r["results"][0] == {
        "coinbaseDiff": str(21_000 * 2 * 10**9),
        "ethSentToCoinbase": "0",
        "fromAddress": a.address,
        "gasFees": str(21_000 * 2 * 10**9),
        "gasPrice": str(2 * 10**9),
        "gasUsed": 21_000,
        "toAddress": b.address,
        "txHash": t1.hash_hex,
        "value": "0x",
    }
    assert r["results"][1]["coinbaseDiff"] == "777" and r["results"][1]["ethSentToCoinbase"] == "777"
    assert r["results"][1]["gasFees"] == "0" and r["results"][1]["gasPrice"] == str(777 // payer_gas)
    assert r["coinbaseDiff"] == str(21_000 * 2 * 10**9 + 777)
    assert r["gasFees"] == str(21_000 * 2 * 10**9)
    assert r["ethSentToCoinbase"] == "777"
    assert r["totalGasUsed"] == 21_000 + payer_gas
    assert r["bundleGasPrice"] == str((21_000 * 2 * 10**9 + 777) // (21_000 + payer_gas))
    assert r["stateBlockNumber"] == bundle.block_number - 1
    assert r["bundleHash"] == bundle.bundle_hash_hex
    assert result.base_fee == base and result.coinbase == BUILDER_COINBASE
    paid_a = 10**18 + 21_000 * (base + 2 * 10**9) + payer_gas * base + 777
    assert result.eth_changes == {a.address: -paid_a, b.address: 10**18}
    assert result.txs[0].eth_changes == {
        a.address: -(10**18 + 21_000 * (base + 2 * 10**9)),
        b.address: 10**18,
        BUILDER_COINBASE: 21_000 * 2 * 10**9,
    }
    assert result.profit([a.address]) == -paid_a


async def test_revert_reasons_are_decoded(node: AnvilNode, accounts: list[LocalAccount]) -> None:
    a = accounts[1]
    error = keccak(text="Error(string)")[:4] + encode(["string"], ["not enough"])
    panic = keccak(text="Panic(uint256)")[:4] + encode(["uint256"], [0x11])
    custom = keccak(text="TooLate(uint256)")[:4] + encode(["uint256"], [5])
    txs = [
        sign(node, a, REVERTER, nonce_offset=i, data=data)
        for i, data in enumerate([error, panic, custom, b""])
    ]
    bundle = Bundle(tuple(txs), head_number(node) + 1, reverting_tx_hashes=(txs[0].hash, txs[1].hash))
    async with AnvilSimulator(node.http_url) as simulator:
        result = await simulator.simulate(bundle)
    reasons = [t.revert_reason for t in result.txs]
    assert reasons == [
        "not enough",
        "panic 0x11: arithmetic overflow or underflow",
        "custom error 0x" + custom[:4].hex(),
        None,
    ]
    assert [t.success for t in result.txs] == [False] * 4
    assert [t.fatal for t in result.txs] == [False, False, True, True]
    assert not result.ok and [t.index for t in result.failed] == [2, 3]
    entries = result.call_bundle_response()["results"]
    assert entries[0]["error"] == "execution reverted" and entries[0]["revert"] == "not enough"
    assert "revert" not in entries[3] and "value" not in entries[3]
    assert result.txs[2].output == custom


async def test_weth_deposit_and_transfer_count_as_token_changes(
    node: AnvilNode, accounts: list[LocalAccount]
) -> None:
    a, b = accounts[3], accounts[4]
    deposit = sign(node, a, WETH, value=3 * 10**18, data=keccak(text="deposit()")[:4])
    transfer = sign(
        node,
        a,
        WETH,
        nonce_offset=1,
        data=keccak(text="transfer(address,uint256)")[:4]
        + encode(["address", "uint256"], [b.address, 10**18]),
    )
    bundle = Bundle((deposit, transfer), head_number(node) + 1)
    async with AnvilSimulator(node.http_url) as simulator:
        result = await simulator.simulate(bundle, watch=[a.address, b.address])
    assert result.token_changes == {a.address: {WETH: 2 * 10**18}, b.address: {WETH: 10**18}}
    gas_cost = sum(t.gas_used for t in result.txs) * (result.base_fee + 10**9)
    assert result.eth_changes[a.address] == -(3 * 10**18) - gas_cost
    assert result.profit([a.address]) == -(10**18) - gas_cost
    assert result.profit([a.address, b.address]) == -gas_cost


async def test_fork_and_in_place_backends_agree_and_leave_no_trace(
    node: AnvilNode, accounts: list[LocalAccount]
) -> None:
    a, b, c = accounts[1], accounts[2], accounts[5]
    node.rpc("evm_setAutomine", False)
    try:
        public = sign(node, c, b.address, value=5, gas=21_000)
        node.rpc("eth_sendRawTransaction", public.raw_hex)
        t1 = sign(node, a, b.address, value=10**17, gas=21_000)
        t2 = sign(node, b, PAYER, value=99)
        bundle = Bundle((t1, t2), head_number(node) + 1)
        before = head_number(node)
        coinbase_before = node.rpc("eth_coinbase")
        when = int(node.rpc("eth_getBlockByNumber", "latest", False)["timestamp"], 16) + 12
        async with AnvilSimulator(node.http_url) as forked:
            on_fork = await forked.simulate(bundle, timestamp=when, watch=[a.address, b.address])
        async with AnvilSimulator(node.http_url, fork=False) as in_place:
            on_node = await in_place.simulate(bundle, timestamp=when, watch=[a.address, b.address])
        assert on_fork.call_bundle_response() == on_node.call_bundle_response()
        assert (on_fork.eth_changes, on_fork.timestamp) == (on_node.eth_changes, on_node.timestamp)
        assert head_number(node) == before
        assert node.rpc("eth_getTransactionByHash", public.hash_hex)["blockNumber"] is None  # still pending
        assert node.rpc("eth_getTransactionByHash", t1.hash_hex) is None
        assert node.rpc("eth_coinbase") == coinbase_before  # the node's fee recipient is left alone
    finally:
        node.rpc("evm_setAutomine", True)
        node.rpc("evm_mine")


async def test_fork_follows_the_head_and_older_state_blocks(
    node: AnvilNode, accounts: list[LocalAccount]
) -> None:
    a, b = accounts[1], accounts[2]
    async with AnvilSimulator(node.http_url) as simulator:
        first = head_number(node)
        tx = sign(node, a, b.address, value=1, gas=21_000)
        assert (await simulator.simulate(Bundle((tx,), first + 1))).state_block == first
        node.rpc("evm_mine")
        assert (await simulator.simulate(Bundle((tx,), first + 2))).state_block == first + 1
        assert (await simulator.simulate(Bundle((tx,), first + 1), state_block=first)).state_block == first


async def test_bundles_that_cannot_execute(node: AnvilNode, accounts: list[LocalAccount]) -> None:
    a, b = accounts[1], accounts[2]
    number = head_number(node)
    async with AnvilSimulator(node.http_url) as simulator:
        stale = (
            sign(node, a, b.address, nonce_offset=-1, gas=21_000)
            if int(node.rpc("eth_getTransactionCount", a.address, "latest"), 16)
            else None
        )
        if stale is not None:
            with pytest.raises(BundleSimulationError, match="nonce too low"):
                await simulator.simulate(Bundle((stale,), number + 1))
        gap = sign(node, a, b.address, nonce_offset=5, gas=21_000)
        with pytest.raises(BundleSimulationError, match="could not be executed at its position"):
            await simulator.simulate(Bundle((gap,), number + 1))
        cheap = sign(node, a, b.address, gas=21_000, max_fee_per_gas=1, max_priority_fee_per_gas=1)
        with pytest.raises(BundleSimulationError, match="tx 0 "):
            await simulator.simulate(Bundle((cheap,), number + 1))
        with pytest.raises(BundleSimulationError, match="before the state block"):
            await simulator.simulate(Bundle((gap,), number + 1), timestamp=1)


async def test_decode_revert_reason_unit() -> None:
    assert decode_revert_reason(b"") is None
    assert decode_revert_reason(keccak(text="Error(string)")[:4] + encode(["string"], ["x"])) == "x"
    assert (
        decode_revert_reason(keccak(text="Panic(uint256)")[:4] + encode(["uint256"], [1]))
        == "panic 0x01: assert failed"
    )
    assert decode_revert_reason(b"\x01\x02") == "revert data 0x0102"
    assert decode_revert_reason(keccak(text="Error(string)")[:4] + b"\x00").startswith(
        "malformed Error(string)"
    )


async def test_prestate_diff_balance_changes() -> None:
    diff = {
        "pre": {
            "0x" + "11" * 20: {"balance": "0x10", "nonce": 1},
            "0x" + "22" * 20: {"balance": "0x5"},
            "0x" + "33" * 20: {"balance": "0x7"},
        },
        "post": {
            "0x" + "11" * 20: {"balance": "0x8", "nonce": 2},
            "0x" + "44" * 20: {"balance": "0x3"},
            "0x" + "33" * 20: {"nonce": 4},
        },
    }
    changes = balance_changes_from_prestate_diff(diff)
    assert changes == {
        to_checksum_address("0x" + "11" * 20): -8,
        to_checksum_address("0x" + "22" * 20): -5,  # deleted account
        to_checksum_address("0x" + "44" * 20): 3,  # created account
    }
