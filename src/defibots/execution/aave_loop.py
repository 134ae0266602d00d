"""The AaveLoop contract from Python: deploy it, read its position and the market, simulate a step, send it.

A step is simulated with `eth_simulateV1` as one block: [the owner's approval if any, the loop call, then
reads of the account data and balances the step leaves]. So the prediction is the chain's own answer for
that block's timestamp, and what is sent is exactly what was simulated.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import rlp
from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from eth_utils import function_signature_to_4byte_selector, keccak, to_checksum_address
from web3 import Web3
from web3.types import BlockIdentifier, TxReceipt

from defibots.chain import addresses as A
from defibots.chain.aave_addresses import AaveMarket
from defibots.errors import UserError
from defibots.execution.executor_client import ErrorDecoder, ExecutorRevert, TxSender
from defibots.paths import forge_artifact
from defibots.protocols.leverage_loop import Holdings, LoopAsset, LoopMarket, LoopStep
from defibots.protocols.uniswap_router import PoolModel

USER_RESERVE_TYPES = ["uint256"] * 7 + ["uint40", "bool"]
"""AaveProtocolDataProvider.getUserReserveData: aToken balance first, variable debt third."""
STEP_TYPE = "(address,address,uint256,uint256,(uint24,uint256,uint256),uint256)"
SIGNATURES = {
    "open": f"open(uint256,{STEP_TYPE})",
    "boost": f"boost({STEP_TYPE})",
    "repay": f"repay({STEP_TYPE})",
    "close": f"close({STEP_TYPE})",
}


def _selector(signature: str) -> bytes:
    return function_signature_to_4byte_selector(signature)


def _call_data(signature: str, types: list[str], args: list[Any]) -> str:
    return "0x" + (_selector(signature) + abi_encode(types, args)).hex()


def load_artifact() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(forge_artifact("AaveLoop.sol", "AaveLoop").read_text())
    return data


def creation_code(market: AaveMarket) -> bytes:
    code = bytes.fromhex(str(load_artifact()["bytecode"]["object"]).removeprefix("0x"))
    return code + abi_encode(
        ["address"] * 3, [market.pool, A.UNISWAP_V2_ROUTER02, A.UNISWAP_V3_SWAP_ROUTER02]
    )


@dataclass(frozen=True)
class AccountData:
    """Pool.getUserAccountData: base-currency (8-decimal USD) totals, bps averages, the 1e18 health factor."""

    collateral_base: int
    debt_base: int
    available_borrows_base: int
    liquidation_threshold: int
    ltv: int
    health_factor: int


@dataclass(frozen=True)
class StepSimulation:
    ok: bool
    error: str
    gas_used: int
    timestamp: int
    account: AccountData
    holdings: Holdings
    owner_collateral: int
    """The owner's wallet balances of both assets after the step (what a close returns)."""
    owner_debt: int


class AaveLoopClient:
    """One deployed AaveLoop on one chain and the key that owns (or may rebalance) it."""

    def __init__(
        self, w3: Web3, address: str, signer: LocalAccount, market: AaveMarket, deploy_first: bool = False
    ) -> None:
        self.w3 = w3
        self.address: ChecksumAddress = to_checksum_address(address)
        self.deploy_first = deploy_first
        """Not deployed yet: `address` is where the signer's next transaction would create it, and
        simulations deploy it first (shadow mode before the first open)."""
        self.signer = signer
        self.market = market
        self.errors = ErrorDecoder(load_artifact()["abi"])
        self.sender = TxSender(w3, signer, self.errors)

    @classmethod
    def undeployed(cls, w3: Web3, signer: LocalAccount, market: AaveMarket) -> AaveLoopClient:
        nonce = w3.eth.get_transaction_count(signer.address, "pending")
        address = keccak(rlp.encode([bytes.fromhex(signer.address[2:]), nonce]))[12:]
        return cls(w3, "0x" + address.hex(), signer, market, deploy_first=True)

    @classmethod
    def deploy(cls, w3: Web3, signer: LocalAccount, market: AaveMarket) -> tuple[AaveLoopClient, TxReceipt]:
        receipt = TxSender(w3, signer, ErrorDecoder(load_artifact()["abi"])).send(None, creation_code(market))
        address = receipt["contractAddress"]
        if address is None:
            raise UserError("the AaveLoop deployment created no contract")
        return cls(w3, address, signer, market), receipt

    # ------------------------------------------------------------------ reads

    def _eth_call(self, to: str, data: str, block: BlockIdentifier = "latest") -> bytes:
        return bytes(self.w3.eth.call({"to": to_checksum_address(to), "data": data}, block))  # type: ignore[typeddict-item]

    def owner(self) -> ChecksumAddress:
        raw = self._eth_call(self.address, "0x" + _selector("owner()").hex())
        return to_checksum_address(abi_decode(["address"], raw)[0])

    def asset(self, symbol: str) -> LoopAsset:
        """A listed reserve with its oracle price and risk parameters (outside any e-mode)."""
        try:
            listed = self.market.asset(symbol.upper())
        except KeyError:
            raise UserError(f"unknown Aave reserve {symbol}") from None
        config = abi_decode(
            ["uint256"] * 5 + ["bool"] * 5,
            self._eth_call(
                self.market.protocol_data_provider,
                _call_data("getReserveConfigurationData(address)", ["address"], [listed.underlying]),
            ),
        )
        price = abi_decode(
            ["uint256"],
            self._eth_call(
                self.market.oracle, _call_data("getAssetPrice(address)", ["address"], [listed.underlying])
            ),
        )[0]
        return LoopAsset(
            listed.underlying, listed.symbol, int(config[0]), int(price), int(config[1]), int(config[2])
        )

    def borrowing_enabled(self, asset: LoopAsset) -> bool:
        config = abi_decode(
            ["uint256"] * 5 + ["bool"] * 5,
            self._eth_call(
                self.market.protocol_data_provider,
                _call_data("getReserveConfigurationData(address)", ["address"], [asset.address]),
            ),
        )
        return bool(config[6])

    def loop_market(self, collateral: str, debt: str, pool: PoolModel) -> LoopMarket:
        c, d = self.asset(collateral), self.asset(debt)
        if c.address == d.address:
            raise UserError("collateral and debt must be different reserves")
        if not self.borrowing_enabled(d):
            raise UserError(f"borrowing {d.symbol} is disabled on this market")
        premium = abi_decode(
            ["uint128"], self._eth_call(self.market.pool, "0x" + _selector("FLASHLOAN_PREMIUM_TOTAL()").hex())
        )[0]
        return LoopMarket(c, d, int(premium), pool)

    def holdings(self, market: LoopMarket, block: BlockIdentifier = "latest") -> Holdings:
        return Holdings(
            self._balance(market.collateral.address, block)[0], self._balance(market.debt.address, block)[1]
        )

    def _balance(self, asset: str, block: BlockIdentifier) -> tuple[int, int]:
        raw = self._eth_call(self.market.protocol_data_provider, self._user_reserve_call(asset), block)
        values = abi_decode(USER_RESERVE_TYPES, raw)
        return int(values[0]), int(values[2])

    def _user_reserve_call(self, asset: str) -> str:
        return _call_data(
            "getUserReserveData(address,address)", ["address", "address"], [asset, self.address]
        )

    def wallet(self, token: str, block: BlockIdentifier = "latest") -> int:
        """The owner's (signer's) balance of `token`."""
        data = _call_data("balanceOf(address)", ["address"], [self.signer.address])
        return int(abi_decode(["uint256"], self._eth_call(token, data, block))[0])

    def account(self, block: BlockIdentifier = "latest") -> AccountData:
        raw = self._eth_call(self.market.pool, self._account_call(), block)
        return AccountData(*(int(v) for v in abi_decode(["uint256"] * 6, raw)))

    def _account_call(self) -> str:
        return _call_data("getUserAccountData(address)", ["address"], [self.address])

    # --------------------------------------------------------- simulate, send

    def preparation(self, step: LoopStep) -> list[tuple[str | None, str]]:
        """(to, data) the owner must send before `step`: the deployment, an approval for the deposit."""
        out: list[tuple[str | None, str]] = []
        if self.deploy_first:
            out.append((None, "0x" + creation_code(self.market).hex()))
        if step.deposit and (self.deploy_first or self.allowance(step.collateral) < step.deposit):
            args = [self.address, step.deposit]
            out.append(
                (step.collateral, _call_data("approve(address,uint256)", ["address", "uint256"], args))
            )
        return out

    def allowance(self, token: str) -> int:
        data = _call_data(
            "allowance(address,address)", ["address", "address"], [self.signer.address, self.address]
        )
        return int(abi_decode(["uint256"], self._eth_call(token, data))[0])

    def step_call(self, step: LoopStep) -> str:
        if step.kind == "open":
            return _call_data(SIGNATURES["open"], ["uint256", STEP_TYPE], [step.deposit, step.step_tuple()])
        return _call_data(SIGNATURES[step.kind], [STEP_TYPE], [step.step_tuple()])

    def calls(self, step: LoopStep) -> list[tuple[str | None, str]]:
        """Everything the owner sends for `step`, in order: the preparation, then the loop call."""
        return [*self.preparation(step), (self.address, self.step_call(step))]

    def simulate(self, market: LoopMarket, step: LoopStep, timestamp: int) -> StepSimulation:
        """The step mined in a block at `timestamp` on top of the latest one (nothing is sent)."""
        sender = self.signer.address
        # eth_simulateV1 runs no contract creation: an undeployed loop is placed by a state override with
        # the runtime code its constructor returns (eth_call of the creation code, immutables filled in)
        calls = [{"from": sender, "to": to, "data": data} for to, data in self.calls(step) if to]
        reads = [
            (self.market.pool, self._account_call()),
            (self.market.protocol_data_provider, self._user_reserve_call(market.collateral.address)),
            (self.market.protocol_data_provider, self._user_reserve_call(market.debt.address)),
            (market.collateral.address, _call_data("balanceOf(address)", ["address"], [sender])),
            (market.debt.address, _call_data("balanceOf(address)", ["address"], [sender])),
        ]
        calls += [{"from": sender, "to": to, "data": data} for to, data in reads]
        block: dict[str, Any] = {"blockOverrides": {"time": hex(timestamp)}, "calls": calls}
        if self.deploy_first:
            creation = {"from": sender, "data": "0x" + creation_code(self.market).hex()}
            runtime = self.w3.provider.make_request("eth_call", [creation, "latest"])  # type: ignore[arg-type]
            block["stateOverrides"] = {self.address: {"code": runtime["result"]}}
        request = {"blockStateCalls": [block]}
        reply = self.w3.provider.make_request("eth_simulateV1", [request, "latest"])  # type: ignore[arg-type]
        if "error" in reply:
            raise UserError(f"eth_simulateV1 failed: {reply['error'].get('message', reply['error'])}")
        results = reply["result"][0]["calls"]
        step_result = results[len(calls) - len(reads) - 1]
        ok = all(r.get("status") == "0x1" for r in results[: len(calls) - len(reads)])
        error = "" if ok else self._reason(step_result)
        out = [bytes.fromhex(r["returnData"][2:]) for r in results[-len(reads) :]]
        account = AccountData(*(int(v) for v in abi_decode(["uint256"] * 6, out[0])))
        collateral = abi_decode(USER_RESERVE_TYPES, out[1])
        debt = abi_decode(USER_RESERVE_TYPES, out[2])
        return StepSimulation(
            ok, error, int(step_result.get("gasUsed", "0x0"), 16), timestamp, account,
            Holdings(int(collateral[0]), int(debt[2])),
            int(abi_decode(["uint256"], out[3])[0]), int(abi_decode(["uint256"], out[4])[0]),
        )  # fmt: skip

    def _reason(self, result: dict[str, Any]) -> str:
        data = bytes.fromhex(str(result.get("returnData", "0x"))[2:])
        decoded = self.errors.decode(data)
        if decoded is not None:
            return str(decoded)
        message = result.get("error", {}).get("message") if isinstance(result.get("error"), dict) else None
        return str(message or (data.hex() and f"revert 0x{data.hex()[:8]}") or "reverted")

    def send(self, calls: Sequence[tuple[str | None, str]], what: str) -> list[TxReceipt]:
        """Send `calls` in order (each is estimated first, which stops a reverting one before it is sent)."""
        receipts = []
        for to, data in calls:
            try:
                target = to_checksum_address(to) if to else None
                receipts.append(self.sender.send(target, bytes.fromhex(data[2:])))
            except ExecutorRevert as exc:
                raise UserError(f"{what} reverted: {exc}") from None
            if to is None:
                self.deploy_first = False
        return receipts
