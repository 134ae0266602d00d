"""Set an anvil node's pending pool aside and put it back (in-place simulation, the local relay's blocks)."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from defibots.chain.async_rpc import HttpRpc, RpcReplyError, to_int


async def stash_pool(rpc: HttpRpc) -> list[str]:
    """Raw bytes of every pending and queued pool tx (nonce order per sender); then empty the pool."""
    content = await rpc.call("txpool_content")
    hashes: list[tuple[int, str, str]] = []
    for section in ("pending", "queued"):
        for sender, by_nonce in (content.get(section) or {}).items():
            for nonce, tx in by_nonce.items():
                hashes.append((int(nonce), sender, tx["hash"]))
    if not hashes:
        return []
    hashes.sort(key=lambda item: (item[1], item[0]))
    raws = await rpc.batch_replies([("eth_getRawTransactionByHash", [h]) for _, _, h in hashes])
    await rpc.call("anvil_dropAllTransactions")
    return [raw for raw in raws if isinstance(raw, str)]


async def restore_pool(rpc: HttpRpc, raws: Sequence[str]) -> None:
    for raw in raws:
        with contextlib.suppress(RpcReplyError):
            await rpc.call("eth_sendRawTransaction", [raw])


async def stash_pool_if_any(rpc: HttpRpc) -> list[str]:
    """`stash_pool`, skipping its two calls when txpool_status says the pool is empty."""
    status = await rpc.call("txpool_status")
    if to_int(status.get("pending", 0)) == 0 and to_int(status.get("queued", 0)) == 0:
        return []
    return await stash_pool(rpc)
