"""Random action sequences on the Aave v3.6 replica, every step predicted by the model and checked on chain.

Each sequence starts from one base snapshot (a few dev accounts with positions, the seeded borrowers) and
runs 2-4 random steps: supply, borrow, repay, withdraw, setUserEMode, a time warp, a price move, or a
liquidationCall (aTokens or underlying out). The model predicts each action first - its outcome or its
revert - then the transaction is sent; a predicted revert must revert on chain with the same error.
After every step the touched reserves (getReserveData and the token supplies), the acting accounts
(getUserAccountData, configuration, e-mode, scaled and accrued aToken/debt balances, wallets), the
liquidation transfers (from the receipt's logs) and the LiquidationDataProvider's answers are compared
with the model, to the wei.

Speed: the replica itself mines a block in ~20 ms (anvil recomputes the state root of its large state
every block), so the sequences run on an anvil *forked from the session replica* (same contracts and
state, read lazily from it), where a block takes ~1 ms; each sequence is evm_revert-ed to the base.

The provider is mirrored from the model's primitives (it floors debt in base where the Pool ceils, and
shrinks a dust-leaving liquidation instead of reverting). Two of its v3.6 behaviours show up here and are
checked rather than assumed away: its amountToPassToLiquidationCall can be refused by the Pool with
MustNotLeaveDust (see the focused test at the end), and its dust shrinking can underflow (Panic 0x11).

AAVE_PARITY_SEED (default below) and AAVE_PARITY_SEQUENCES (default 1000) pick the run; the seed is
printed. AAVE_PARITY_ONLY=<index> replays a single sequence of that seed.
"""

from __future__ import annotations

import copy
import os
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields, is_dataclass, replace
from typing import Any

import pytest
from eth_abi import decode, encode
from eth_utils import keccak, to_checksum_address

from defibots.chain import addresses as A
from defibots.devnet.aave_params import aave_params
from defibots.devnet.aave_replica import seeded_address, set_aave_price
from defibots.devnet.node import Devnet
from defibots.foundry.anvil import AnvilConfig, AnvilNode
from defibots.protocols.aave_v3 import (
    WAD,
    AaveV3Revert,
    EModeCategory,
    InterestRateData,
    ReserveConfiguration,
    ReserveState,
    UserReserve,
    borrow,
    calculate_available_collateral_to_liquidate,
    isolated_debt_after_borrow,
    isolation_mode,
    liquidation_call,
    max_liquidatable_debt,
    repay,
    supply,
    user_account_data,
    user_reserve_ltv,
    validate_borrow_health,
    withdraw,
)
from defibots.protocols.aave_v3.errors import PANIC_OVERFLOW
from defibots.protocols.aave_v3.liquidation import MIN_LEFTOVER_BASE
from defibots.protocols.aave_v3.math import mul_div_ceil, percent_div, percent_div_ceil, percent_mul

from ..conftest import JsonRpc
from .aave_abi import Contract, artifact, revert_reason
from .replica_state import MARKET, MAX_UINT256, AaveOnChain, token

pytestmark = pytest.mark.devnet

SEED = int(os.environ.get("AAVE_PARITY_SEED", "20261203"))
SEQUENCES = int(os.environ.get("AAVE_PARITY_SEQUENCES", "1000"))
ONLY = os.environ.get("AAVE_PARITY_ONLY")
SYMBOLS = ("WETH", "WBTC", "USDC", "DAI", "USDT")
PARAMS = aave_params()


def topic(signature: str) -> str:
    return "0x" + keccak(text=signature).hex()


TRANSFER = topic("Transfer(address,address,uint256)")
BALANCE_TRANSFER = topic("BalanceTransfer(address,address,uint256,uint256)")
LIQUIDATION_CALL = topic("LiquidationCall(address,address,address,uint256,uint256,address,bool)")
DEFICIT_CREATED = topic("DeficitCreated(address,address,uint256)")


# ----------------------------------------------------------------------------------------------------
# Chain access: one forked node, batched reads, transactions at a chosen timestamp.


@dataclass(frozen=True)
class Fork:
    rpc: JsonRpc
    url: str


@pytest.fixture
def fork(devnet: Devnet) -> Iterator[Fork]:
    """An anvil forked from the session replica (which `devnet` keeps at its snapshot)."""
    with AnvilNode(AnvilConfig(fork_url=devnet.http_url)) as node:
        rpc = JsonRpc(node.http_url)
        try:
            yield Fork(rpc, node.http_url)
        finally:
            rpc.close()


class Reads:
    """eth_calls (and a block read) collected and sent as one JSON-RPC batch."""

    def __init__(self, rpc: JsonRpc) -> None:
        self.rpc = rpc
        self.calls: list[tuple[str, list[Any]]] = []
        self.decoders: list[Callable[[Any], Any]] = []
        self.may_revert: set[int] = set()

    def call(self, contract: Contract, name: str, *args: Any, may_revert: bool = False) -> int:
        """Queue a view call; with `may_revert` a revert comes back as AaveV3Revert(reason)."""
        data = "0x" + contract.calldata(name, *args).hex()
        self.calls.append(("eth_call", [{"to": contract.address, "data": data}, "latest"]))
        self.decoders.append(lambda result: contract.decode(name, bytes.fromhex(result[2:])))
        if may_revert:
            self.may_revert.add(len(self.calls) - 1)
        return len(self.calls) - 1

    def block_timestamp(self) -> int:
        self.calls.append(("eth_getBlockByNumber", ["latest", False]))
        self.decoders.append(lambda block: int(block["timestamp"], 16))
        return len(self.calls) - 1

    def run(self) -> list[Any]:
        replies = self.rpc.batch(self.calls)
        out = []
        for i, ((method, params), reply, decoder) in enumerate(
            zip(self.calls, replies, self.decoders, strict=True)
        ):
            if "error" in reply:
                if i in self.may_revert and reply["error"].get("code") == 3:
                    data = bytes.fromhex((reply["error"].get("data") or "0x")[2:])
                    out.append(AaveV3Revert(revert_reason(data)))
                    continue
                raise RuntimeError(f"{method} {params}: {reply['error']}")
            out.append(decoder(reply["result"]))
        return out


@dataclass
class Sent:
    receipt: dict[str, Any]
    ok: bool
    revert_data: bytes = b""


class Chain:
    """The Pool, its tokens, the oracle and the LiquidationDataProvider on the fork."""

    def __init__(self, rpc: JsonRpc) -> None:
        self.rpc = rpc
        self.on = AaveOnChain(rpc)
        self.pool = self.on.pool
        self.oracle = self.on.oracle
        self.strategy = self.on.strategy
        self.assets = self.on.assets
        self.a = {a: self.on.a_token(a) for a in self.assets}
        self.d = {a: self.on.debt_token(a) for a in self.assets}
        self.erc20 = {a: self.on.erc20(a) for a in self.assets}
        abi = artifact("LiquidationDataProvider")["abi"]
        info = [i for i in abi if i.get("name") == "getLiquidationInfo"]
        rest = [i for i in abi if i.get("name") != "getLiquidationInfo"]
        address = MARKET.liquidation_data_provider
        self.ldp = Contract(rpc, rest + [i for i in info if len(i["inputs"]) == 3], address)
        self.ldp_amount = Contract(rpc, [i for i in info if len(i["inputs"]) == 4], address)
        self.treasury = to_checksum_address(self.a[self.assets[0]].call("RESERVE_TREASURY_ADDRESS"))

    def send(self, sender: str, to: str, data: bytes, timestamp: int) -> Sent:
        """A transaction mined alone in a block at `timestamp`; a revert comes back with its data (an
        eth_call of the same tx at that block, whose state is the pre-tx state)."""
        self.rpc.call("evm_setNextBlockTimestamp", [timestamp])
        tx = {"from": sender, "to": to, "data": "0x" + data.hex(), "gas": hex(3_000_000)}
        tx_hash = self.rpc.call("eth_sendTransaction", [tx])
        for _ in range(100_000):
            receipt: dict[str, Any] | None = self.rpc.call("eth_getTransactionReceipt", [tx_hash])
            if receipt is not None:
                break
        else:
            raise RuntimeError("transaction never mined")
        if receipt["status"] == "0x1":
            return Sent(receipt, True)
        del tx["gas"]
        reply = self.rpc.batch([("eth_call", [tx, "latest"])])[0]
        assert "error" in reply, "a transaction reverted but its eth_call does not"
        data_hex = reply["error"].get("data") or "0x"
        return Sent(receipt, False, bytes.fromhex(data_hex[2:]))

    def pool_tx(self, sender: str, timestamp: int, name: str, *args: Any) -> Sent:
        return self.send(sender, MARKET.pool, self.pool.calldata(name, *args), timestamp)


# ----------------------------------------------------------------------------------------------------
# The model's world: reserves, prices, accounts, and the Pool's account-level checks built on the model.


@dataclass
class Account:
    scaled_a: dict[str, int]
    scaled_d: dict[str, int]
    collateral: dict[str, bool]
    borrowing: dict[str, bool]
    e_mode: int
    wallet: dict[str, int]


@dataclass
class World:
    ts: int
    reserves: dict[str, ReserveState]
    prices: dict[str, int]
    accounts: dict[str, Account]
    e_modes: dict[int, EModeCategory]
    treasury_scaled: dict[str, int]
    order: list[str]
    """Assets by reserve id."""
    tokens: dict[str, tuple[str, str]]
    """Asset -> (aToken, variable debt token)."""

    def e_mode(self, user: str, category: int | None = None) -> EModeCategory | None:
        c = self.accounts[user].e_mode if category is None else category
        return None if c == 0 else self.e_modes.get(c)

    def positions(self, user: str) -> list[UserReserve]:
        acc = self.accounts[user]
        return [
            UserReserve(
                reserve=self.reserves[a],
                price=self.prices[a],
                scaled_a_token_balance=acc.scaled_a[a],
                scaled_variable_debt=acc.scaled_d[a],
                using_as_collateral=acc.collateral[a],
                borrowing=acc.borrowing[a],
            )
            for a in self.order
        ]

    def account_data(self, user: str, category: int | None = None) -> Any:
        return user_account_data(self.positions(user), self.ts, self.e_mode(user, category))

    def set_positions(self, user: str, positions: tuple[UserReserve, ...] | list[UserReserve]) -> None:
        acc = self.accounts[user]
        for p in positions:
            a = p.reserve.asset
            acc.scaled_a[a], acc.scaled_d[a] = p.scaled_a_token_balance, p.scaled_variable_debt
            acc.collateral[a], acc.borrowing[a] = p.using_as_collateral, p.borrowing

    def config_bitmap(self, user: str) -> int:
        acc, bits = self.accounts[user], 0
        for a in self.order:
            rid = self.reserves[a].id
            bits |= int(acc.borrowing[a]) << (2 * rid) | int(acc.collateral[a]) << (2 * rid + 1)
        return bits


@dataclass(frozen=True)
class Expected:
    """A revert the model predicts: the error's name and, when the model knows them, its encoded args."""

    reason: str
    args: bytes | None = None


def model_revert(exc: AaveV3Revert) -> Expected:
    return Expected(exc.reason)


def auto_collateral(world: World, user: str, reserve: ReserveState) -> bool:
    """ValidationLogic.validateAutomaticUseAsCollateral for a first supply."""
    if reserve.configuration.debt_ceiling != 0 or user_reserve_ltv(reserve, world.e_mode(user)) == 0:
        return False
    positions = world.positions(user)
    return not any(p.using_as_collateral for p in positions) or not isolation_mode(positions).active


def check_health_after(world: World, user: str, positions: list[UserReserve]) -> None:
    """validateHealthFactor on `positions` (HF >= 1)."""
    account = user_account_data(positions, world.ts, world.e_mode(user))
    if account.health_factor < WAD:
        raise AaveV3Revert("HealthFactorLowerThanLiquidationThreshold")


class EModeRevert(AaveV3Revert):
    def __init__(self, reason: str, asset: str, category: int) -> None:
        super().__init__(reason)
        self.args_data = encode(["address", "uint8"], [asset, category])


def validate_set_user_e_mode(world: World, user: str, category: int) -> None:
    """ValidationLogic.validateSetUserEMode, then validateHealthFactor in the new category."""
    target = world.e_modes.get(category)
    if category != 0 and (target is None or target.liquidation_threshold == 0):
        raise AaveV3Revert("InconsistentEModeCategory")
    acc = world.accounts[user]
    e_mode = None if category == 0 else target
    for a in world.order:
        r = world.reserves[a]
        borrowable = e_mode.is_borrowable(r.id) if e_mode else r.configuration.borrowing_enabled
        if acc.borrowing[a] and not borrowable:
            raise EModeRevert("InvalidDebtInEmode", a, category)
        if acc.collateral[a] and user_reserve_ltv(r, e_mode) == 0:
            raise EModeRevert("InvalidCollateralInEmode", a, category)
    account = user_account_data(world.positions(user), world.ts, e_mode)
    if account.health_factor < WAD:
        raise AaveV3Revert("HealthFactorLowerThanLiquidationThreshold")


# ----------------------------------------------------------------------------------------------------
# LiquidationDataProvider's answer, from the model's state (its own rounding: debt in base rounds down,
# and it shrinks a liquidation that would leave dust instead of reverting).


def ldp_expected(
    world: World, user: str, collateral: str, debt: str, amount: int
) -> tuple[tuple[Any, ...], bool]:
    """getLiquidationInfo(user, collateral, debt, amount) flattened, and whether it shrank the amounts
    (_adjustAmountsForGoodLeftovers)."""
    positions = world.positions(user)
    by = {p.reserve.asset: p for p in positions}
    cp, dp = by[collateral], by[debt]
    account = user_account_data(positions, world.ts, world.e_mode(user))
    c_unit, d_unit = cp.reserve.configuration.unit, dp.reserve.configuration.unit
    c_bal, d_bal = cp.a_token_balance(world.ts), dp.debt(world.ts)
    c_base, d_base = c_bal * cp.price // c_unit, d_bal * dp.price // d_unit
    head = (
        *account.as_tuple(),
        world.tokens[collateral][0],
        c_bal,
        c_base,
        cp.price,
        c_unit,
        world.tokens[debt][1],
        d_bal,
        d_base,
        dp.price,
        d_unit,
    )
    zero = (*head, 0, 0, 0, 0)

    def ready(r: ReserveState) -> bool:
        c = r.configuration
        return c.active and not c.paused and r.liquidation_grace_period_until < world.ts

    if d_bal == 0 or account.health_factor >= WAD:
        return zero, False
    if not (ready(cp.reserve) and ready(dp.reserve)) or not cp.using_as_collateral:
        return zero, False
    e_mode = world.e_mode(user)
    bonus = (
        e_mode.liquidation_bonus
        if e_mode is not None and e_mode.is_collateral(cp.reserve.id)
        else cp.reserve.configuration.liquidation_bonus
    )
    fee_pct = cp.reserve.configuration.liquidation_protocol_fee
    max_debt = max_liquidatable_debt(
        reserve_debt=d_bal,
        reserve_debt_in_base=d_base,
        reserve_collateral_in_base=c_base,
        total_debt_in_base=account.total_debt_base,
        health_factor=account.health_factor,
        debt_price=dp.price,
        debt_unit=d_unit,
    )
    amounts = calculate_available_collateral_to_liquidate(
        collateral_price=cp.price,
        collateral_unit=c_unit,
        debt_price=dp.price,
        debt_unit=d_unit,
        debt_to_cover=min(max_debt, amount),
        collateral_balance=c_bal,
        liquidation_bonus=bonus,
        liquidation_protocol_fee=fee_pct,
    )
    coll, dbt, fee = amounts.collateral_amount, amounts.debt_amount_needed, amounts.protocol_fee
    adjusted = False
    if coll + fee < c_bal and dbt < d_bal:  # _adjustAmountsForGoodLeftovers
        c_left = (c_bal - coll - fee) * cp.price // c_unit
        d_left = (d_bal - dbt) * dp.price // d_unit
        if c_left < MIN_LEFTOVER_BASE or d_left < MIN_LEFTOVER_BASE:
            adjusted = True
            c_dec = MIN_LEFTOVER_BASE - c_left if c_left < MIN_LEFTOVER_BASE else 0
            d_dec = MIN_LEFTOVER_BASE - d_left if d_left < MIN_LEFTOVER_BASE else 0
            # checked subtractions: a shrink larger than the amount underflows (the provider reverts)
            if c_dec > d_dec:
                coll = sub_checked(coll, c_dec * c_unit // cp.price)
                dbt = percent_div_ceil(cp.price * coll * d_unit // (dp.price * c_unit), bonus)
            else:
                dbt = sub_checked(dbt, d_dec * d_unit // dp.price)
                coll = percent_mul(dp.price * dbt * c_unit // (cp.price * d_unit), bonus)
            if fee_pct != 0:
                fee = percent_mul(coll - percent_div(coll, bonus), fee_pct)
                coll -= fee
    to_pass = MAX_UINT256 if (dbt != 0 and dbt == d_bal) or (coll != 0 and coll == c_bal) else dbt
    return (*head, coll, dbt, fee, to_pass), adjusted


def sub_checked(a: int, b: int) -> int:
    if b > a:
        raise AaveV3Revert(PANIC_OVERFLOW, "uint256 underflow")
    return a - b


def flatten_ldp(info: Any) -> tuple[int, ...]:
    user, coll, debt, *rest = info
    return (*user, *(to_checksum_address(x) if isinstance(x, str) else x for x in (*coll, *debt)), *rest)


# ----------------------------------------------------------------------------------------------------
# The runner.


class Mismatch(AssertionError):
    pass


def same(label: str, model: Any, chain: Any) -> None:
    """Equal, or a Mismatch naming what differs (the differing fields of two dataclasses)."""
    if model == chain:
        return
    if is_dataclass(model) and type(model) is type(chain):
        diffs = [
            f"{f.name}: model {getattr(model, f.name)!r} != chain {getattr(chain, f.name)!r}"
            for f in fields(model)
            if getattr(model, f.name) != getattr(chain, f.name)
        ]
        raise Mismatch(f"{label}: " + "; ".join(diffs))
    raise Mismatch(f"{label}: model {model!r} != chain {chain!r}")


class Runner:
    def __init__(self, chain: Chain, url: str, liquidator: str, base: World) -> None:
        self.chain, self.url, self.liquidator, self.base = chain, url, liquidator, base
        self.stats: Counter[str] = Counter()
        self.log: list[str] = []

    # -- verification after each step --------------------------------------------------------------

    def verify(
        self,
        w: World,
        assets: set[str],
        users: set[str],
        ldp_pairs: list[tuple[str, str, str, int | None]],
        prices: set[str] | None = None,
        treasury: set[str] | None = None,
    ) -> None:
        c, reads = self.chain, Reads(self.chain.rpc)
        ts_i = reads.block_timestamp()
        res_i = {}
        for a in sorted(assets):
            res_i[a] = [
                reads.call(c.pool, "getReserveData", a),
                reads.call(c.strategy, "getInterestRateDataBps", a),
                reads.call(c.pool, "getVirtualUnderlyingBalance", a),
                reads.call(c.pool, "getReserveDeficit", a),
                reads.call(c.a[a], "scaledTotalSupply"),
                reads.call(c.d[a], "scaledTotalSupply"),
                reads.call(c.pool, "getLiquidationGracePeriod", a),
                reads.call(c.a[a], "totalSupply"),
                reads.call(c.d[a], "totalSupply"),
            ]
        user_i = {}
        for u in sorted(users):
            acc = w.accounts[u]
            watch = [a for a in w.order if a in assets or acc.scaled_a[a] or acc.scaled_d[a]]
            user_i[u] = (
                reads.call(c.pool, "getUserAccountData", u),
                reads.call(c.pool, "getUserConfiguration", u),
                reads.call(c.pool, "getUserEMode", u),
                {
                    a: [
                        reads.call(c.a[a], "scaledBalanceOf", u),
                        reads.call(c.a[a], "balanceOf", u),
                        reads.call(c.d[a], "scaledBalanceOf", u),
                        reads.call(c.d[a], "balanceOf", u),
                        reads.call(c.erc20[a], "balanceOf", u),
                    ]
                    for a in watch
                },
            )
        price_i = {a: reads.call(c.oracle, "getAssetPrice", a) for a in sorted(prices or ())}
        treasury_i = {a: reads.call(c.a[a], "scaledBalanceOf", c.treasury) for a in sorted(treasury or ())}
        ldp_i = []
        for user, coll, debt, amount in ldp_pairs:
            if amount is None:
                ldp_i.append(reads.call(c.ldp, "getLiquidationInfo", user, coll, debt, may_revert=True))
            else:
                args = (user, coll, debt, amount)
                ldp_i.append(reads.call(c.ldp_amount, "getLiquidationInfo", *args, may_revert=True))
        out = reads.run()

        same("block timestamp", w.ts, out[ts_i])
        for a, idx in res_i.items():
            raw, rates, virtual, deficit, a_sup, d_sup, grace, a_total, d_total = (out[i] for i in idx)
            ((config,), li, lr, bi, br, _, last, rid) = raw[:8]
            chain_reserve = ReserveState(
                asset=a,
                id=rid,
                configuration=ReserveConfiguration.from_bitmap(config),
                rate_strategy=InterestRateData(*rates),
                liquidity_index=li,
                variable_borrow_index=bi,
                current_liquidity_rate=lr,
                current_variable_borrow_rate=br,
                last_update_timestamp=last,
                accrued_to_treasury=raw[12],
                virtual_underlying_balance=virtual,
                deficit=deficit,
                isolation_mode_total_debt=raw[14],
                scaled_a_token_supply=a_sup,
                scaled_variable_debt=d_sup,
                liquidation_grace_period_until=grace,
            )
            model = w.reserves[a]
            same(f"reserve {a}", model, chain_reserve)
            same(f"aToken totalSupply {a}", model.total_a_token_supply(w.ts), a_total)
            same(f"debt totalSupply {a}", model.total_variable_debt(w.ts), d_total)
        for u, (acc_i, conf_i, em_i, per) in user_i.items():
            same(f"getUserAccountData {u}", w.account_data(u).as_tuple(), tuple(out[acc_i]))
            same(f"user configuration {u}", w.config_bitmap(u), out[conf_i][0])
            same(f"user e-mode {u}", w.accounts[u].e_mode, out[em_i])
            acc = w.accounts[u]
            for a, (sa, ba, sd, bd, wallet) in per.items():
                r = w.reserves[a]
                same(f"aToken scaled {u} {a}", acc.scaled_a[a], out[sa])
                same(f"aToken balance {u} {a}", r_balance_a(r, acc.scaled_a[a], w.ts), out[ba])
                same(f"debt scaled {u} {a}", acc.scaled_d[a], out[sd])
                same(f"debt balance {u} {a}", r_balance_d(r, acc.scaled_d[a], w.ts), out[bd])
                same(f"wallet {u} {a}", acc.wallet[a], out[wallet])
        for a, i in price_i.items():
            same(f"oracle price {a}", w.prices[a], out[i])
        for a, i in treasury_i.items():
            same(f"treasury aToken scaled {a}", w.treasury_scaled[a], out[i])
        for (user, coll, debt, amount), i in zip(ldp_pairs, ldp_i, strict=True):
            label = f"LiquidationDataProvider {user} {coll}/{debt} {amount}"
            try:
                model_info, adjusted = ldp_expected(
                    w, user, coll, debt, MAX_UINT256 if amount is None else amount
                )
            except AaveV3Revert as exc:
                chain_reason = out[i].reason if isinstance(out[i], AaveV3Revert) else "no revert"
                same(f"{label} reverts", exc.reason, chain_reason)
                self.stats[f"ldp reverts {exc.reason}"] += 1
                continue
            if isinstance(out[i], AaveV3Revert):
                raise Mismatch(f"{label}: chain reverts {out[i].reason}, model does not")
            same(label, model_info, flatten_ldp(out[i]))
            self.cross_check_ldp(w, user, coll, debt, model_info, adjusted)
            self.stats["ldp checks"] += 1

    def cross_check_ldp(
        self, w: World, user: str, coll: str, debt: str, info: tuple[Any, ...], adjusted: bool
    ) -> None:
        """The data provider's amounts against the model's liquidation_call given its
        amountToPassToLiquidationCall, at the same block: equal where the provider does what the Pool
        does (no dust shrinking, and debt in base rounding to the same close factor)."""
        max_coll, max_debt, fee, to_pass = info[-4:]
        if to_pass == 0:
            return
        positions = w.positions(user)
        try:
            result = liquidation_call(positions, coll, debt, to_pass, w.ts, e_mode=w.e_mode(user))
        except AaveV3Revert as exc:
            # e.g. with a protocol fee its maxCollateralToLiquidate (net of the fee) never equals the
            # balance, so a capped liquidation is passed as an amount that may leave collateral dust:
            # the Pool (eth_call at this block) must refuse it just as the model does.
            data = self.chain.pool.calldata("liquidationCall", coll, debt, user, to_pass, False)
            tx = {"from": self.liquidator, "to": MARKET.pool, "data": "0x" + data.hex()}
            reply = self.chain.rpc.batch([("eth_call", [tx, "latest"])])[0]
            assert "error" in reply, f"model refuses the provider's amount ({exc.reason}), the Pool does not"
            chain_reason = revert_reason(bytes.fromhex((reply["error"].get("data") or "0x")[2:]))
            same("Pool refusing the provider's amount", exc.reason, chain_reason)
            self.stats[f"ldp amount the Pool refuses: {exc.reason}{' (shrunk)' if adjusted else ''}"] += 1
            return
        if adjusted:
            self.stats["ldp shrunk amount the Pool accepts"] += 1
            return
        dp = {p.reserve.asset: p for p in positions}[debt]
        if mul_div_ceil(dp.debt(w.ts), dp.price, dp.reserve.configuration.unit) != info[13]:
            return  # the Pool rounds debt in base up, the provider down: the close factor could differ
        same("provider vs model debt to liquidate", max_debt, result.debt_repaid)
        same("provider vs model collateral to liquidator", max_coll, result.collateral_to_liquidator)
        if {p.reserve.asset: p for p in result.borrower}[coll].scaled_a_token_balance:
            same("provider vs model protocol fee", fee, result.protocol_fee)  # (not capped at the balance)
        self.stats["ldp == model liquidation"] += 1

    # -- steps ---------------------------------------------------------------------------------------

    def run_sequence(self, index: int) -> None:
        rng = random.Random(f"{SEED}:{index}")
        w = copy.deepcopy(self.base)
        users = [u for u in w.accounts if u != self.liquidator]
        actor = rng.choice(users)
        focus = rng.random() < 0.45 and any(w.accounts[actor].scaled_d.values())
        steps = rng.randint(2, 4)
        self.log = [f"sequence {index} actor {actor} focus {focus}"]
        for step in range(steps):
            if focus and step == 0:
                kind = "price_drop"
            elif focus and step == steps - 1:
                kind = "liquidate"
            else:
                kind = rng.choices(
                    ["supply", "withdraw", "borrow", "repay", "emode", "warp", "price", "liquidate"],
                    [3, 2.5, 3, 2.5, 1, 1.5, 2, 1.5],
                )[0]
            getattr(self, f"step_{kind.removesuffix('_drop')}")(rng, w, actor, kind)

    def next_ts(self, rng: random.Random, w: World) -> int:
        w.ts += rng.choice([1, 1, 2, 12, 13, 60, 3600])
        return w.ts

    def outcome(
        self,
        label: str,
        sent: Sent,
        expected: Expected | None,
    ) -> None:
        self.log.append(f"  {label}: model {'ok' if expected is None else expected}")
        if expected is None:
            if not sent.ok:
                raise Mismatch(f"{label}: model succeeds, chain reverts {revert_reason(sent.revert_data)}")
            self.stats[f"{label.split()[0]} ok"] += 1
            return
        if sent.ok:
            raise Mismatch(f"{label}: model reverts {expected.reason}, chain succeeds")
        same(f"{label} revert", expected.reason, revert_reason(sent.revert_data))
        if expected.args is not None:
            same(f"{label} revert args", expected.args, sent.revert_data[4:])
        self.stats[f"{label.split()[0]} reverts {expected.reason}"] += 1

    def amount_of_usd(self, rng: random.Random, w: World, asset: str, low: float, high: float) -> int:
        usd = 10 ** rng.uniform(low, high)
        return int(usd * 10**8 * w.reserves[asset].configuration.unit // w.prices[asset])

    def step_supply(self, rng: random.Random, w: World, user: str, _: str) -> None:
        acc = w.accounts[user]
        held = [a for a in w.order if acc.scaled_a[a]]
        asset = rng.choice(held) if held and rng.random() < 0.5 else rng.choice(w.order)
        amount = 0 if rng.random() < 0.03 else self.amount_of_usd(rng, w, asset, 0, 5.5)
        amount = min(amount, acc.wallet[asset])
        ts = self.next_ts(rng, w)
        before = w.reserves[asset]
        expected = None
        try:
            result = supply(before, amount, ts, acc.scaled_a[asset])
        except AaveV3Revert as exc:
            expected = model_revert(exc)
        sent = self.chain.pool_tx(user, ts, "supply", asset, amount, user, 0)
        if expected is None:
            w.reserves[asset] = result.reserve
            if acc.scaled_a[asset] == 0 and auto_collateral(w, user, before):
                acc.collateral[asset] = True
            acc.scaled_a[asset] = result.scaled_balance
            acc.wallet[asset] -= amount
        self.outcome(f"supply {asset} {amount}", sent, expected)
        self.verify(w, {asset}, {user}, self.ldp_pairs(rng, w, user))

    def step_withdraw(self, rng: random.Random, w: World, user: str, _: str) -> None:
        acc = w.accounts[user]
        held = [a for a in w.order if acc.scaled_a[a]]
        asset = rng.choice(held) if held and rng.random() < 0.9 else rng.choice(w.order)
        ts = self.next_ts(rng, w)
        balance = r_balance_a(w.reserves[asset].accrue(ts), acc.scaled_a[asset], ts)
        pick = rng.random()
        if pick < 0.3:
            amount = MAX_UINT256
        elif pick < 0.35:
            amount = balance + 1 + rng.randrange(10)
        else:  # mostly small parts: a borrower can only take out what its health factor allows
            amount = int(balance * rng.random() ** 3)
        expected = None
        try:
            result = withdraw(w.reserves[asset], amount, ts, acc.scaled_a[asset])
            positions = w.positions(user)
            i = w.order.index(asset)
            after = replace(
                positions[i], reserve=result.reserve, scaled_a_token_balance=result.scaled_balance
            )
            if after.using_as_collateral:
                if result.scaled_balance == 0:
                    after = replace(after, using_as_collateral=False)
                positions[i] = after
                if any(acc.borrowing.values()):
                    check_health_after(w, user, positions)
                    # validateHFAndLtvzero: no ltv-zero collateral on this market
                    assert not user_account_data(positions, ts, w.e_mode(user)).has_zero_ltv_collateral
            else:
                positions[i] = after
        except AaveV3Revert as exc:
            expected = model_revert(exc)
        sent = self.chain.pool_tx(user, ts, "withdraw", asset, amount, user)
        if expected is None:
            w.reserves[asset] = result.reserve
            w.set_positions(user, positions)
            acc.wallet[asset] += result.amount
        self.outcome(f"withdraw {asset} {amount}", sent, expected)
        self.verify(w, {asset}, {user}, self.ldp_pairs(rng, w, user))

    def step_borrow(self, rng: random.Random, w: World, user: str, _: str) -> None:
        acc = w.accounts[user]
        if rng.random() < 0.5 and any(acc.borrowing.values()):
            asset = rng.choice([a for a in w.order if acc.borrowing[a]])
        else:
            asset = rng.choice(w.order)
        ts = self.next_ts(rng, w)
        available = w.account_data(user).available_borrows_base
        fraction = rng.choice([rng.uniform(0.01, 0.99), rng.uniform(0.9, 1.1), rng.uniform(1.0, 1.5)])
        amount = int(available * fraction) * w.reserves[asset].configuration.unit // w.prices[asset]
        if amount == 0 or rng.random() < 0.05:
            amount = self.amount_of_usd(rng, w, asset, 0, 4)
        expected = None
        try:
            result = borrow(w.reserves[asset], amount, ts, acc.scaled_d[asset], w.e_mode(user))
            positions = w.positions(user)
            i = w.order.index(asset)
            assert not w.reserves[asset].configuration.siloed_borrowing
            isolated_debt_after_borrow(positions, result.reserve, amount)
            positions[i] = replace(
                positions[i],
                reserve=result.reserve,
                scaled_variable_debt=result.scaled_balance,
                borrowing=True,
            )
            validate_borrow_health(user_account_data(positions, ts, w.e_mode(user)))
        except AaveV3Revert as exc:
            expected = model_revert(exc)
        sent = self.chain.pool_tx(user, ts, "borrow", asset, amount, 2, 0, user)
        if expected is None:
            w.reserves[asset] = result.reserve
            w.set_positions(user, positions)
            acc.wallet[asset] += amount
        self.outcome(f"borrow {asset} {amount}", sent, expected)
        self.verify(w, {asset}, {user}, self.ldp_pairs(rng, w, user))

    def step_repay(self, rng: random.Random, w: World, user: str, _: str) -> None:
        acc = w.accounts[user]
        debts = [a for a in w.order if acc.scaled_d[a]]
        asset = rng.choice(debts) if debts and rng.random() < 0.93 else rng.choice(w.order)
        ts = self.next_ts(rng, w)
        owed = r_balance_d(w.reserves[asset].accrue(ts), acc.scaled_d[asset], ts)
        pick = rng.random()
        if pick < 0.35 and acc.wallet[asset] > owed:
            amount = MAX_UINT256
        elif pick < 0.45:
            amount = owed + rng.randrange(1, 10**6)  # more than owed: repays just the debt
        else:
            amount = max(int(owed * rng.random()), 1)
        with_a_tokens = rng.random() < (0.3 if acc.scaled_a[asset] else 0.03)
        if not with_a_tokens and amount != MAX_UINT256 and min(amount, owed) > acc.wallet[asset]:
            amount = acc.wallet[asset] // 2 or 1
        expected = None
        try:
            result = repay(
                w.reserves[asset],
                amount,
                ts,
                acc.scaled_d[asset],
                use_a_tokens=with_a_tokens,
                scaled_a_token_balance=acc.scaled_a[asset],
            )
            positions = w.positions(user)
            i = w.order.index(asset)
            after = replace(
                positions[i],
                reserve=result.reserve,
                scaled_variable_debt=result.scaled_balance,
                borrowing=result.scaled_balance != 0,
            )
            if with_a_tokens:  # the aTokens burn, then (as collateral) the health factor is checked
                scaled_a = acc.scaled_a[asset] - result.a_token_scaled_burned
                after = replace(after, scaled_a_token_balance=scaled_a)
                if after.using_as_collateral:
                    after = replace(after, using_as_collateral=scaled_a != 0)
                    positions[i] = after
                    if any(p.borrowing for p in positions):
                        check_health_after(w, user, positions)
            positions[i] = after
        except AaveV3Revert as exc:
            expected = model_revert(exc)
        if with_a_tokens:
            sent = self.chain.pool_tx(user, ts, "repayWithATokens", asset, amount, 2)
        else:
            sent = self.chain.pool_tx(user, ts, "repay", asset, amount, 2, user)
        if expected is None:
            w.reserves[asset] = result.reserve
            w.set_positions(user, positions)
            if not with_a_tokens:
                acc.wallet[asset] -= result.amount
        self.outcome(f"{'repayWithATokens' if with_a_tokens else 'repay'} {asset} {amount}", sent, expected)
        self.verify(w, {asset}, {user}, self.ldp_pairs(rng, w, user))

    def step_emode(self, rng: random.Random, w: World, user: str, _: str) -> None:
        acc = w.accounts[user]
        category = rng.choices([1 - min(acc.e_mode, 1), acc.e_mode, 2], [8, 1, 1])[0]
        ts = self.next_ts(rng, w)
        expected = None
        w_ts = w.ts
        try:
            if category != acc.e_mode:
                validate_set_user_e_mode(w, user, category)
        except EModeRevert as exc:
            expected = Expected(exc.reason, exc.args_data)
        except AaveV3Revert as exc:
            expected = model_revert(exc)
        assert w.ts == w_ts
        sent = self.chain.pool_tx(user, ts, "setUserEMode", category)
        if expected is None:
            acc.e_mode = category
        self.outcome(f"setUserEMode {category}", sent, expected)
        assets = {a for a in w.order if acc.scaled_a[a] or acc.scaled_d[a]}
        self.verify(w, assets, {user}, self.ldp_pairs(rng, w, user))

    def step_warp(self, rng: random.Random, w: World, user: str, _: str) -> None:
        seconds = rng.choice(
            [rng.randint(1, 600), rng.randint(3600, 86_400), rng.randint(86_400, 60 * 86_400)]
        )
        if rng.random() < 0.05:
            seconds = rng.randint(365 * 86_400, 3 * 365 * 86_400)
        self.chain.rpc.call("evm_increaseTime", [seconds])
        self.chain.rpc.call("evm_mine", [])
        block = self.chain.rpc.call("eth_getBlockByNumber", ["latest", False])
        w.ts = int(block["timestamp"], 16)
        self.log.append(f"  warp {seconds}s -> {w.ts}")
        self.stats["warp"] += 1
        acc = w.accounts[user]
        assets = {a for a in w.order if acc.scaled_a[a] or acc.scaled_d[a]}
        self.verify(w, assets, {user}, self.ldp_pairs(rng, w, user))

    def step_price(self, rng: random.Random, w: World, user: str, kind: str) -> None:
        acc = w.accounts[user]
        if kind == "price_drop":
            collateral = [a for a in w.order if acc.collateral[a] and not acc.scaled_d[a]]
            asset = max(collateral or w.order, key=lambda a: acc.scaled_a[a] * w.prices[a])
            hf = w.account_data(user).health_factor
            factor = rng.uniform(0.4, 1.04) * WAD / max(hf, 1)
            factor = min(max(factor, 0.05), 1.5)
        else:
            mine = [a for a in w.order if acc.scaled_a[a] or acc.scaled_d[a]]
            asset = rng.choice(mine) if mine and rng.random() < 0.8 else rng.choice(w.order)
            factor = rng.uniform(0.6, 1.25)
        price = max(int(w.prices[asset] * factor), 1)
        symbol = next(s for s in SYMBOLS if token(s) == asset)
        ts = self.next_ts(rng, w)
        self.chain.rpc.call("evm_setNextBlockTimestamp", [ts])
        set_aave_price(self.url, symbol, price)
        w.prices[asset] = price
        self.log.append(f"  price {symbol} x{factor:.3f} -> {price}")
        self.stats["price move"] += 1
        assets = {a for a in w.order if acc.scaled_a[a] or acc.scaled_d[a]}
        self.verify(w, assets, {user}, self.ldp_pairs(rng, w, user), prices={asset})

    def ldp_pairs(self, rng: random.Random, w: World, user: str) -> list[tuple[str, str, str, int | None]]:
        """LiquidationDataProvider questions for the user: every (collateral, debt) pair it holds (max 4),
        and one of them again with a random debt amount."""
        acc = w.accounts[user]
        colls = [a for a in w.order if acc.scaled_a[a]]
        debts = [a for a in w.order if acc.scaled_d[a]]
        pairs: list[tuple[str, str, str, int | None]] = [(user, c, d, None) for c in colls for d in debts][:4]
        if pairs:
            _, c, d, _ = rng.choice(pairs)
            owed = r_balance_d(w.reserves[d], acc.scaled_d[d], w.ts)
            pairs.append((user, c, d, int(owed * rng.random())))
        return pairs

    def step_liquidate(self, rng: random.Random, w: World, actor: str, _: str) -> None:
        liquidator = self.liquidator
        with_debt = [u for u in w.accounts if u != liquidator and any(w.accounts[u].scaled_d.values())]
        if not with_debt:
            return self.step_warp(rng, w, actor, "warp")
        borrower = actor if actor in with_debt else rng.choice(with_debt)
        acc = w.accounts[borrower]
        colls = [a for a in w.order if acc.collateral[a]]
        debts = [a for a in w.order if acc.scaled_d[a]]
        collateral = rng.choice(colls) if colls and rng.random() < 0.93 else rng.choice(w.order)
        debt = rng.choice(debts) if rng.random() < 0.95 else rng.choice(w.order)
        to_a_tokens = rng.random() < 0.5
        ts = self.next_ts(rng, w)
        owed = r_balance_d(w.reserves[debt].accrue(ts), acc.scaled_d[debt], ts)
        pick = rng.random()
        if pick < 0.35:
            cover = MAX_UINT256
        elif pick < 0.65:
            cover = max(int(owed * rng.uniform(0.01, 1.05)), 1)
        elif pick < 0.82:  # what the data provider says to pass (at the latest block)
            try:
                cover = ldp_expected(w, borrower, collateral, debt, MAX_UINT256)[0][-1] or 1
            except AaveV3Revert:
                cover = MAX_UINT256
        elif pick < 0.92:  # leave about $500-1,500 of debt: the dust rule
            unit, price = w.reserves[debt].configuration.unit, w.prices[debt]
            cover = max(owed - int(rng.uniform(400, 1_600) * 10**8 * unit // price), 1)
        else:
            cover = rng.randint(1, 10**4)
        positions = w.positions(borrower)
        expected = None
        try:
            result = liquidation_call(
                positions, collateral, debt, cover, ts, e_mode=w.e_mode(borrower), receive_a_token=to_a_tokens
            )
        except AaveV3Revert as exc:
            expected = model_revert(exc)
        data = self.chain.pool.calldata("liquidationCall", collateral, debt, borrower, cover, to_a_tokens)
        sent = self.chain.send(liquidator, MARKET.pool, data, ts)
        label = (
            f"liquidation {'aTokens' if to_a_tokens else 'underlying'} {borrower} {collateral}/{debt} {cover}"
        )
        self.outcome(label, sent, expected)
        touched = {collateral, debt}
        if expected is None:
            self.check_liquidation_logs(sent.receipt, borrower, collateral, debt, to_a_tokens, result)
            before = dict(w.reserves)
            w.reserves.update(result.reserves)
            touched |= {a for a in w.order if w.reserves[a] != before[a]}
            w.set_positions(borrower, result.borrower)
            liq = w.accounts[liquidator]
            liq.wallet[debt] -= result.debt_repaid
            if to_a_tokens:
                liq.scaled_a[collateral] += result.collateral_scaled_to_liquidator
            else:
                liq.wallet[collateral] += result.collateral_to_liquidator
            w.treasury_scaled[collateral] += result.protocol_fee_scaled
            self.stats[f"liquidation ok {'aTokens' if to_a_tokens else 'underlying'}"] += 1
            if result.deficits:
                self.stats["liquidation with bad debt"] += 1
            if result.protocol_fee:
                self.stats["liquidation with protocol fee"] += 1
            if collateral == debt:
                self.stats["liquidation same asset"] += 1
            if w.accounts[borrower].e_mode:
                self.stats["liquidation in e-mode"] += 1
        self.verify(
            w, touched, {borrower, liquidator}, self.ldp_pairs(rng, w, borrower), treasury={collateral}
        )

    def check_liquidation_logs(
        self,
        receipt: dict[str, Any],
        borrower: str,
        collateral: str,
        debt: str,
        to_a_tokens: bool,
        result: Any,
    ) -> None:
        """What the call moved, from its logs: LiquidationCall, the underlying Transfers, the aToken
        transfers to the liquidator and the treasury, the deficits."""
        liquidator, c = self.liquidator, self.chain
        logs = receipt["logs"]

        def addr(t: str) -> str:
            return to_checksum_address("0x" + t[-40:])

        def transfers(token_address: str, event: str = TRANSFER) -> list[tuple[str, str, int]]:
            return [
                (addr(log["topics"][1]), addr(log["topics"][2]), int(log["data"][2:66], 16))
                for log in logs
                if to_checksum_address(log["address"]) == token_address and log["topics"][0] == event
            ]

        (event,) = [log for log in logs if log["topics"][0] == LIQUIDATION_CALL]
        repaid, seized, who, flag = decode(
            ["uint256", "uint256", "address", "bool"], bytes.fromhex(event["data"][2:])
        )
        same(
            "LiquidationCall event",
            (result.debt_repaid, result.collateral_to_liquidator, liquidator, to_a_tokens),
            (repaid, seized, to_checksum_address(who), flag),
        )
        same("LiquidationCall topics", [collateral, debt, borrower], [addr(t) for t in event["topics"][1:]])
        a_coll, a_debt = (to_checksum_address(c.a[x].address) for x in (collateral, debt))
        paid_in = [v for f, t, v in transfers(debt) if f == liquidator and t == a_debt]
        same("debt underlying liquidator -> aToken", [result.debt_repaid], paid_in)
        a_moves = transfers(a_coll)
        scaled_moves = transfers(a_coll, BALANCE_TRANSFER)
        if to_a_tokens:
            same(
                "aTokens borrower -> liquidator",
                [result.collateral_to_liquidator],
                [v for f, t, v in a_moves if (f, t) == (borrower, liquidator)],
            )
            same(
                "scaled aTokens borrower -> liquidator",
                [result.collateral_scaled_to_liquidator],
                [v for f, t, v in scaled_moves if (f, t) == (borrower, liquidator)],
            )
        else:
            out = [v for f, t, v in transfers(collateral) if f == a_coll and t == liquidator]
            same("collateral underlying aToken -> liquidator", [result.collateral_to_liquidator], out)
        fee = [v for f, t, v in a_moves if (f, t) == (borrower, c.treasury)]
        fee_scaled = [v for f, t, v in scaled_moves if (f, t) == (borrower, c.treasury)]
        assert len(fee) == len(fee_scaled) <= 1, (fee, fee_scaled)
        same("protocol fee to treasury", result.protocol_fee, sum(fee))
        same("scaled protocol fee to treasury", result.protocol_fee_scaled, sum(fee_scaled))
        deficits: dict[str, int] = {}
        for log in logs:
            if log["topics"][0] == DEFICIT_CREATED:
                asset = addr(log["topics"][2])
                deficits[asset] = deficits.get(asset, 0) + int(log["data"][2:], 16)
        same("DeficitCreated", result.deficits, deficits)


def r_balance_a(reserve: ReserveState, scaled: int, ts: int) -> int:
    return UserReserve(reserve=reserve, price=0, scaled_a_token_balance=scaled).a_token_balance(ts)


def r_balance_d(reserve: ReserveState, scaled: int, ts: int) -> int:
    return UserReserve(reserve=reserve, price=0, scaled_variable_debt=scaled).debt(ts)


# ----------------------------------------------------------------------------------------------------
# Base state: dev accounts with positions, the seeded borrowers, one liquidator.

SETUP: dict[int, list[tuple[str, str, int]]] = {
    # dev account index: actions (supply/borrow/emode, symbol, whole units x 1e-4)
    1: [("supply", "WETH", 60 * 10**4), ("borrow", "USDC", 129_900 * 10**4)],
    2: [
        ("supply", "WBTC", 15_000),
        ("supply", "USDC", 20_000 * 10**4),
        ("borrow", "DAI", 30_000 * 10**4),
        ("borrow", "WETH", 10 * 10**4),
    ],
    3: [  # e-mode: WETH against WETH, plus USDC collateral outside the category
        ("emode", "", 1),
        ("supply", "WETH", 100 * 10**4),
        ("supply", "USDC", 50_000 * 10**4),
        ("borrow", "WETH", 104 * 10**4),
    ],
    4: [],
    5: [("supply", "WETH", 10**4), ("borrow", "USDC", 1_900 * 10**4)],
    6: [("supply", "DAI", 40_000 * 10**4), ("borrow", "USDT", 30_000 * 10**4)],
    7: [("supply", "WETH", 10 * 10**4), ("supply", "DAI", 100_000 * 10**4), ("borrow", "WETH", 30 * 10**4)],
}
SEEDED_BORROWERS = (0, 2, 6)
LIQUIDATOR = 9


def build_base(chain: Chain, devnet: Devnet) -> tuple[World, str]:
    rpc = chain.rpc
    dev = [a.address for a in devnet.accounts]
    liquidator = dev[LIQUIDATOR]
    seeded = [seeded_address("borrower", i) for i in SEEDED_BORROWERS]
    users = [dev[i] for i in SETUP] + seeded
    ts = chain.on.timestamp()

    def tx(sender: str, to: str, data: bytes) -> None:
        nonlocal ts
        ts += 12
        sent = chain.send(sender, to, data, ts)
        assert sent.ok, revert_reason(sent.revert_data)

    for who in seeded:
        rpc.call("anvil_impersonateAccount", [who])
        rpc.call("anvil_setBalance", [who, hex(10**22)])
        for sym in SYMBOLS:  # wallets to supply and repay with
            amount = (10**6 if sym not in ("WETH", "WBTC") else 300 if sym == "WETH" else 20) * 10 ** (
                A.TOKENS[sym].decimals
            )
            tx(dev[0], token(sym), chain.erc20[token(sym)].calldata("transfer", who, amount))
    for who in [*users, liquidator]:
        for sym in SYMBOLS:
            tx(who, token(sym), chain.erc20[token(sym)].calldata("approve", MARKET.pool, MAX_UINT256))
    for i, actions in SETUP.items():
        who = dev[i]
        for action, sym, units in actions:
            if action == "emode":
                tx(who, MARKET.pool, chain.pool.calldata("setUserEMode", units))
                continue
            asset = token(sym)
            amount = units * 10 ** A.TOKENS[sym].decimals // 10**4
            if action == "supply":
                tx(who, MARKET.pool, chain.pool.calldata("supply", asset, amount, who, 0))
            else:
                tx(who, MARKET.pool, chain.pool.calldata("borrow", asset, amount, 2, 0, who))

    on = chain.on
    reserves = on.reserves()
    order = sorted(reserves, key=lambda a: reserves[a].id)
    accounts = {}
    for who in [*users, liquidator]:
        positions = {p.reserve.asset: p for p in on.positions(who, reserves)}
        e_mode = on.pool.call("getUserEMode", who)
        accounts[who] = Account(
            scaled_a={a: positions[a].scaled_a_token_balance for a in order},
            scaled_d={a: positions[a].scaled_variable_debt for a in order},
            collateral={a: positions[a].using_as_collateral for a in order},
            borrowing={a: positions[a].borrowing for a in order},
            e_mode=e_mode,
            wallet={a: chain.erc20[a].call("balanceOf", who) for a in order},
        )
    categories = {}
    for e in PARAMS.e_modes:
        i = e.category_id
        ltv, threshold, bonus = on.pool.call("getEModeCategoryCollateralConfig", i)
        categories[i] = EModeCategory(
            id=i,
            ltv=ltv,
            liquidation_threshold=threshold,
            liquidation_bonus=bonus,
            collateral_bitmap=on.pool.call("getEModeCategoryCollateralBitmap", i),
            borrowable_bitmap=on.pool.call("getEModeCategoryBorrowableBitmap", i),
            ltvzero_bitmap=on.pool.call("getEModeCategoryLtvzeroBitmap", i),
            label=on.pool.call("getEModeCategoryLabel", i),
        )
    world = World(
        ts=on.timestamp(),
        reserves=reserves,
        prices={a: on.oracle.call("getAssetPrice", a) for a in order},
        accounts=accounts,
        e_modes=categories,
        treasury_scaled={a: chain.a[a].call("scaledBalanceOf", chain.treasury) for a in order},
        order=order,
        tokens={
            a: (to_checksum_address(chain.a[a].address), to_checksum_address(chain.d[a].address))
            for a in order
        },
    )
    return world, liquidator


def test_random_sequences_match_the_replica(fork: Fork, devnet: Devnet) -> None:
    print(f"seed {SEED}")
    started = time.monotonic()
    chain = Chain(fork.rpc)
    base, liquidator = build_base(chain, devnet)
    runner = Runner(chain, fork.url, liquidator, base)
    rpc = fork.rpc
    snapshot = rpc.call("evm_snapshot", [])
    indexes = [int(ONLY)] if ONLY is not None else range(SEQUENCES)
    for index in indexes:
        try:
            runner.run_sequence(index)
        except Exception as exc:
            raise AssertionError(
                f"seed {SEED} sequence {index}:\n" + "\n".join(runner.log) + f"\n{exc}"
            ) from exc
        assert rpc.call("evm_revert", [snapshot])
        snapshot = rpc.call("evm_snapshot", [])
    elapsed = time.monotonic() - started
    print(f"{len(indexes)} sequences in {elapsed:.1f}s")
    for key, count in sorted(runner.stats.items()):
        print(f"  {count:6d}  {key}")
    stats = runner.stats
    if len(indexes) >= 500:
        for kind in ("supply", "withdraw", "borrow", "repay", "setUserEMode"):
            assert stats[f"{kind} ok"] > 20, kind
        assert stats["warp"] > 20 and stats["price move"] > 20
        assert stats["liquidation ok aTokens"] > 20 and stats["liquidation ok underlying"] > 20
        assert stats["liquidation with bad debt"] > 0 and stats["liquidation with protocol fee"] > 20
        reverts = [k for k in stats if " reverts " in k]
        for reason in ("HealthFactorNotBelowThreshold", "MustNotLeaveDust", "CollateralCannotCoverNewBorrow"):
            assert any(k.endswith(reason) for k in reverts), reason
        assert stats["ldp == model liquidation"] > 20


def test_data_provider_amount_refused_when_fee_and_collateral_capped(fork: Fork, devnet: Devnet) -> None:
    """Found by the sequences: when the whole collateral is not enough to cover the debt plus bonus and
    the collateral has a protocol fee, LiquidationDataProvider returns the debt that buys the collateral
    (maxCollateralToLiquidate is net of the fee, so it never equals the balance and the amount is not
    type(uint256).max). Given that amount the Pool computes a little less collateral, which leaves dust:
    the Pool and the model both refuse it with MustNotLeaveDust, and both accept type(uint256).max."""
    chain = Chain(fork.rpc)
    borrower, liquidator = seeded_address("borrower", 0), devnet.accounts[LIQUIDATOR].address
    weth, usdc = token("WETH"), token("USDC")
    chain.send(
        liquidator,
        usdc,
        chain.erc20[usdc].calldata("approve", MARKET.pool, MAX_UINT256),
        chain.on.timestamp() + 1,
    )
    base_price = chain.oracle.call("getAssetPrice", weth)
    for step in range(200):  # WETH -25%, -25.01%, ...: the rounding refuses the amount for some prices
        fork.rpc.call("evm_setNextBlockTimestamp", [chain.on.timestamp() + 1])
        set_aave_price(fork.url, "WETH", base_price * (7500 - step) // 10_000)
        info = chain.ldp.call("getLiquidationInfo", borrower, weth, usdc)
        max_coll, max_debt, fee, to_pass = info[-4:]
        assert fee > 0 and max_coll + fee == info[1][1] and to_pass == max_debt < info[2][1]
        positions, now = chain.on.positions(borrower), chain.on.timestamp()
        try:
            liquidation_call(positions, weth, usdc, to_pass, now)
        except AaveV3Revert as refused:
            assert refused.reason == "MustNotLeaveDust"
            print(f"refused at WETH {7500 - step} bps of its price")
            break
    else:
        raise AssertionError("no price where the provider's amount is refused")
    result = liquidation_call(positions, weth, usdc, MAX_UINT256, now)
    assert (result.collateral_to_liquidator, result.protocol_fee) == (max_coll, fee)
    assert result.debt_repaid == max_debt

    def pool_says(cover: int) -> str:
        data = chain.pool.calldata("liquidationCall", weth, usdc, borrower, cover, False)
        tx = {"from": liquidator, "to": MARKET.pool, "data": "0x" + data.hex()}
        reply = fork.rpc.batch([("eth_call", [tx, "latest"])])[0]
        return (
            revert_reason(bytes.fromhex((reply["error"].get("data") or "0x")[2:])) if "error" in reply else ""
        )

    assert pool_says(to_pass) == "MustNotLeaveDust"
    assert pool_says(MAX_UINT256) == ""
