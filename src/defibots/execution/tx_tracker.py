"""Follows broadcast transactions to their receipts, once per block, away from the send path.

The send path returns at broadcast; this tracker (one asyncio task, like the bundle path's inclusion
tracker) polls the head and, on each new block, asks for every pending transaction's receipts in one
JSON-RPC batch. What it finds goes to a `TxOutcomes` handler (the executor, which journals it):

- a receipt for any hash sent at the nonce (the original or a replacement): `mined`, whatever its status;
- no receipt `timeout_s` after the broadcast: `timed_out`, once; tracking goes on, so the next block
  check that finds the receipt still resolves it;
- still pending `stuck_blocks` blocks after the last broadcast at that nonce: `stuck` (replace or drop);
- the account's mined nonce passed ours with no receipt for any of our hashes, still so at a later block:
  `dropped` (another transaction of ours took the nonce). A node can answer the new head before the
  receipt of a transaction in it, so until then such a transaction is re-checked at every poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from defibots.chain.async_rpc import HttpRpc, RpcConnectionError, RpcReplyError, to_int

log = logging.getLogger(__name__)


@dataclass
class TrackedTx:
    """One nonce of ours in flight: every hash broadcast at it, newest last, and the fees of the newest."""

    send_id: int
    nonce: int
    hashes: list[str]
    max_fee_per_gas: int
    priority_fee_per_gas: int
    sent_block: int
    """The head when the newest hash was broadcast: stuck_blocks count from here."""
    sent_at: float = field(default_factory=time.monotonic)
    timed_out: bool = False
    nonce_used_at: int | None = None
    """The first head at which our mined nonce had passed this one while no receipt was found."""
    context: Any = None
    """Whatever the handler needs to settle it (the opportunity, the profit token)."""


class TxOutcomes(Protocol):
    def mined(self, tx: TrackedTx, receipt: dict[str, Any]) -> None: ...

    def timed_out(self, tx: TrackedTx) -> None: ...

    def dropped(self, tx: TrackedTx, head: int) -> None: ...

    async def stuck(self, tx: TrackedTx, head: int) -> None: ...


class ReceiptTracker:
    """Polls the head every `poll_interval` s; checks receipts once per new block."""

    def __init__(
        self,
        rpc: HttpRpc,
        address: str,
        outcomes: TxOutcomes,
        poll_interval: float = 0.1,
        timeout_s: float = 120.0,
        stuck_blocks: int = 3,
    ) -> None:
        self.rpc = rpc
        self.address = address
        self.outcomes = outcomes
        self.poll_interval = poll_interval
        self.timeout_s = timeout_s
        self.stuck_blocks = stuck_blocks
        self.pending: dict[int, TrackedTx] = {}
        self._last_head = -1
        self._task: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()

    def add(self, tx: TrackedTx) -> None:
        self.pending[tx.nonce] = tx
        self._idle.clear()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="receipt-tracker")

    async def settle(self, timeout_s: float) -> bool:
        """Wait until nothing is pending (True) or `timeout_s` passes (False)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self._idle.wait()
        return not self.pending

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while self.pending:
            try:
                head = to_int(await self.rpc.call("eth_blockNumber"))
                suspect = any(tx.nonce_used_at is not None for tx in self.pending.values())
                if head != self._last_head or suspect:
                    self._last_head = head
                    await self.check(head)
                self._check_timeouts()
            except (RpcConnectionError, RpcReplyError) as exc:
                log.warning("receipt tracker: %s", exc)  # the next poll retries
            except Exception:  # a bug settling one outcome must not stop the others being tracked
                log.exception("receipt tracker failed on block %s", self._last_head)
            if self.pending:
                await asyncio.sleep(self.poll_interval)
        self._idle.set()

    async def check(self, head: int) -> None:
        """One block's check: receipts of every pending hash and our mined nonce, in one batch."""
        txs = list(self.pending.values())
        calls: list[tuple[str, list[Any]]] = [
            ("eth_getTransactionReceipt", [h]) for tx in txs for h in tx.hashes
        ]
        calls.append(("eth_getTransactionCount", [self.address, hex(head)]))
        replies = await self.rpc.batch_replies(calls)
        mined_nonce = replies[-1]
        i = 0
        for tx in txs:
            found = [r for r in replies[i : i + len(tx.hashes)] if isinstance(r, dict)]
            i += len(tx.hashes)
            if found:
                del self.pending[tx.nonce]
                self.outcomes.mined(tx, found[0])
            elif not isinstance(mined_nonce, RpcReplyError) and to_int(mined_nonce) > tx.nonce:
                if tx.nonce_used_at is None:
                    tx.nonce_used_at = head
                elif head > tx.nonce_used_at:
                    del self.pending[tx.nonce]
                    self.outcomes.dropped(tx, head)
            elif head - tx.sent_block >= self.stuck_blocks:
                await self.outcomes.stuck(tx, head)

    def _check_timeouts(self) -> None:
        now = time.monotonic()
        for tx in list(self.pending.values()):
            if not tx.timed_out and now - tx.sent_at > self.timeout_s:
                tx.timed_out = True
                self.outcomes.timed_out(tx)
