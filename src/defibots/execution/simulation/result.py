"""What a bundle simulation answers: per-transaction outcomes, block totals, balance and token changes.

`SimulationResult.call_bundle_response()` renders exactly the eth_callBundle shape; the rest (decoded revert
reasons, logs, balance changes of watched addresses) is what a searcher needs besides.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import keccak, to_checksum_address

from defibots.chain.addresses import TOKENS
from defibots.execution.bundles import Bundle, SignedTx

TRANSFER_TOPIC = keccak(text="Transfer(address,address,uint256)")
WETH_DEPOSIT_TOPIC = keccak(text="Deposit(address,uint256)")
WETH_WITHDRAWAL_TOPIC = keccak(text="Withdrawal(address,uint256)")
ERROR_SELECTOR = keccak(text="Error(string)")[:4]
PANIC_SELECTOR = keccak(text="Panic(uint256)")[:4]
PANIC_CODES = {
    0x00: "generic panic",
    0x01: "assert failed",
    0x11: "arithmetic overflow or underflow",
    0x12: "division or modulo by zero",
    0x21: "invalid enum value",
    0x22: "bad storage byte array encoding",
    0x31: "pop on empty array",
    0x32: "array index out of bounds",
    0x41: "out of memory",
    0x51: "call to a zero-initialized internal function",
}


class BundleSimulationError(Exception):
    """The bundle could not be executed at all (bad nonce, fee cap below base fee, no funds for gas...).

    A transaction that runs and reverts is not this: it is a result with success False.
    """


def decode_revert_reason(data: bytes) -> str | None:
    """Error(string) -> the string, Panic(uint256) -> 'panic 0x11: ...', a custom error -> its selector."""
    if not data:
        return None
    if data[:4] == ERROR_SELECTOR:
        try:
            (reason,) = abi_decode(["string"], data[4:])
            return str(reason)
        except Exception:
            return f"malformed Error(string): 0x{data.hex()}"
    if data[:4] == PANIC_SELECTOR and len(data) >= 36:
        code = int.from_bytes(data[4:36], "big")
        return f"panic 0x{code:02x}: {PANIC_CODES.get(code, 'unknown panic code')}"
    return f"custom error 0x{data[:4].hex()}" if len(data) >= 4 else f"revert data 0x{data.hex()}"


@dataclass(frozen=True)
class LogEntry:
    address: str
    topics: tuple[bytes, ...]
    data: bytes


@dataclass(frozen=True)
class TxSimulation:
    """One transaction's outcome in the simulated block."""

    tx: SignedTx
    index: int
    success: bool
    gas_used: int
    gas_fees: int
    """gasUsed * priority fee actually paid (effective gas price - base fee)."""
    coinbase_diff: int
    output: bytes
    """Return data on success, revert data on failure."""
    error: str | None
    revert_reason: str | None
    allowed_to_revert: bool
    logs: tuple[LogEntry, ...]
    eth_changes: dict[str, int]
    """ETH balance change of every account this transaction touched (gas included)."""

    @property
    def eth_sent_to_coinbase(self) -> int:
        return self.coinbase_diff - self.gas_fees

    @property
    def fatal(self) -> bool:
        """Failed and not listed in revertingTxHashes: the relay would drop the whole bundle."""
        return not self.success and not self.allowed_to_revert

    def call_bundle_entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "coinbaseDiff": str(self.coinbase_diff),
            "ethSentToCoinbase": str(self.eth_sent_to_coinbase),
            "fromAddress": self.tx.sender,
            "gasFees": str(self.gas_fees),
            "gasPrice": str(self.coinbase_diff // self.gas_used),
            "gasUsed": self.gas_used,
            "toAddress": self.tx.to if self.tx.to is not None else "0x",
            "txHash": self.tx.hash_hex,
        }
        if self.success:
            entry["value"] = "0x" + self.output.hex()
        else:
            entry["error"] = self.error or "execution reverted"
            if self.output:
                entry["revert"] = self.revert_reason or ""
        return entry


@dataclass
class SimulationResult:
    bundle: Bundle
    state_block: int
    block_number: int
    timestamp: int
    base_fee: int
    coinbase: str
    txs: list[TxSimulation]
    eth_changes: dict[str, int] = field(default_factory=dict)
    """Block-level ETH balance change per watched address (exact: read before and after)."""
    token_changes: dict[str, dict[str, int]] = field(default_factory=dict)
    """Watched address -> token address -> change, from ERC-20 Transfer (and WETH Deposit/Withdrawal) logs."""
    backend: str = "anvil_bundle"
    """The simulator that answered (its journal name)."""

    @property
    def total_gas_used(self) -> int:
        return sum(t.gas_used for t in self.txs)

    @property
    def coinbase_diff(self) -> int:
        return sum(t.coinbase_diff for t in self.txs)

    @property
    def gas_fees(self) -> int:
        return sum(t.gas_fees for t in self.txs)

    @property
    def eth_sent_to_coinbase(self) -> int:
        return self.coinbase_diff - self.gas_fees

    @property
    def bundle_gas_price(self) -> int:
        return self.coinbase_diff // self.total_gas_used

    @property
    def failed(self) -> list[TxSimulation]:
        """Transactions that reverted although the bundle does not allow it."""
        return [t for t in self.txs if t.fatal]

    @property
    def ok(self) -> bool:
        return not self.failed

    def profit(self, addresses: Iterable[str] | None = None) -> int:
        """Net wei gained by the given (default: watched) addresses: ETH plus WETH, after gas and tips."""
        weth = TOKENS["WETH"].address
        who = list(addresses) if addresses is not None else list(self.eth_changes)
        return sum(self.eth_changes.get(a, 0) + self.token_changes.get(a, {}).get(weth, 0) for a in who)

    def call_bundle_response(self) -> dict[str, Any]:
        """Exactly what eth_callBundle answers (wei amounts as decimal strings)."""
        return {
            "bundleGasPrice": str(self.bundle_gas_price),
            "bundleHash": self.bundle.bundle_hash_hex,
            "coinbaseDiff": str(self.coinbase_diff),
            "ethSentToCoinbase": str(self.eth_sent_to_coinbase),
            "gasFees": str(self.gas_fees),
            "results": [t.call_bundle_entry() for t in self.txs],
            "stateBlockNumber": self.state_block,
            "totalGasUsed": self.total_gas_used,
        }


def token_transfers(logs: Iterable[LogEntry]) -> list[tuple[str, str, str, int]]:
    """(token, from, to, amount) for ERC-20 Transfer logs and WETH Deposit (mint) / Withdrawal (burn)."""
    weth = TOKENS["WETH"].address
    zero = "0x0000000000000000000000000000000000000000"
    out = []
    for log in logs:
        if not log.topics or len(log.data) != 32:
            continue
        amount = int.from_bytes(log.data, "big")
        if log.topics[0] == TRANSFER_TOPIC and len(log.topics) == 3:
            out.append((log.address, _topic_address(log.topics[1]), _topic_address(log.topics[2]), amount))
        elif log.address == weth and len(log.topics) == 2 and log.topics[0] == WETH_DEPOSIT_TOPIC:
            out.append((log.address, zero, _topic_address(log.topics[1]), amount))
        elif log.address == weth and len(log.topics) == 2 and log.topics[0] == WETH_WITHDRAWAL_TOPIC:
            out.append((log.address, _topic_address(log.topics[1]), zero, amount))
    return out


def _topic_address(topic: bytes) -> str:
    return str(to_checksum_address(topic[-20:]))


def token_changes(sims: Sequence[TxSimulation], watched: Sequence[str]) -> dict[str, dict[str, int]]:
    changes: dict[str, dict[str, int]] = {a: {} for a in watched}
    for sim in sims:
        for token, sender, receiver, amount in token_transfers(sim.logs):
            if sender in changes:
                changes[sender][token] = changes[sender].get(token, 0) - amount
            if receiver in changes:
                changes[receiver][token] = changes[receiver].get(token, 0) + amount
    return {a: {t: v for t, v in per.items() if v} for a, per in changes.items()}
