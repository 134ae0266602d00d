"""Load Aave v3.6 reserves, e-mode categories and accounts into the store's entries, in few JSON-RPC batches.

Every read is an eth_call pinned to one block, grouped into batches (five round trips for all reserves,
two for any number of accounts), so a snapshot is consistent. One plan, written once as a generator of
batches, runs over the blocking `JsonRpc` (CLI, tests) and the async `HttpRpc` (reloads inside the
event loop). Accounts are found from the tokens' own logs: every holder received its balance through a
`Mint` (onBehalfOf) or a `BalanceTransfer` (to), so that set is complete, which the state part needs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi import decode, encode
from eth_abi.exceptions import DecodingError
from eth_utils import keccak, to_checksum_address

from defibots.chain.async_rpc import HttpRpc, RpcReplyError, to_int
from defibots.chain.rpc import JsonRpc
from defibots.protocols.aave_v3 import EModeCategory, InterestRateData, ReserveConfiguration, ReserveState
from defibots.state.aave import (
    BALANCE_TRANSFER,
    BORROW,
    SUPPLY,
    TOKEN_MINT,
    AaveAccount,
    AaveEMode,
    AaveEntry,
    AavePosition,
    AaveReserve,
    emode_key,
)
from defibots.state.store import END_OF_BLOCK, PartLoader

RpcCall = tuple[str, list[Any]]


class Probes(list[RpcCall]):
    """A batch whose failing calls answer None instead of raising (reads that only some contracts take)."""


Plan = Generator[list[RpcCall], list[Any], Any]
"""Yields a batch of calls (or `Probes`), is sent their results, and returns what it loaded."""

MAX_EMODE = 255
BATCH_CHUNK = 500
_RESERVE_DATA = "((uint256),uint128,uint128,uint128,uint128,uint128,uint40,uint16,address,address,address,address,uint128,uint128,uint128)"  # noqa: E501


@dataclass(frozen=True)
class AaveSnapshot:
    """Entries read at one block, with that block's time (the store needs it to value accounts)."""

    block_number: int
    timestamp: int
    entries: dict[str, AaveEntry]


def _call(
    to: str, signature: str, types: Sequence[str] = (), args: Sequence[Any] = (), block: str = ""
) -> RpcCall:
    data = keccak(text=signature)[:4] + encode(list(types), list(args))
    return "eth_call", [{"to": to, "data": "0x" + data.hex()}, block]


def _out(types: Sequence[str], raw: str) -> Any:
    values = decode(list(types), bytes.fromhex(raw[2:]))
    return values[0] if len(values) == 1 else values


def _symbol(raw: str) -> str:
    try:
        return str(_out(["string"], raw))
    except (DecodingError, OverflowError, ValueError):  # MKR-style bytes32 symbols
        return bytes.fromhex(raw[2:66]).rstrip(b"\0").decode(errors="replace")


def _address_or_empty(raw: str | None) -> str:
    if not raw or len(raw) != 66:
        return ""
    address = int(raw, 16)
    return to_checksum_address(address.to_bytes(20, "big")) if 0 < address < 2**160 else ""


def _head() -> Plan:
    header = (yield [("eth_getBlockByNumber", ["latest", False])])[0]
    return to_int(header["number"]), to_int(header["timestamp"])


def _reserves_plan(pool: str, oracle: str, block: int) -> Plan:
    """Every listed reserve and every defined e-mode category at `block`."""
    tag = hex(block)
    first = yield [
        _call(pool, "getReservesList()", block=tag),
        *(
            _call(pool, "getEModeCategoryCollateralConfig(uint8)", ["uint8"], [i], tag)
            for i in range(1, MAX_EMODE + 1)
        ),
    ]
    assets = [to_checksum_address(a) for a in _out(["address[]"], first[0])]
    configs = {i + 1: _out(["(uint16,uint16,uint16)"], raw) for i, raw in enumerate(first[1:])}
    e_ids = [i for i, (_, threshold, _) in configs.items() if threshold]
    per_asset = (
        ("getReserveData(address)", pool, [_RESERVE_DATA]),
        ("getVirtualUnderlyingBalance(address)", pool, ["uint128"]),
        ("getReserveDeficit(address)", pool, ["uint256"]),
        ("getLiquidationGracePeriod(address)", pool, ["uint40"]),
        ("getSourceOfAsset(address)", oracle, ["address"]),
    )
    per_emode = (
        ("getEModeCategoryCollateralBitmap(uint8)", ["uint128"]),
        ("getEModeCategoryBorrowableBitmap(uint8)", ["uint128"]),
        ("getEModeCategoryLtvzeroBitmap(uint8)", ["uint128"]),
        ("getEModeCategoryLabel(uint8)", ["string"]),
    )
    calls = [_call(to, sig, ["address"], [a], tag) for a in assets for sig, to, _ in per_asset]
    calls += [_call(a, "symbol()", block=tag) for a in assets]
    calls += [_call(oracle, "getAssetsPrices(address[])", ["address[]"], [assets], tag)]
    calls += [_call(pool, sig, ["uint8"], [i], tag) for i in e_ids for sig, _ in per_emode]
    second = yield calls
    n = len(per_asset)
    raw = {
        a: [_out(types, second[i * n + j]) for j, (_, _, types) in enumerate(per_asset)]
        for i, a in enumerate(assets)
    }
    symbols = [_symbol(r) for r in second[n * len(assets) : (n + 1) * len(assets)]]
    prices = _out(["uint256[]"], second[(n + 1) * len(assets)])
    e_raw = second[(n + 1) * len(assets) + 1 :]
    # a Chainlink proxy names its aggregator, which takes the updates and emits AnswerUpdated
    feeds = yield Probes(_call(raw[a][4], "aggregator()", block=tag) for a in assets)
    third = yield [
        call
        for a in assets
        for call in (
            _call(raw[a][0][11], "getInterestRateDataBps(address)", ["address"], [a], tag),
            _call(raw[a][0][8], "scaledTotalSupply()", block=tag),
            _call(raw[a][0][10], "scaledTotalSupply()", block=tag),
        )
    ]
    entries: dict[str, AaveEntry] = {}
    for i, asset in enumerate(assets):
        data, virtual, deficit, grace, source = raw[asset]
        ((bitmap,), liquidity_index, liquidity_rate, borrow_index, borrow_rate, _, last_update, rid) = data[
            :8
        ]
        rates = _out(["(uint16,uint32,uint32,uint32)"], third[3 * i])
        state = ReserveState(
            asset=asset, id=rid, configuration=ReserveConfiguration.from_bitmap(bitmap),
            rate_strategy=InterestRateData(*rates), liquidity_index=liquidity_index,
            variable_borrow_index=borrow_index, current_liquidity_rate=liquidity_rate,
            current_variable_borrow_rate=borrow_rate, last_update_timestamp=last_update,
            accrued_to_treasury=data[12], virtual_underlying_balance=virtual, deficit=deficit,
            isolation_mode_total_debt=data[14], scaled_a_token_supply=_out(["uint256"], third[3 * i + 1]),
            scaled_variable_debt=_out(["uint256"], third[3 * i + 2]), liquidation_grace_period_until=grace,
        )  # fmt: skip
        entries[asset] = AaveReserve(
            state, prices[i], to_checksum_address(source), to_checksum_address(data[8]),
            to_checksum_address(data[10]), symbols[i], block, END_OF_BLOCK, _address_or_empty(feeds[i]),
        )  # fmt: skip
    for k, category_id in enumerate(e_ids):
        ltv, threshold, bonus = configs[category_id]
        collateral, borrowable, ltv_zero, label = (
            _out(types, e_raw[4 * k + j]) for j, (_, types) in enumerate(per_emode)
        )
        category = EModeCategory(category_id, ltv, threshold, bonus, collateral, borrowable, ltv_zero, label)
        entries[emode_key(category_id)] = AaveEMode(category, block, END_OF_BLOCK)
    return entries


def _accounts_plan(pool: str, reserves: Sequence[AaveReserve], users: Sequence[str], block: int) -> Plan:
    """Scaled balances, collateral flags and e-mode of each user at `block` (one batch)."""
    tag = hex(block)
    per_user = 2 + 2 * len(reserves)
    calls: list[RpcCall] = []
    for user in users:
        calls.append(_call(pool, "getUserConfiguration(address)", ["address"], [user], tag))
        calls.append(_call(pool, "getUserEMode(address)", ["address"], [user], tag))
        for r in reserves:
            calls.append(_call(r.a_token, "scaledBalanceOf(address)", ["address"], [user], tag))
            calls.append(_call(r.debt_token, "scaledBalanceOf(address)", ["address"], [user], tag))
    results = yield calls
    entries: dict[str, AaveEntry] = {}
    for u, user in enumerate(users):
        row = results[u * per_user : (u + 1) * per_user]
        (config,) = _out(["(uint256)"], row[0])
        positions = []
        for k, r in enumerate(reserves):
            supplied, borrowed = _out(["uint256"], row[2 + 2 * k]), _out(["uint256"], row[3 + 2 * k])
            position = AavePosition(supplied, borrowed, bool(config >> (2 * r.state.id + 1) & 1))
            if not position.empty:
                positions.append((r.asset, position))
        key = to_checksum_address(user)
        entries[key] = AaveAccount(
            key, tuple(sorted(positions)), _out(["uint256"], row[1]), block, END_OF_BLOCK
        )
    return entries


def _snapshot_plan(pool: str, oracle: str, users: Iterable[str], block: int | None) -> Plan:
    number, timestamp = yield from _head()
    if block is not None and block != number:
        header = (yield [("eth_getBlockByNumber", [hex(block), False])])[0]
        number, timestamp = block, to_int(header["timestamp"])
    entries: dict[str, AaveEntry] = yield from _reserves_plan(pool, oracle, number)
    reserves = [e for e in entries.values() if isinstance(e, AaveReserve)]
    user_list = list(dict.fromkeys(to_checksum_address(u) for u in users))
    if user_list:
        entries.update((yield from _accounts_plan(pool, reserves, user_list, number)))
    return AaveSnapshot(number, timestamp, entries)


def _chunks(calls: list[RpcCall]) -> list[list[RpcCall]]:
    return [calls[i : i + BATCH_CHUNK] for i in range(0, len(calls), BATCH_CHUNK)]


def run_plan(rpc: JsonRpc, plan: Plan) -> Any:
    """Drive a plan over the blocking transport."""
    try:
        calls = next(plan)
        while True:
            if isinstance(calls, Probes):
                replies = rpc.batch_replies(calls, BATCH_CHUNK)
                results = [r.get("result") if isinstance(r, dict) else None for r in replies]
            else:
                results = [r for chunk in _chunks(calls) for r in rpc.batch(chunk)]
            calls = plan.send(results)
    except StopIteration as done:
        return done.value


async def run_plan_async(rpc: HttpRpc, plan: Plan) -> Any:
    """Drive a plan over the async transport."""
    try:
        calls = next(plan)
        while True:
            if isinstance(calls, Probes):
                replies = [r for chunk in _chunks(calls) for r in await rpc.batch_replies(chunk)]
                results = [None if isinstance(r, RpcReplyError) else r for r in replies]
            else:
                results = [r for chunk in _chunks(calls) for r in await rpc.batch(chunk)]
            calls = plan.send(results)
    except StopIteration as done:
        return done.value


def load_aave(
    rpc: JsonRpc, pool: str, oracle: str, users: Iterable[str] = (), block: int | None = None
) -> AaveSnapshot:
    """Reserves, e-mode categories and `users`' accounts at `block` (default: the latest)."""
    result: AaveSnapshot = run_plan(rpc, _snapshot_plan(pool, oracle, users, block))
    return result


async def load_aave_async(
    rpc: HttpRpc, pool: str, oracle: str, users: Iterable[str] = (), block: int | None = None
) -> AaveSnapshot:
    result: AaveSnapshot = await run_plan_async(rpc, _snapshot_plan(pool, oracle, users, block))
    return result


def aave_part_loader(
    rpc_url: str, pool: str, oracle: str, users: Callable[[], Iterable[str]]
) -> PartLoader[AaveEntry]:
    """The StateCollector's reload for the Aave part: reserves plus the accounts `users()` names now."""

    async def load() -> dict[str, AaveEntry]:
        async with HttpRpc(rpc_url) as rpc:
            return (await load_aave_async(rpc, pool, oracle, list(users()))).entries

    loader: Callable[[], Awaitable[dict[str, AaveEntry]]] = load
    return loader


# ---------------------------------------------------------------------------------------------------------
# Discovery from logs


def _log_ranges(first: int, last: int, step: int) -> list[tuple[int, int]]:
    return [(start, min(start + step - 1, last)) for start in range(first, last + 1, step)]


def _topic_users(logs: Iterable[dict[str, Any]], position: int) -> list[str]:
    return [to_checksum_address("0x" + log["topics"][position][-40:]) for log in logs]


def discover_holders(
    rpc: JsonRpc, tokens: Sequence[str], first_block: int, last_block: int, step: int = 10_000
) -> list[str]:
    """Every address that ever received aTokens or debt tokens of `tokens` in the block range (from each
    token's Mint and BalanceTransfer logs; eth_getLogs in ranges of `step` blocks, batched)."""
    calls: list[RpcCall] = [
        ("eth_getLogs", [{"address": list(tokens), "topics": [[TOKEN_MINT, BALANCE_TRANSFER]],
                          "fromBlock": hex(a), "toBlock": hex(b)}])
        for a, b in _log_ranges(first_block, last_block, step)
    ]  # fmt: skip
    users = [u for chunk in _chunks(calls) for logs in rpc.batch(chunk) for u in _topic_users(logs, 2)]
    return list(dict.fromkeys(users))


def discover_borrowers(
    rpc: JsonRpc, pool: str, first_block: int, last_block: int, step: int = 10_000, supply: bool = False
) -> list[str]:
    """Addresses that borrowed (and supplied, with `supply`) on behalf of themselves or others, from the
    Pool's Borrow / Supply logs (onBehalfOf is topic 2 of both)."""
    topics = [BORROW, SUPPLY] if supply else [BORROW]
    calls: list[RpcCall] = [
        ("eth_getLogs", [{"address": pool, "topics": [topics], "fromBlock": hex(a), "toBlock": hex(b)}])
        for a, b in _log_ranges(first_block, last_block, step)
    ]
    users = [u for chunk in _chunks(calls) for logs in rpc.batch(chunk) for u in _topic_users(logs, 2)]
    return list(dict.fromkeys(users))
