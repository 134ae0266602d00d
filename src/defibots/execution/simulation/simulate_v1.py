"""Bundle simulation on the node itself with `eth_simulateV1`: no fork, no mining, one round trip.

The bundle's signed transactions run as one simulated block on top of the state block, with the target
block's number, time, fee recipient and base fee, and full validation (nonces, balances, fee caps: what a
builder checks). ETH transfer tracing reports every value movement, so the builder's payment and each
watched balance change are exact without a prestate trace. What it cannot give: the block's real hash
and parent hash, and transaction hashes (the node hashes the calls, not our signed bytes); results are
matched to the bundle's transactions by position. The mined-block backends (`simulator.py`) remain the
reference: `tests/execution/test_simulate_v1.py` holds this one equal to them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eth_utils import to_checksum_address

from defibots.chain.async_rpc import HttpRpc, RpcReplyError, to_int
from defibots.errors import UserError
from defibots.execution.bundles import Bundle, SignedTx
from defibots.execution.simulation.mined_block import BUILDER_COINBASE
from defibots.execution.simulation.result import (
    TRANSFER_TOPIC,
    BundleSimulationError,
    LogEntry,
    SimulationResult,
    TxSimulation,
    decode_revert_reason,
    token_changes,
)
from defibots.protocols.eip1559 import next_base_fee

ETH_TRANSFER_LOG = str(to_checksum_address("0x" + "ee" * 20))
"""The pseudo-log address eth_simulateV1's traceTransfers reports ETH value transfers from (ERC-7528)."""


class SimulateV1Simulator:
    """Same interface as `AnvilSimulator`; simulates on the upstream node, so nothing needs preparing."""

    backend_name = "eth_simulateV1"
    needs_warming = False

    def __init__(self, upstream_url: str, coinbase: str = BUILDER_COINBASE) -> None:
        self.upstream_url = upstream_url
        self.coinbase = str(to_checksum_address(coinbase))
        self.rpc = HttpRpc(upstream_url)
        self._checked = False

    @property
    def node_url(self) -> str:
        return self.upstream_url

    async def start(self) -> SimulateV1Simulator:
        """Checks once that the node answers eth_simulateV1 (not every RPC does)."""
        if not self._checked:
            try:
                await self.rpc.call("eth_simulateV1", [{"blockStateCalls": [{"calls": []}]}, "latest"])
            except RpcReplyError as exc:
                raise UserError(
                    f"{self.upstream_url} does not answer eth_simulateV1 ({exc.message}); "
                    "simulate on a fork instead (--simulation fork)"
                ) from None
            self._checked = True
        return self

    async def close(self) -> None:
        await self.rpc.close()

    async def __aenter__(self) -> SimulateV1Simulator:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def prepare(self, state_block: int | None = None) -> None:
        """Nothing to re-point: the node holds every state it simulates on."""

    async def warm(self, calls: Sequence[tuple[str, list[Any]]]) -> None:
        """Nothing to fetch ahead: the node's state is local to it."""

    async def simulate(
        self,
        bundle: Bundle,
        state_block: int | None = None,
        timestamp: int | None = None,
        watch: Sequence[str] = (),
        coinbase: str | None = None,
        trace: bool = True,
    ) -> SimulationResult:
        """The bundle at the top of the block after `state_block` (default: latest), at `timestamp`
        (default: the parent's + 1). `trace` is accepted for interface parity: balances are always exact."""
        fee_recipient = str(to_checksum_address(coinbase or self.coinbase))
        tag = hex(state_block) if state_block is not None else "latest"
        senders = list(dict.fromkeys(t.sender for t in bundle.txs))
        parent, pending, *nonces = await self.rpc.batch(
            [("eth_getBlockByNumber", [tag, False]), ("eth_getBlockByNumber", ["pending", False])]
            + [("eth_getTransactionCount", [s, tag]) for s in senders]
        )
        if parent is None:
            raise BundleSimulationError(f"state block {tag} not found at {self.upstream_url}")
        _check_nonces(bundle, dict(zip(senders, (to_int(n) for n in nonces), strict=True)))
        number, parent_time = to_int(parent["number"]), to_int(parent["timestamp"])
        when = timestamp if timestamp is not None else parent_time + 1
        if when < parent_time:
            raise BundleSimulationError(
                f"timestamp {when} is before the state block's timestamp {parent_time}"
            )
        base_fee = _next_base_fee(parent, pending)
        for i, tx in enumerate(bundle.txs):  # anvil's eth_simulateV1 does not check it
            if tx.max_fee_per_gas < base_fee:
                raise BundleSimulationError(
                    f"tx {i} {tx.hash_hex}: fee cap {tx.max_fee_per_gas} is below the base fee {base_fee}"
                )
        overrides = {"number": hex(number + 1), "time": hex(when), "feeRecipient": fee_recipient,
                     "baseFeePerGas": hex(base_fee)}  # fmt: skip
        request = {
            "blockStateCalls": [{"blockOverrides": overrides, "calls": [_call(t) for t in bundle.txs]}],
            "validation": True,
            "traceTransfers": True,
        }
        try:
            (block,) = await self.rpc.call("eth_simulateV1", [request, hex(number)])
        except RpcReplyError as exc:
            raise BundleSimulationError(f"eth_simulateV1: {exc.message}") from None
        results = block.get("calls") or []
        if len(results) != len(bundle.txs):
            raise BundleSimulationError(f"eth_simulateV1 answered {len(results)} calls for {len(bundle.txs)}")
        sims = [
            _tx_result(i, tx, bundle, result, base_fee, fee_recipient)
            for i, (tx, result) in enumerate(zip(bundle.txs, results, strict=True))
        ]
        watched = list(dict.fromkeys(str(to_checksum_address(a)) for a in watch))
        eth_changes = {a: sum(t.eth_changes.get(a, 0) for t in sims) for a in watched}
        return SimulationResult(
            bundle=bundle, state_block=number, block_number=number + 1, timestamp=when, base_fee=base_fee,
            coinbase=fee_recipient, txs=sims, eth_changes=eth_changes,
            token_changes=token_changes(sims, watched), backend=self.backend_name,
        )  # fmt: skip


def _check_nonces(bundle: Bundle, next_nonce: dict[str, int]) -> None:
    """anvil's eth_simulateV1 runs a call whose nonce is ahead of its sender's; a block would not."""
    for i, tx in enumerate(bundle.txs):
        if tx.nonce != next_nonce[tx.sender]:
            raise BundleSimulationError(
                f"tx {i} {tx.hash_hex}: nonce {tx.nonce}, but {tx.sender}'s next is {next_nonce[tx.sender]}"
            )
        next_nonce[tx.sender] += 1


def _next_base_fee(parent: dict[str, Any], pending: Any) -> int:
    """The node's own pending base fee when simulating on its head (anvil's is not always EIP-1559's),
    else EIP-1559's from the parent."""
    if isinstance(pending, dict) and to_int(pending["number"]) == to_int(parent["number"]) + 1:
        return to_int(pending.get("baseFeePerGas") or 0)
    return next_base_fee(
        to_int(parent.get("baseFeePerGas") or 0), to_int(parent["gasUsed"]), to_int(parent["gasLimit"])
    )


def _call(tx: SignedTx) -> dict[str, Any]:
    """The signed transaction as the call eth_simulateV1 validates: every field that changes its run."""
    call: dict[str, Any] = {
        "from": tx.sender, "nonce": hex(tx.nonce), "value": hex(tx.value), "gas": hex(tx.gas),
        "input": "0x" + tx.data.hex(),
    }  # fmt: skip
    if tx.to is not None:
        call["to"] = tx.to
    if tx.tx_type == 2:
        call["maxFeePerGas"] = hex(tx.max_fee_per_gas)
        call["maxPriorityFeePerGas"] = hex(tx.max_priority_fee_per_gas)
    else:
        call["gasPrice"] = hex(tx.max_fee_per_gas)
    if tx.access_list:
        call["accessList"] = [
            {"address": address, "storageKeys": [f"0x{k:064x}" for k in keys]}
            for address, keys in tx.access_list
        ]
    return call


def _error(error: dict[str, Any], output: bytes) -> str:
    """The mined block's wording (its call trace's error): a revert is "execution reverted" whatever the
    node's simulate message; other failures (out of gas, invalid opcode) keep the node's."""
    message = str(error.get("message") or "")
    return "execution reverted" if output or message in ("", "execution failed") else message


def _tx_result(
    index: int, tx: SignedTx, bundle: Bundle, result: dict[str, Any], base_fee: int, coinbase: str
) -> TxSimulation:
    success = to_int(result["status"]) == 1
    gas_used = to_int(result["gasUsed"])
    output = bytes.fromhex(str(result.get("returnData") or "0x")[2:])
    tip = tx.effective_tip(base_fee)
    changes: dict[str, int] = {tx.sender: -gas_used * (base_fee + tip)}
    changes[coinbase] = changes.get(coinbase, 0) + gas_used * tip
    logs = []
    for entry in result.get("logs") or []:
        topics = tuple(bytes.fromhex(t[2:]) for t in entry["topics"])
        data = bytes.fromhex(entry["data"][2:])
        address = str(to_checksum_address(entry["address"]))
        if address == ETH_TRANSFER_LOG and len(topics) == 3 and topics[0] == TRANSFER_TOPIC:
            amount = int.from_bytes(data, "big")
            sender, receiver = (str(to_checksum_address(t[-20:])) for t in topics[1:])
            changes[sender] = changes.get(sender, 0) - amount
            changes[receiver] = changes.get(receiver, 0) + amount
        else:
            logs.append(LogEntry(address=address, topics=topics, data=data))
    error = result.get("error") or {}
    return TxSimulation(
        tx=tx,
        index=index,
        success=success,
        gas_used=gas_used,
        gas_fees=gas_used * tip,
        coinbase_diff=changes.get(coinbase, 0),
        output=output,
        error=None if success else _error(error, output),
        revert_reason=None if success else decode_revert_reason(output),
        allowed_to_revert=bundle.may_revert(tx.hash),
        logs=tuple(logs),
        eth_changes={a: v for a, v in changes.items() if v},
    )
