"""The Liquidator contract from Python: deploy it, simulate a planned liquidation at the timestamp it was
planned for, send it, and read what the chain did from its `Liquidated` event.

One `liquidate` call flash-borrows the debt asset, calls Aave's liquidationCall, sells all the collateral
seized on the plan's pool and repays the flash loan; it reverts unless the debt asset's balance grew by the
plan's minimum profit. The simulation is `eth_simulateV1` with the block time overridden, so a plan made
for the next block is checked against the chain's own answer for that block.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from eth_utils import function_signature_to_4byte_selector, keccak, to_checksum_address
from web3 import Web3
from web3.types import TxReceipt

from defibots.errors import UserError
from defibots.execution.executor_client import ErrorDecoder, ExecutorRevert, TxSender
from defibots.paths import forge_artifact
from defibots.protocols.liquidation_plan import LiquidationPlan

GAS_LIMIT_NUM, GAS_LIMIT_DEN = 3, 2
"""Gas limit = simulated gas * 1.5: the simulation reports gas after refunds (the approvals reset to 0
refund up to a fifth), and each nested call keeps 1/64 back."""
LIQUIDATION_TUPLE = "(address,address,address,uint256,uint24,uint256,uint256,uint256)"
LIQUIDATE = function_signature_to_4byte_selector(f"liquidate({LIQUIDATION_TUPLE})")
LIQUIDATED_TOPIC = (
    "0x" + keccak(text="Liquidated(address,address,address,uint256,uint256,uint256,uint256,uint256)").hex()
)


@cache
def artifact() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(forge_artifact("Liquidator.sol", "Liquidator").read_text())
    return data


@dataclass(frozen=True)
class Liquidated:
    """The contract's `Liquidated` event: what one liquidation really moved."""

    user: str
    collateral: str
    debt: str
    debt_covered: int
    collateral_seized: int
    swap_out: int
    premium: int
    profit: int


def liquidation_args(plan: LiquidationPlan, min_profit: int, builder_payment: int = 0) -> tuple[Any, ...]:
    """The `Liquidation` struct for a plan; the swap is guarded at the plan's exact output."""
    return (
        to_checksum_address(plan.collateral), to_checksum_address(plan.debt), to_checksum_address(plan.user),
        plan.debt_to_cover, plan.swap_fee, plan.swap_out, min_profit, builder_payment,
    )  # fmt: skip


def liquidate_calldata(plan: LiquidationPlan, min_profit: int, builder_payment: int = 0) -> bytes:
    return LIQUIDATE + abi_encode([LIQUIDATION_TUPLE], [liquidation_args(plan, min_profit, builder_payment)])


def parse_liquidated(receipt: TxReceipt | dict[str, Any], contract: str) -> Liquidated | None:
    for log in receipt["logs"]:
        topics = ["0x" + bytes(t).hex() if not isinstance(t, str) else t for t in log["topics"]]
        if str(log["address"]).lower() != contract.lower() or not topics or topics[0] != LIQUIDATED_TOPIC:
            continue
        data = bytes(log["data"]) if not isinstance(log["data"], str) else bytes.fromhex(log["data"][2:])
        amounts = abi_decode(["uint256"] * 5, data)
        user, collateral, debt = (to_checksum_address("0x" + t[-40:]) for t in topics[1:4])
        return Liquidated(user, collateral, debt, *(int(a) for a in amounts))
    return None


class LiquidatorClient:
    """A deployed Liquidator, driven by `signer` (its owner or an allowed caller)."""

    def __init__(self, w3: Web3, address: str, signer: LocalAccount) -> None:
        self.w3, self.address, self.signer = w3, to_checksum_address(address), signer
        self.errors = ErrorDecoder(artifact()["abi"])
        self.sender = TxSender(w3, signer, self.errors)

    @classmethod
    def deploy(cls, w3: Web3, owner: LocalAccount, callers: list[str] | None = None) -> LiquidatorClient:
        code = bytes.fromhex(str(artifact()["bytecode"]["object"]).removeprefix("0x"))
        args = abi_encode(
            ["address", "address[]"], [owner.address, [to_checksum_address(c) for c in callers or []]]
        )
        tx = TxSender(w3, owner, ErrorDecoder(artifact()["abi"])).send(None, code + args)
        return cls(w3, str(tx["contractAddress"]), owner)

    def simulate(
        self, plan: LiquidationPlan, min_profit: int, timestamp: int, builder_payment: int = 0
    ) -> Simulated:
        """`liquidate` in a block at `timestamp` on top of the latest: its profit and gas; ExecutorRevert with
        the decoded reason if it reverts."""
        call = {"from": self.signer.address, "to": self.address,
                "data": "0x" + liquidate_calldata(plan, min_profit, builder_payment).hex()}  # fmt: skip
        request = {"blockStateCalls": [{"blockOverrides": {"time": hex(timestamp)}, "calls": [call]}]}
        reply = self.w3.provider.make_request("eth_simulateV1", [request, "latest"])  # type: ignore[arg-type]
        if "error" in reply:
            raise UserError(f"eth_simulateV1 failed: {reply['error'].get('message', reply['error'])}")
        result = reply["result"][0]["calls"][0]
        data = bytes.fromhex(str(result.get("returnData", "0x"))[2:])
        if result.get("status") != "0x1":
            raise ExecutorRevert(self.errors.decode(data), data)
        (profit,) = abi_decode(["uint256"], data)
        return Simulated(int(profit), int(result["gasUsed"], 16))

    def send(
        self, plan: LiquidationPlan, min_profit: int, timestamp: int, builder_payment: int = 0
    ) -> TxReceipt:
        """Simulate at `timestamp` (the block it is meant for), then send with that gas plus a margin:
        gas estimated at the latest block could revert on interest that accrues by then."""
        sim = self.simulate(plan, min_profit, timestamp, builder_payment)
        data = liquidate_calldata(plan, min_profit, builder_payment)
        tx = self.sender.build(self.address, data, sim.gas * GAS_LIMIT_NUM // GAS_LIMIT_DEN)
        signed = self.signer.sign_transaction(tx)  # type: ignore[arg-type]
        tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        return self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=120)


@dataclass(frozen=True)
class Simulated:
    profit: int
    gas: int
