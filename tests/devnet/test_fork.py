"""Fork mode, tested offline by forking one local anvil (the replica) from another."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from pytest import MonkeyPatch

from defibots.chain import addresses as A
from defibots.devnet.node import Devnet, DevnetOptions
from defibots.execution.loop_operator import LoopOperator
from defibots.foundry.accounts import dev_account

ERC20_BALANCE = "0x70a08231"
GET_RESERVES = "0x0902f1ac"
WETH_USDC_V2 = "0xB4e16d0168e52d35CaCD2c6185b44281Ec28C9Dc"


def _balance_of(node: Devnet, token: str, who: str) -> int:
    data = ERC20_BALANCE + who[2:].lower().rjust(64, "0")
    return int(node.rpc("eth_call", {"to": token, "data": data}, "latest"), 16)


def test_fork_sees_replica_and_leaves_it_unchanged(devnet: Devnet) -> None:
    trader = devnet.accounts[3].address
    weth, usdc = A.TOKENS["WETH"].address, A.TOKENS["USDC"].address
    replica_reserves = devnet.rpc("eth_call", {"to": WETH_USDC_V2, "data": GET_RESERVES}, "latest")
    replica_block = devnet.block_number()
    replica_usdc = _balance_of(devnet, usdc, trader)

    with Devnet.start(DevnetOptions(fork_url=devnet.http_url)) as fork:
        assert fork.chain_id == devnet.chain_id == 31337
        assert len(fork.rpc("eth_getCode", A.UNISWAP_V3_POSITION_MANAGER, "latest")) > 1000
        assert fork.rpc("eth_call", {"to": WETH_USDC_V2, "data": GET_RESERVES}, "latest") == replica_reserves
        assert _balance_of(fork, usdc, trader) == replica_usdc

        # A real swap on the fork: send WETH to the pair, then call swap (V2's low-level path).
        amount_in = 10**18
        w3 = fork.w3
        transfer = "0xa9059cbb" + WETH_USDC_V2[2:].lower().rjust(64, "0") + hex(amount_in)[2:].rjust(64, "0")
        w3.eth.wait_for_transaction_receipt(
            w3.eth.send_transaction({"from": trader, "to": weth, "data": transfer})
        )
        reserves = fork.rpc("eth_call", {"to": WETH_USDC_V2, "data": GET_RESERVES}, "latest")
        r_usdc, r_weth = int(reserves[2:66], 16), int(reserves[66:130], 16)
        out = amount_in * 997 * r_usdc // (r_weth * 1000 + amount_in * 997)
        swap = (
            "0x022c0d9f"
            + hex(out)[2:].rjust(64, "0")
            + "0" * 64
            + trader[2:].lower().rjust(64, "0")
            + hex(128)[2:].rjust(64, "0")
            + "0" * 64
        )
        receipt = w3.eth.wait_for_transaction_receipt(
            w3.eth.send_transaction({"from": trader, "to": WETH_USDC_V2, "data": swap})
        )
        assert receipt["status"] == 1
        assert _balance_of(fork, usdc, trader) == replica_usdc + out

    assert devnet.rpc("eth_call", {"to": WETH_USDC_V2, "data": GET_RESERVES}, "latest") == replica_reserves
    assert _balance_of(devnet, usdc, trader) == replica_usdc
    assert devnet.block_number() == replica_block


def test_aave_loop_opens_and_closes_on_a_fork(
    devnet: Devnet, tmp_path: Path, monkeypatch: MonkeyPatch
) -> None:
    """The loop code path against a fork (every address as on mainnet): open 2x, then close, on the fork
    only; the replica underneath keeps no trace of it."""
    monkeypatch.setenv("DEFIBOTS_STATE_DIR", str(tmp_path))
    replica_block = devnet.block_number()
    with Devnet.start(DevnetOptions(fork_url=devnet.http_url)) as fork:
        op = LoopOperator(fork.http_url, dev_account(1), tmp_path / "journal.sqlite", 31337)
        opened = op.execute(op.plan_open("WETH", "USDC", Decimal(4), Decimal(2), Decimal("1.1"), 30))
        assert opened.holdings.debt > 0 and opened.health_factor > 1.1e18
        op.execute(op.plan_close("WETH", "USDC", 30))
        assert op.client.account().collateral_base == 0
    assert devnet.block_number() == replica_block
    assert devnet.rpc("eth_getCode", op.client.address, "latest") == "0x"
