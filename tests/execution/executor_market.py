"""Trades on the replica's real pools from an unlocked dev account: used to open arbitrage gaps in tests."""

from __future__ import annotations

from typing import Any

from eth_abi import decode
from hexbytes import HexBytes
from web3 import Web3

from defibots.chain.addresses import TOKENS
from defibots.devnet.replica import calldata
from defibots.protocols.uniswap_v2 import get_amount_out

WETH = TOKENS["WETH"].address
USDC = TOKENS["USDC"].address
DAI = TOKENS["DAI"].address
V2_WETH_USDC = Web3.to_checksum_address("0xB4e16d0168e52d35CaCD2c6185b44281Ec28C9Dc")
V3_WETH_USDC_500 = Web3.to_checksum_address("0x88e6A0c2dDD26FEEb64F039a2c41296FcB3f5640")


def send(w3: Web3, sender: str, to: str, data: str, value: int = 0) -> Any:
    """A transaction from an unlocked anvil account; fails the test if it reverts."""
    tx_hash = w3.eth.send_transaction({"from": sender, "to": to, "data": HexBytes(data), "value": value})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash)
    assert receipt["status"] == 1, f"setup tx to {to} reverted"
    return receipt


def balance_of(w3: Web3, token: str, owner: str) -> int:
    raw = w3.eth.call({"to": token, "data": HexBytes(calldata("balanceOf(address)", owner))})
    return int(decode(["uint256"], raw)[0])


def v2_reserves(w3: Web3, pair: str) -> tuple[int, int]:
    raw = w3.eth.call({"to": pair, "data": HexBytes(calldata("getReserves()"))})
    r0, r1, _ = decode(["uint112", "uint112", "uint32"], raw)
    return int(r0), int(r1)


def v2_reserve_of(w3: Web3, pair: str, token: str, other: str) -> int:
    r0, r1 = v2_reserves(w3, pair)
    return r0 if int(token, 16) < int(other, 16) else r1


def dump_on_v2(w3: Web3, trader: str, pair: str, token_in: str, token_out: str, amount_in: int) -> int:
    """Sells `amount_in` straight into a V2 pair (transfer, then swap), moving its price."""
    r0, r1 = v2_reserves(w3, pair)
    zero_for_one = int(token_in, 16) < int(token_out, 16)
    reserve_in, reserve_out = (r0, r1) if zero_for_one else (r1, r0)
    out = get_amount_out(amount_in, reserve_in, reserve_out)
    send(w3, trader, token_in, calldata("transfer(address,uint256)", pair, amount_in))
    amounts = (0, out) if zero_for_one else (out, 0)
    send(w3, trader, pair, calldata("swap(uint256,uint256,address,bytes)", *amounts, trader, b""))
    return out


def fund_weth(w3: Web3, to: str, amount: int, sender: str) -> None:
    send(w3, sender, WETH, calldata("deposit()"), value=amount)
    send(w3, sender, WETH, calldata("transfer(address,uint256)", to, amount))
