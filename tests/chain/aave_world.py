"""The Aave store on the replica, for the sync and state tests: load it, feed it the chain's real blocks and
logs, act on the Pool as dev accounts, and compare every entry with the chain to the wei."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from eth_abi import decode, encode
from eth_utils import keccak
from tests.protocols.aave_v3.replica_state import MAX_UINT256, AaveOnChain
from tests.protocols.conftest import JsonRpc as ContractRpc

from defibots.chain import addresses as A
from defibots.chain.aave_addresses import aave_v3_ethereum
from defibots.chain.aave_loader import AaveSnapshot, discover_holders, load_aave
from defibots.chain.listener import LogEvent, parse_header, parse_log
from defibots.chain.rpc import JsonRpc
from defibots.devnet.aave_replica import seeded_address, set_aave_price
from defibots.devnet.node import Devnet
from defibots.protocols.aave_v3.token_math import a_token_balance, debt_balance
from defibots.state.aave import TRACKED_TOPICS, AaveEntry, AaveReserve, aave, aave_market
from defibots.state.aave import account_data as store_account_data
from defibots.state.store import Changes, MarketState

MARKET = aave_v3_ethereum()
SYMBOLS = ("WETH", "USDC", "DAI", "WBTC")


def token(symbol: str) -> str:
    return A.TOKENS[symbol].address


def _call(to: str, signature: str, types: list[str], args: list[Any]) -> tuple[str, list[Any]]:
    data = keccak(text=signature)[:4] + encode(types, args)
    return "eth_call", [{"to": to, "data": "0x" + data.hex()}, "latest"]


def load_store(rpc: JsonRpc, extra_users: Sequence[str] = ()) -> tuple[MarketState, AaveSnapshot]:
    """Every holder found from the token logs (plus `extra_users`), loaded into a fresh store."""
    first = load_aave(rpc, MARKET.pool, MARKET.oracle)
    tokens = [
        t for e in first.entries.values() if isinstance(e, AaveReserve) for t in (e.a_token, e.debt_token)
    ]
    head = int(rpc.call("eth_blockNumber"), 16)
    users = discover_holders(rpc, tokens, 0, head, step=500) + list(extra_users)
    snapshot = load_aave(rpc, MARKET.pool, MARKET.oracle, users)
    return aave_market(MARKET.pool, snapshot.entries.items()), snapshot


def fetch_blocks(rpc: JsonRpc, first: int, last: int) -> list[tuple[Any, list[LogEvent]]]:
    """Headers and every followed log of blocks first..last, as the listener parses them."""
    calls: list[tuple[str, list[Any]]] = []
    for number in range(first, last + 1):
        calls.append(("eth_getBlockByNumber", [hex(number), False]))
        flt = {"topics": [list(TRACKED_TOPICS)], "fromBlock": hex(number), "toBlock": hex(number)}
        calls.append(("eth_getLogs", [flt]))
    replies = rpc.batch(calls)
    return [
        (
            parse_header(replies[2 * i]),
            sorted((parse_log(o) for o in replies[2 * i + 1]), key=lambda e: e.log_index),
        )
        for i in range(last - first + 1)
    ]


def sync(market: MarketState, rpc: JsonRpc, first: int, last: int) -> Changes:
    """Feed blocks first..last (headers to the part's clock, then their logs) into the store."""
    part = aave(market)
    merged: dict[str, dict[str, None]] = {}
    for header, logs in fetch_blocks(rpc, first, last):
        part.observe_block(header.number, header.timestamp)
        for name, keys in market.apply_many(logs).items():
            merged.setdefault(name, {}).update(dict.fromkeys(keys))
    return {name: tuple(keys) for name, keys in merged.items()}


def unstamped(entry: AaveEntry) -> AaveEntry:
    return replace(entry, block_number=0, log_index=0)


def latest_timestamp(rpc: JsonRpc) -> int:
    return int(rpc.call("eth_getBlockByNumber", "latest", False)["timestamp"], 16)


def assert_store_equals_chain(market: MarketState, rpc: JsonRpc) -> int:
    """Every reserve, e-mode and account entry equals a fresh load; each account's getUserAccountData and
    aToken / debt-token balances equal the model's from the store. Returns the accounts checked."""
    part = aave(market)
    users = sorted(part.accounts())
    fresh = load_aave(rpc, MARKET.pool, MARKET.oracle, users)
    assert set(fresh.entries) == set(part.entries)
    for key, entry in fresh.entries.items():
        assert unstamped(part.entries[key]) == unstamped(entry), key
    ts = fresh.timestamp
    reserves = part.reserves()
    calls = [_call(MARKET.pool, "getUserAccountData(address)", ["address"], [u]) for u in users]
    for r in reserves.values():
        calls += [_call(r.a_token, "totalSupply()", [], []), _call(r.debt_token, "totalSupply()", [], [])]
        for u in users:
            calls += [_call(r.a_token, "balanceOf(address)", ["address"], [u])]
            calls += [_call(r.debt_token, "balanceOf(address)", ["address"], [u])]
    replies = iter(rpc.batch(calls))

    def word() -> Any:
        return decode(["uint256"], bytes.fromhex(next(replies)[2:]))[0]

    for u in users:
        chain = decode(["uint256"] * 6, bytes.fromhex(next(replies)[2:]))
        assert store_account_data(part, u, ts).as_tuple() == chain, u
    for asset, r in reserves.items():
        assert (word(), word()) == (r.state.total_a_token_supply(ts), r.state.total_variable_debt(ts)), asset
        income, debt_index = r.state.normalized_income(ts), r.state.normalized_debt(ts)
        for u in users:
            account = part.account(u)
            assert account is not None
            p = account.position(asset)
            assert word() == a_token_balance(p.scaled_a_token, income), (u, asset)
            assert word() == debt_balance(p.scaled_debt, debt_index), (u, asset)
    return len(users)


class Actors:
    """Dev accounts acting on the Pool at random (an action the Pool refuses is simply skipped)."""

    def __init__(self, devnet: Devnet, rng: random.Random, users: range = range(2, 6)) -> None:
        self.devnet, self.rng = devnet, rng
        self.chain = AaveOnChain(ContractRpc(devnet.http_url))
        self.users = [devnet.accounts[i].address for i in users]
        self.liquidator = devnet.accounts[1].address
        for user in [*self.users, self.liquidator]:
            for sym in SYMBOLS:
                self.chain.send(
                    user, token(sym), self.chain.erc20(token(sym)), "approve", MARKET.pool, MAX_UINT256
                )
        self.done: list[str] = []
        self._deck: list[str] = []

    def _try(self, label: str, sender: str, to: str, contract: Any, name: str, *args: Any) -> bool:
        try:
            self.chain.send(sender, to, contract, name, *args)
        except RuntimeError:
            return False
        self.done.append(label)
        return True

    KINDS = ("supply", "borrow", "borrow", "repay", "withdraw", "transfer", "price", "warp", "emode")

    def random_action(self) -> None:
        """The next action from a shuffled deck of every kind (so a short run still does each one)."""
        if not self._deck:
            self._deck = list(self.KINDS)
            self.rng.shuffle(self._deck)
        getattr(self, self._deck.pop())()

    def supply(self) -> None:
        user, sym = self.rng.choice(self.users), self.rng.choice(SYMBOLS)
        amount = int(self.chain.erc20(token(sym)).call("balanceOf", user) * self.rng.uniform(0.01, 0.3))
        if amount:
            self._try(
                f"supply {sym}", user, MARKET.pool, self.chain.pool, "supply", token(sym), amount, user, 0
            )

    def borrow(self) -> None:
        able = [u for u in self.users if self.chain.pool.call("getUserAccountData", u)[2]]
        user, sym = self.rng.choice(able or self.users), self.rng.choice(SYMBOLS)
        available = self.chain.pool.call("getUserAccountData", user)[2]
        price = self.chain.oracle.call("getAssetPrice", token(sym))
        amount = int(available * self.rng.uniform(0.1, 0.7)) * 10 ** A.TOKENS[sym].decimals // price
        if amount:
            self._try(
                f"borrow {sym}", user, MARKET.pool, self.chain.pool, "borrow", token(sym), amount, 2, 0, user
            )

    def _holding(self, debt: bool) -> tuple[str, str, int] | None:
        """A random (user, symbol, balance) among the dev accounts' debts (or aToken balances)."""
        held = []
        for user in self.users:
            for sym in SYMBOLS:
                t = self.chain.debt_token(token(sym)) if debt else self.chain.a_token(token(sym))
                if balance := t.call("balanceOf", user):
                    held.append((user, sym, balance))
        return self.rng.choice(held) if held else None

    def repay(self) -> None:
        if (held := self._holding(debt=True)) is not None:
            user, sym, debt = held
            amount = MAX_UINT256 if self.rng.random() < 0.4 else int(debt * self.rng.uniform(0.1, 0.9))
            self._try(
                f"repay {sym}", user, MARKET.pool, self.chain.pool, "repay", token(sym), amount, 2, user
            )

    def withdraw(self) -> None:
        if (holding := self._holding(debt=False)) is not None:
            user, sym, held = holding
            amount = MAX_UINT256 if self.rng.random() < 0.4 else int(held * self.rng.uniform(0.1, 0.9))
            self._try(
                f"withdraw {sym}", user, MARKET.pool, self.chain.pool, "withdraw", token(sym), amount, user
            )

    def transfer(self) -> None:
        user, sym = self.rng.choice(self.users), self.rng.choice(SYMBOLS)
        to = self.rng.choice([u for u in self.users if u != user])
        a_token = self.chain.a_token(token(sym))
        amount = int(a_token.call("balanceOf", user) * self.rng.uniform(0.1, 1.0))
        if amount:
            self._try(f"aToken transfer {sym}", user, a_token.address, a_token, "transfer", to, amount)

    def price(self) -> None:
        sym = self.rng.choice([*SYMBOLS, "USDT"])
        now = self.chain.oracle.call("getAssetPrice", token(sym))
        set_aave_price(self.devnet.http_url, sym, int(now * self.rng.uniform(0.9, 1.1)))
        self.done.append(f"price {sym}")

    def warp(self) -> None:
        seconds = self.rng.randrange(60, 20 * 86_400)
        self.devnet.rpc("evm_increaseTime", seconds)
        self.devnet.rpc("evm_mine")
        self.done.append(f"warp {seconds}s")

    def emode(self) -> None:
        user = self.rng.choice(self.users)
        category = self.rng.choice([0, 1])
        self._try(f"e-mode {category}", user, MARKET.pool, self.chain.pool, "setUserEMode", category)

    def liquidate(self, borrower_index: int = 0, receive_a_token: bool = False) -> bool:
        """Drop the seeded borrower's WETH collateral price until it is liquidatable, then liquidate it."""
        borrower = seeded_address("borrower", borrower_index)
        pool = self.chain.pool
        while pool.call("getUserAccountData", borrower)[5] >= 10**18:
            now = self.chain.oracle.call("getAssetPrice", token("WETH"))
            set_aave_price(self.devnet.http_url, "WETH", now * 95 // 100)
        debt = next(s for s in SYMBOLS if self.chain.debt_token(token(s)).call("balanceOf", borrower))
        args = (token("WETH"), token(debt), borrower, MAX_UINT256, receive_a_token)
        return self._try(f"liquidate {debt}", self.liquidator, MARKET.pool, pool, "liquidationCall", *args)
