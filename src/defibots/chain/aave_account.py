"""One Aave account read every block: the source a loop rebalancer decides on.

The read is the Pool's own `getUserAccountData` (health factor, collateral and debt in base currency), at
the block just mined, over async HTTP; the event carries it with the block number it holds for.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

from eth_abi import decode, encode
from eth_utils import function_signature_to_4byte_selector

from defibots.chain.async_rpc import HttpRpc, to_int
from defibots.engine import Collector
from defibots.events import Event

ACCOUNT_DATA = function_signature_to_4byte_selector("getUserAccountData(address)")


@dataclass(frozen=True, slots=True)
class AaveAccountRead(Event):
    chain_id: int
    block_number: int
    account: str
    collateral_base: int
    debt_base: int
    liquidation_threshold: int
    """bps, the account's weighted average."""
    ltv: int
    health_factor: int


class AaveAccountPoller(Collector):
    """Polls the head; on each new block reads the account's data at that block."""

    def __init__(
        self, rpc_url: str, chain_id: int, pool: str, account: str, interval_s: float = 0.25
    ) -> None:
        self.rpc_url, self.chain_id, self.pool, self.account = rpc_url, chain_id, pool, account
        self.interval_s = interval_s
        self.last_block = 0

    async def events(self) -> AsyncIterator[Event]:
        data = "0x" + (ACCOUNT_DATA + encode(["address"], [self.account])).hex()
        async with HttpRpc(self.rpc_url) as rpc:
            while True:
                head = to_int(await rpc.call("eth_blockNumber"))
                if head > self.last_block:
                    raw = await rpc.call("eth_call", [{"to": self.pool, "data": data}, hex(head)])
                    c, d, _, lt, ltv, hf = decode(["uint256"] * 6, bytes.fromhex(str(raw)[2:]))
                    self.last_block = head
                    yield AaveAccountRead(self.chain_id, head, self.account, c, d, lt, ltv, hf)
                await asyncio.sleep(self.interval_s)
