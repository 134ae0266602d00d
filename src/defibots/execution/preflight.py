"""The one round trip before a public executor transaction: eth_call, eth_estimateGas and
eth_createAccessList of the same call, in one JSON-RPC batch.

That batch is the whole simulation the send needs (profit, gas limit, access list); nonce and fees are
local (nonce.py, the opportunity's fee fields), so nothing else stands between the decision and the
broadcast. The access list is kept only when the node says it lowers the gas used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import to_checksum_address

from defibots.chain.async_rpc import HttpRpc, RpcReplyError, to_int
from defibots.execution.executor_client import ErrorDecoder, ExecutorRevert

GAS_MARGIN_NUM, GAS_MARGIN_DEN = 12, 10
"""Gas limit = estimate * 1.2: state can move between simulation and inclusion."""


@dataclass(frozen=True)
class Preflight:
    """What execute(route) does now, from `sender`: its profit, the gas limit to send, the access list."""

    profit: int
    gas: int
    """eth_estimateGas without the list (what the journal's simulation row records)."""
    gas_limit: int
    access_list: tuple[dict[str, Any], ...]


def _revert_bytes(error: RpcReplyError) -> bytes:
    data = error.data
    if isinstance(data, dict):
        data = data.get("data")
    if isinstance(data, str) and data.startswith("0x"):
        try:
            return bytes.fromhex(data[2:])
        except ValueError:
            return b""
    return b""


async def preflight(
    rpc: HttpRpc, errors: ErrorDecoder, sender: str, to: str, data: bytes, block: str = "latest"
) -> Preflight:
    """Simulate the call; a revert (of any of the three) raises ExecutorRevert with the decoded reason."""
    call = {"from": to_checksum_address(sender), "to": to_checksum_address(to), "data": "0x" + data.hex()}
    out, estimate, listed = await rpc.batch_replies(
        [
            ("eth_call", [call, block]),
            ("eth_estimateGas", [call, block]),
            ("eth_createAccessList", [call, block]),
        ]
    )
    for reply in (out, estimate):
        if isinstance(reply, RpcReplyError):
            raw = _revert_bytes(reply)
            raise ExecutorRevert(errors.decode(raw), raw)
    (profit,) = abi_decode(["uint256"], bytes.fromhex(str(out).removeprefix("0x")))
    gas = to_int(estimate)
    entries: tuple[dict[str, Any], ...] = ()
    if isinstance(listed, dict) and not listed.get("error"):
        warm = {to.lower(), sender.lower()}
        entries = tuple(
            {"address": e["address"], "storageKeys": list(e["storageKeys"])}
            for e in listed.get("accessList", [])
            if str(e["address"]).lower() not in warm
        )
        if not entries or to_int(listed.get("gasUsed", gas)) >= gas:
            entries = ()
    return Preflight(int(profit), gas, gas * GAS_MARGIN_NUM // GAS_MARGIN_DEN, entries)
