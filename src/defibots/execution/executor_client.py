"""Client for contracts/Executor.sol: deploy it, decode its routes and errors, simulate and send `execute`.

Every transaction is simulated (eth_call / eth_estimateGas) first and not sent when the simulation reverts;
reverts come back as ExecutorRevert carrying the custom error's name and arguments, decoded with the forge
artifact's ABI.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, cast

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress, HexStr
from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import ContractLogicError
from web3.types import AccessList, AccessListEntry, BlockIdentifier, Nonce, TxParams, TxReceipt, Wei

from defibots.errors import UserError
from defibots.execution.route import Funding, HopKind, Payment, Route, RouteHop
from defibots.paths import forge_artifact

ARTIFACT = ("Executor.sol", "Executor")
ROUTE_TUPLE = "(uint8,uint8,uint128,uint128,uint128,address,address,(uint8,address,address,address,uint24)[])"
"""decodeRoute's return type (Executor.Route)."""
GAS_MARGIN_BPS = 12_000
"""Gas limit = estimate * 1.2: state can move between simulation and inclusion."""


@cache
def load_artifact() -> dict[str, Any]:
    """The forge build output for the Executor (ABI, creation and runtime bytecode, compiler metadata)."""
    data: dict[str, Any] = json.loads(forge_artifact(*ARTIFACT).read_text())
    return data


def creation_code() -> bytes:
    return bytes.fromhex(str(load_artifact()["bytecode"]["object"]).removeprefix("0x"))


def runtime_code_hash() -> bytes:
    """keccak of the artifact's runtime code. The contract has no immutables: equal to the on-chain hash."""
    return keccak(bytes.fromhex(str(load_artifact()["deployedBytecode"]["object"]).removeprefix("0x")))


def compiler_settings() -> dict[str, Any]:
    """Compiler version, EVM version and optimizer settings from the artifact's metadata."""
    metadata = load_artifact().get("metadata")
    if isinstance(metadata, str):
        metadata = json.loads(metadata)
    if not isinstance(metadata, dict):
        return {"compiler": "unknown"}
    settings = metadata.get("settings", {})
    optimizer = settings.get("optimizer", {})
    return {
        "compiler": f"solc {metadata['compiler']['version']}",
        "evmVersion": settings.get("evmVersion"),
        "optimizerRuns": optimizer.get("runs") if optimizer.get("enabled") else None,
    }


@dataclass(frozen=True)
class RevertReason:
    """A decoded revert: custom error name and named arguments, or Error(string) / Panic(uint256)."""

    name: str
    args: tuple[tuple[str, Any], ...] = ()

    def arg(self, name: str) -> Any:
        return dict(self.args)[name]

    def __str__(self) -> str:
        inner = ", ".join(f"{key}={value}" for key, value in self.args)
        return f"{self.name}({inner})"


class ExecutorRevert(Exception):
    """A simulated or mined Executor call reverted; `reason` is None when the data matches no known error."""

    def __init__(self, reason: RevertReason | None, data: bytes, tx_hash: str | None = None) -> None:
        self.reason = reason
        self.data = data
        self.tx_hash = tx_hash
        what = str(reason) if reason is not None else f"revert data 0x{data.hex()}"
        super().__init__(f"executor reverted: {what}" + (f" (tx {tx_hash})" if tx_hash else ""))


class ErrorDecoder:
    """Selector -> error signature from an ABI, plus Solidity's built-in Error(string) and Panic(uint256)."""

    def __init__(self, abi: list[dict[str, Any]]) -> None:
        self._errors: dict[bytes, tuple[str, list[str], list[str]]] = {}
        entries = [e for e in abi if e.get("type") == "error"]
        entries += [
            {"name": "Error", "inputs": [{"name": "message", "type": "string"}]},
            {"name": "Panic", "inputs": [{"name": "code", "type": "uint256"}]},
        ]
        for entry in entries:
            types = [str(i["type"]) for i in entry["inputs"]]
            names = [str(i.get("name") or f"arg{n}") for n, i in enumerate(entry["inputs"])]
            selector = keccak(text=f"{entry['name']}({','.join(types)})")[:4]
            self._errors[selector] = (str(entry["name"]), types, names)

    def decode(self, data: bytes) -> RevertReason | None:
        known = self._errors.get(bytes(data[:4]))
        if known is None:
            return None
        name, types, names = known
        try:
            values = abi_decode(types, bytes(data[4:]))
        except Exception:  # malformed arguments: the name is still worth reporting
            return RevertReason(name)
        return RevertReason(name, tuple(zip(names, values, strict=True)))


@dataclass(frozen=True)
class Simulation:
    """What `execute` would do now: net profit in the profit token and the gas eth_estimateGas reports."""

    profit: int
    gas: int


class ExecutorClient:
    """One deployed Executor on one chain, with the account that signs its transactions (if any)."""

    def __init__(
        self,
        w3: Web3,
        address: str,
        signer: LocalAccount | None = None,
        abi: list[dict[str, Any]] | None = None,
    ) -> None:
        self.w3 = w3
        self.address: ChecksumAddress = to_checksum_address(address)
        self.signer = signer
        self.abi: list[dict[str, Any]] = abi if abi is not None else load_artifact()["abi"]
        self.contract = w3.eth.contract(address=self.address, abi=self.abi)
        self.errors = ErrorDecoder(self.abi)

    # ------------------------------------------------------------- deploy

    @classmethod
    def deploy(
        cls, w3: Web3, signer: LocalAccount, owner: str, callers: Sequence[str] = ()
    ) -> tuple[ExecutorClient, TxReceipt]:
        """Deploys a new Executor with owner and allowed callers as constructor arguments; waits for it."""
        args = abi_encode(
            ["address", "address[]"],
            [to_checksum_address(owner), [to_checksum_address(c) for c in callers]],
        )
        abi: list[dict[str, Any]] = load_artifact()["abi"]
        receipt = TxSender(w3, signer, ErrorDecoder(abi)).send(None, creation_code() + args)
        address = receipt["contractAddress"]
        if address is None:
            raise UserError(f"deployment tx {receipt['transactionHash'].to_0x_hex()} created no contract")
        return cls(w3, address, signer, abi), receipt

    def code_hash(self) -> bytes:
        """keccak of the runtime code at the address now (keccak(b'') when there is none)."""
        return keccak(bytes(self.w3.eth.get_code(self.address)))

    # -------------------------------------------------------------- views

    def owner(self) -> ChecksumAddress:
        (owner,) = abi_decode(["address"], self._call(self._encode("owner"), None))
        return to_checksum_address(owner)

    def is_caller(self, address: str) -> bool:
        (allowed,) = abi_decode(
            ["bool"], self._call(self._encode("isCaller", to_checksum_address(address)), None)
        )
        return bool(allowed)

    def decode_route(self, route: Route | bytes) -> Route:
        """The contract's own reading of a route (its decodeRoute); malformed bytes raise ExecutorRevert."""
        data = route.encode() if isinstance(route, Route) else bytes(route)
        (decoded,) = abi_decode([ROUTE_TUPLE], self._call(self._encode("decodeRoute", data), None))
        funding, payment, amount_in, min_profit, payment_value, token_in, _profit_token, hops = decoded
        return Route(
            token_in=to_checksum_address(token_in),
            amount_in=amount_in,
            hops=tuple(
                RouteHop(HopKind(kind), to_checksum_address(pool), to_checksum_address(token_out), fee)
                for kind, pool, _token_in, token_out, fee in hops
            ),
            funding=Funding(funding),
            min_profit=min_profit,
            payment=Payment(payment),
            payment_value=payment_value,
        )

    # ------------------------------------------------------------ execute

    def execute_calldata(self, route: Route) -> bytes:
        return self._encode("execute", route.encode())

    def simulate(
        self, route: Route, sender: str | None = None, block: BlockIdentifier = "latest"
    ) -> Simulation:
        """eth_call then eth_estimateGas of execute(route) from `sender` (default: the signer)."""
        data = self.execute_calldata(route)
        frm = sender or (self.signer.address if self.signer else None)
        if frm is None:
            raise UserError("simulating execute needs a sender: an allowed caller or the owner")
        (profit,) = abi_decode(["uint256"], self._call(data, frm, block))
        gas = _estimate_gas(self.w3, self.errors, _tx_params(frm, self.address, data))
        return Simulation(profit=int(profit), gas=gas)

    def access_list(self, route: Route, block: BlockIdentifier = "latest") -> list[AccessListEntry]:
        """The pools, tokens and slots execute(route) touches (eth_createAccessList), minus the executor
        itself: it is warm as `to`, so listing it costs 2,400 gas and saves little. Worth ~1.5k gas on a
        2-hop route; put it in a bundle's transaction via build_execute(access_list=...)."""
        return self._tx_sender().access_list(self.address, self.execute_calldata(route), block)

    def build_execute(
        self,
        route: Route,
        gas: int,
        nonce: int | None = None,
        max_priority_fee_per_gas: int | None = None,
        max_fee_per_gas: int | None = None,
        access_list: list[AccessListEntry] | None = None,
    ) -> TxParams:
        """An unsigned EIP-1559 execute transaction (for bundles or a custom sender); not simulated."""
        data = self.execute_calldata(route)
        tx = self._tx_sender().build(
            self.address, data, gas, nonce, max_priority_fee_per_gas, max_fee_per_gas
        )
        if access_list:
            tx["accessList"] = AccessList(access_list)
        return tx

    def execute(
        self,
        route: Route,
        max_priority_fee_per_gas: int | None = None,
        max_fee_per_gas: int | None = None,
        timeout: float = 120.0,
        use_access_list: bool = False,
    ) -> TxReceipt:
        """Simulates, then signs and sends execute(route) and waits for the receipt; reverts raise.

        use_access_list: also ask the node for an access list and send it when it lowers the estimate.
        """
        return self._tx_sender().send(
            self.address,
            self.execute_calldata(route),
            max_priority_fee_per_gas,
            max_fee_per_gas,
            timeout,
            use_access_list,
        )

    # -------------------------------------------------------------- admin

    def set_caller(self, caller: str, allowed: bool) -> TxReceipt:
        return self._transact("setCaller", to_checksum_address(caller), allowed)

    def withdraw_token(self, token: str, to: str, amount: int) -> TxReceipt:
        """amount = 2**256 - 1 sweeps the whole balance."""
        return self._transact("withdrawToken", to_checksum_address(token), to_checksum_address(to), amount)

    def withdraw_eth(self, to: str, amount: int) -> TxReceipt:
        return self._transact("withdrawEth", to_checksum_address(to), amount)

    # ----------------------------------------------------------- plumbing

    def _tx_sender(self) -> TxSender:
        if self.signer is None:
            raise UserError("this ExecutorClient has no signer: pass one to send transactions")
        return TxSender(self.w3, self.signer, self.errors)

    def _encode(self, function: str, *args: Any) -> bytes:
        return bytes(HexBytes(self.contract.encode_abi(function, args=list(args))))

    def _transact(self, function: str, *args: Any) -> TxReceipt:
        return self._tx_sender().send(self.address, self._encode(function, *args))

    def _call(self, data: bytes, sender: str | None, block: BlockIdentifier = "latest") -> bytes:
        tx: TxParams = {"to": self.address, "data": HexStr("0x" + data.hex())}
        if sender is not None:
            tx["from"] = to_checksum_address(sender)
        try:
            return bytes(self.w3.eth.call(tx, block))
        except ContractLogicError as exc:
            raw = _revert_data(exc)
            raise ExecutorRevert(self.errors.decode(raw), raw) from None


def _revert_data(exc: ContractLogicError) -> bytes:
    data = exc.data
    if isinstance(data, dict):
        data = data.get("data")
    if isinstance(data, str) and data.startswith("0x"):
        return bytes.fromhex(data[2:])
    return b""


def _tx_params(sender: str, to: ChecksumAddress | None, data: bytes) -> TxParams:
    tx: TxParams = {"from": to_checksum_address(sender), "data": HexStr("0x" + data.hex())}
    if to is not None:
        tx["to"] = to
    return tx


def _estimate_gas(w3: Web3, errors: ErrorDecoder, tx: TxParams) -> int:
    """eth_estimateGas; a revert here is the simulation failing, decoded."""
    try:
        return int(w3.eth.estimate_gas(tx))
    except ContractLogicError as exc:
        raw = _revert_data(exc)
        raise ExecutorRevert(errors.decode(raw), raw) from None


class TxSender:
    """Simulate, sign (EIP-1559), send, wait: the one path every Executor transaction takes."""

    def __init__(self, w3: Web3, signer: LocalAccount, errors: ErrorDecoder) -> None:
        self.w3 = w3
        self.signer = signer
        self.errors = errors

    def build(
        self,
        to: ChecksumAddress | None,
        data: bytes,
        gas: int,
        nonce: int | None = None,
        max_priority_fee_per_gas: int | None = None,
        max_fee_per_gas: int | None = None,
    ) -> TxParams:
        tip = max_priority_fee_per_gas
        if tip is None:
            tip = int(self.w3.eth.max_priority_fee)
        if max_fee_per_gas is None:
            base = int(self.w3.eth.get_block("latest").get("baseFeePerGas", 0) or 0)
            max_fee_per_gas = 2 * base + tip
        if nonce is None:
            nonce = self.w3.eth.get_transaction_count(self.signer.address, "pending")
        tx = _tx_params(self.signer.address, to, data)
        tx["type"] = 2
        tx["chainId"] = int(self.w3.eth.chain_id)
        tx["nonce"] = Nonce(nonce)
        tx["gas"] = gas
        tx["maxPriorityFeePerGas"] = Wei(tip)
        tx["maxFeePerGas"] = Wei(max_fee_per_gas)
        tx["value"] = Wei(0)
        return tx

    def access_list(
        self, to: ChecksumAddress, data: bytes, block: BlockIdentifier = "latest"
    ) -> list[AccessListEntry]:
        try:
            found = self.w3.eth.create_access_list(_tx_params(self.signer.address, to, data), block)
        except ContractLogicError as exc:
            raw = _revert_data(exc)
            raise ExecutorRevert(self.errors.decode(raw), raw) from None
        warm = {to.lower(), self.signer.address.lower()}
        return [
            AccessListEntry(address=e["address"], storageKeys=list(e["storageKeys"]))
            for e in found["accessList"]
            if str(e["address"]).lower() not in warm
        ]

    def send(
        self,
        to: ChecksumAddress | None,
        data: bytes,
        max_priority_fee_per_gas: int | None = None,
        max_fee_per_gas: int | None = None,
        timeout: float = 120.0,
        use_access_list: bool = False,
    ) -> TxReceipt:
        params = _tx_params(self.signer.address, to, data)
        estimate = _estimate_gas(self.w3, self.errors, params)  # the simulation: raises on revert
        entries: list[AccessListEntry] = []
        if use_access_list and to is not None:
            entries = self.access_list(to, data)
            params["accessList"] = AccessList(entries)
            with_list = _estimate_gas(self.w3, self.errors, params)
            if entries and with_list < estimate:
                estimate = with_list
            else:
                entries = []
        tx = self.build(
            to, data, estimate * GAS_MARGIN_BPS // 10_000, None, max_priority_fee_per_gas, max_fee_per_gas
        )
        if entries:
            tx["accessList"] = AccessList(entries)
        signed = self.signer.sign_transaction(cast(Any, tx))
        tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=timeout)
        if receipt["status"] != 1:
            raise ExecutorRevert(None, b"", tx_hash=tx_hash.to_0x_hex())
        return receipt
