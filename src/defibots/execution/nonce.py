"""Our account's next nonce, kept locally, and the rule for replacing a transaction at the same nonce.

Asking the node for the pending nonce before every send costs a round trip and, worse, answers the same
nonce twice when two sends overlap; a local counter lets a second transaction go out while the first is
still pending. The node is asked once, and again after anything that may have desynced the counter (a
rejected broadcast, a dropped transaction, a replacement that never landed).
"""

from __future__ import annotations

import asyncio

from defibots.chain.async_rpc import AsyncJsonRpc, to_int

REPLACEMENT_BUMP_NUM, REPLACEMENT_BUMP_DEN = 11, 10
"""Nodes accept a transaction at a used nonce only with both fee fields >= 10% above the old ones."""


def replacement_fees(max_fee_per_gas: int, priority_fee_per_gas: int) -> tuple[int, int]:
    """The fee fields of a replacement: each at least 10% above the one it replaces (rounded up, +1 wei
    so a zero tip also moves)."""

    def bump(fee: int) -> int:
        return max(fee + 1, -(-fee * REPLACEMENT_BUMP_NUM // REPLACEMENT_BUMP_DEN))

    return bump(max_fee_per_gas), bump(priority_fee_per_gas)


class NonceManager:
    """Hands out consecutive nonces for one sender; the node's pending count seeds it."""

    def __init__(self, rpc: AsyncJsonRpc, address: str) -> None:
        self.rpc = rpc
        self.address = address
        self._next: int | None = None
        self._lock = asyncio.Lock()

    async def reserve(self) -> int:
        """The nonce for the next transaction (no round trip once seeded)."""
        async with self._lock:
            if self._next is None:
                self._next = to_int(await self.rpc.call("eth_getTransactionCount", [self.address, "pending"]))
            nonce = self._next
            self._next += 1
            return nonce

    def release(self, nonce: int) -> None:
        """A reserved nonce that was not broadcast: hand it out again if it was the last one, else resync."""
        if self._next == nonce + 1:
            self._next = nonce
        else:
            self.resync()

    def resync(self) -> None:
        """Forget the counter: the next reserve asks the node again."""
        self._next = None


class BlockNonce:
    """A bundle sender's nonce for the block after a given head: one query per head. Bundles that miss
    use none, so every bundle built on one head starts at the same nonce."""

    def __init__(self, node: AsyncJsonRpc, sender: str) -> None:
        self.node, self.sender = node, sender
        self._at: tuple[int, int] | None = None  # (state block, the nonce after it)

    async def after(self, state_block: int) -> int:
        if self._at is None or self._at[0] != state_block:
            count = to_int(await self.node.call("eth_getTransactionCount", [self.sender, "latest"]))
            self._at = (state_block, count)
        return self._at[1]
