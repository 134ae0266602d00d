"""Aave liquidations: every borrower's health factor from the exact model, and a bundle as soon as one can go.

The borrower index is the store's Aave part (every account with its per-reserve positions, kept by the
Pool's and tokens' logs) valued into a `HealthBook`: a price update re-values only that asset's holders, a
balance change only that account. Three triggers:

- a pending price update (`PendingPriceUpdate`): the holders the new answer takes under 1 are found by
  bisecting the book's critical prices (re-indexed after each block), without touching the book; they are
  planned at the next block's time with that price, and the bundle is [the update, our liquidations],
  pinned to that block and time. The update always goes first;
- a mined update or a balance change (`AaveUpdated`): the book follows the store; accounts under 1 are
  liquidated in the next block;
- interest alone (`NewBlock`): the accounts near 1 are re-valued at the next block's time on every block.

Each account's best (collateral, debt) pair, debtToCover and sale come from `plan_liquidation` (close
factor, dust rule, bonus, protocol fee, exact Uniswap models, flash premium, gas, builder share). Plans are
ranked by net profit; a bundle takes several when each still pays on the pools as the ones before it left
them. Pure: store and events in, actions out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from defibots.actions import AccountToWarm, LiquidationBundle, LiquidationPrepare, PlannedLiquidation
from defibots.chain.events import NewBlock, PendingPriceUpdate, PendingTx
from defibots.engine import Action, Strategy
from defibots.events import Event
from defibots.protocols.aave_v3.health import HealthBook
from defibots.protocols.aave_v3.math import WAD
from defibots.protocols.liquidation_plan import LiquidationCosts, LiquidationPlan, plan_liquidation
from defibots.protocols.uniswap_router import PoolModel, pool_after_swap
from defibots.state.aave import AaveUpdated, AaveV3Market, aave, account_positions, liquidation_price
from defibots.state.store import MarketState
from defibots.state.uniswap import uniswap
from defibots.strategies.backrun import Head, pools_to_warm

BPS = 10_000


@dataclass(frozen=True)
class LiquidationParams:
    weth: str
    flash_premium_bps: int = 5
    gas: int = 450_000
    """Gas of one Liquidator.liquidate for pricing (~416k measured for WETH/USDC; the simulation decides)."""
    priority_fee: int = 0
    """Our tip per gas: the builder is paid by `builder_share_bps`, a coinbase transfer."""
    builder_share_bps: int = 2_000
    min_profit_wei: int = 0
    """Net profit floor per liquidation, in wei of ETH at the oracle's price."""
    block_time: int = 12
    """Seconds between blocks: the time a plan for the next block is made at."""
    max_per_bundle: int = 3
    max_candidates: int = 12
    """Accounts planned per trigger, the largest debts first (a liquidation's bonus grows with the debt it
    covers): planning is exact and so not free; the rest stay under 1 and are planned in the next block."""
    near_health_factor: int = WAD * 11 // 10
    """Accounts under this are re-valued every block (interest can take them under 1)."""


@dataclass
class LiquidationStats:
    pending_updates: int = 0
    mined_updates: int = 0
    liquidatable: int = 0
    """Accounts found under 1 (each time one is found)."""
    planned: int = 0
    unprofitable: int = 0
    bundles: int = 0
    unknown_feed: int = 0
    recent: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class AtRisk:
    user: str
    health_factor: int
    debt_base: int
    collateral: str
    liquidation_price: int | None


class LiquidationStrategy(Strategy):
    def __init__(self, market: MarketState, params: LiquidationParams, head: Head) -> None:
        self.market = market
        self.aave: AaveV3Market = aave(market)
        self.params = params
        self.head = head
        self.book = HealthBook()
        self.stats = LiquidationStats()
        self.near: set[str] = set()
        self._prices: dict[str, int] = {}
        self._asked: set[tuple[str, int, str]] = set()
        """(user, target block, trigger) already in a bundle: one try per account, block and trigger (a
        reverting update must not keep the real one from being backrun)."""
        for user in self.aave.accounts():
            self._value(user, head.timestamp)
        for asset, reserve in self.aave.reserves().items():
            self._prices[asset] = reserve.price

    @property
    def name(self) -> str:
        return "liquidations"

    # ---------------------------------------------------------------- the book

    def _value(self, user: str, timestamp: int) -> None:
        account = self.aave.account(user)
        if account is None:
            self.book.remove(user)
            self.near.discard(user)
            return
        e_mode = self.aave.e_mode(account.e_mode)
        self.book.add(user, account_positions(self.aave, user), timestamp, e_mode)
        self._mark(user)

    def _mark(self, user: str) -> None:
        if self.book.health_factor(user) < self.params.near_health_factor:
            self.near.add(user)
        else:
            self.near.discard(user)

    def recompute_price(self, asset: str, price: int) -> list[str]:
        """A new oracle price: the asset's holders re-valued; returns the ones now under 1."""
        self._prices[asset] = price
        holders = self.book.set_price(asset, price)
        near = self.book.below(holders, self.params.near_health_factor)
        self.near.difference_update(holders)
        self.near.update(near)
        return self.book.liquidatable(near)

    # ---------------------------------------------------------------- events

    async def process_event(self, event: Event) -> Sequence[Action]:
        if isinstance(event, PendingPriceUpdate):
            action = self.on_pending_update(event)
        elif isinstance(event, AaveUpdated):
            action = self.on_updated(event)
        elif isinstance(event, NewBlock):
            if event.number < self.head.number:
                return ()
            action = self.on_block(event)
            return (self.warm_up(), action) if action is not None else (self.warm_up(),)
        else:
            action = None
        return (action,) if action is not None else ()

    def on_block(self, block: NewBlock) -> LiquidationBundle | None:
        if block.number < self.head.number:
            return None
        self.head = Head.of(block)
        self._asked = {k for k in self._asked if k[1] > block.number}
        at = self.next_time()
        for user in list(self.near):
            self._value(user, at)
        under = [u for u in self.near if self.book.health_factor(u) < WAD]
        action = self.bundle(under, None, {}, "interest")
        self.book.reindex()  # the slot's pending updates are then bisections of the critical prices
        return action

    def warm_up(self, n: int = 16) -> LiquidationPrepare:
        """The simulator's preparation for the new head: the accounts a price move would liquidate first
        (the `n` largest debts among those near HF 1, as `bundle` ranks them) on their largest collateral
        and debt, and every pool the collateral could be sold in."""
        accounts = []
        for user in sorted(self.near, key=self.book.debt_base, reverse=True)[:n]:
            account = self.aave.account(user)
            if account is None:
                continue
            held = {a: p.scaled_a_token for a, p in account.positions if p.collateral and p.scaled_a_token}
            owed = {a: p.scaled_debt for a, p in account.positions if p.scaled_debt}
            if held and owed:
                accounts.append(AccountToWarm(user, self._largest(held), self._largest(owed)))
        return LiquidationPrepare(
            state_block=self.head.number, pool=self.aave.pool, accounts=tuple(accounts),
            pools=pools_to_warm(uniswap(self.market).pools.values()),
        )  # fmt: skip

    def _largest(self, scaled: dict[str, int]) -> str:
        """The asset worth most at the oracle (scaled units, so an approximation: enough to pick one)."""

        def value(asset: str) -> int:
            reserve = self.aave.reserve(asset)
            return scaled[asset] * reserve.price // reserve.state.configuration.unit

        return max(scaled, key=value)

    def on_updated(self, event: AaveUpdated) -> LiquidationBundle | None:
        if event.reorg:
            for user in self.book.accounts():
                self._value(user, self.head.timestamp)
        under: list[str] = []
        repriced = False
        for asset in event.reserves:
            price = self.aave.reserve(asset).price
            if price != self._prices.get(asset):
                repriced = True
                under += self.recompute_price(asset, price)
        for user in event.accounts:
            self._value(user, self.head.timestamp)
            if user in self.near and self.book.health_factor(user) < WAD:
                under.append(user)
        if repriced:
            self.stats.mined_updates += 1
        return self.bundle(list(dict.fromkeys(under)), None, {}, "mined_update")

    def on_pending_update(self, update: PendingPriceUpdate) -> LiquidationBundle | None:
        self.stats.pending_updates += 1
        assets = self.aave.assets_priced_by(update.feed)
        if not assets:
            self.stats.unknown_feed += 1
            return None
        prices = dict.fromkeys(assets, update.answer)
        under = [u for asset in assets for u in self.book.liquidatable_at(asset, update.answer)]
        return self.bundle(list(dict.fromkeys(under)), update.tx, prices, "pending_update")

    # ---------------------------------------------------------------- planning

    def next_time(self) -> int:
        return self.head.timestamp + self.params.block_time

    def costs(self, prices: dict[str, int]) -> LiquidationCosts:
        p = self.params
        weth_price = prices.get(p.weth, self._prices.get(p.weth, 0))
        return LiquidationCosts(
            flash_premium_bps=p.flash_premium_bps, gas=p.gas,
            gas_price=self.head.next_base_fee + p.priority_fee, weth_price=weth_price,
            builder_share_bps=p.builder_share_bps,
        )  # fmt: skip

    def plan(self, user: str, prices: dict[str, int], pools: Sequence[PoolModel]) -> LiquidationPlan | None:
        account = self.aave.account(user)
        if account is None:
            return None
        positions = account_positions(self.aave, user, prices)
        e_mode = self.aave.e_mode(account.e_mode)
        return plan_liquidation(user, positions, self.next_time(), pools, self.costs(prices), e_mode=e_mode)

    def bundle(
        self, users: Sequence[str], trigger: PendingTx | None, prices: dict[str, int], reason: str
    ) -> LiquidationBundle | None:
        """The best liquidations of `users` for the next block (at most `max_per_bundle`), or None."""
        target = self.head.number + 1
        key = trigger.hash if trigger is not None else reason
        users = [u for u in users if (u, target, key) not in self._asked]
        if not users:
            return None
        self.stats.liquidatable += len(users)
        users = sorted(users, key=self.book.debt_base, reverse=True)[: self.params.max_candidates]
        pools: dict[str, PoolModel] = dict(uniswap(self.market).pools)
        costs = self.costs(prices)
        ranked = [p for u in users if (p := self.plan(u, prices, list(pools.values()))) is not None]
        ranked.sort(key=lambda p: p.net_profit_base, reverse=True)
        chosen: list[PlannedLiquidation] = []
        for first in ranked:
            if len(chosen) == self.params.max_per_bundle:
                break
            plan = first if not chosen else self.plan(first.user, prices, list(pools.values()))
            if plan is None or self.net_wei(plan, costs) <= self.params.min_profit_wei:
                self.stats.unprofitable += 1
                continue
            chosen.append(self.planned(plan, costs))
            if plan.pool is not None:
                pools[plan.pool] = pool_after_swap(pools[plan.pool], plan.collateral, plan.collateral_seized)
        self.stats.planned += len(chosen)
        if not chosen:
            return None
        for c in chosen:
            self._asked.add((c.plan.user, target, key))
        self.stats.bundles += 1
        self.stats.recent = [
            *self.stats.recent[-4:],
            f"block {target} ({reason}): "
            + ", ".join(f"{c.plan.user[:10]} +{c.plan.net_profit}" for c in chosen),
        ]
        return LiquidationBundle(
            liquidations=tuple(chosen), trigger=trigger, reason=reason, state_block=self.head.number,
            target_block=target, timestamp=self.next_time(), base_fee=self.head.next_base_fee,
            priority_fee=self.params.priority_fee, weth_price=costs.weth_price,
        )  # fmt: skip

    def net_wei(self, plan: LiquidationPlan, costs: LiquidationCosts) -> int:
        return plan.net_profit_base * 10**18 // max(costs.weth_price, 1)

    def planned(self, plan: LiquidationPlan, costs: LiquidationCosts) -> PlannedLiquidation:
        """The builder's share in wei: the plan's own amount for WETH debt, else converted at the oracle."""
        weth_debt = plan.debt.lower() == self.params.weth.lower()
        payment = plan.builder_payment
        if not weth_debt:
            payment = payment * plan.debt_price * 10**18 // (plan.debt_unit * max(costs.weth_price, 1))
        return PlannedLiquidation(plan=plan, builder_payment_wei=payment, weth_debt=weth_debt)

    # ---------------------------------------------------------------- the live table

    def at_risk(self, n: int = 8) -> list[AtRisk]:
        """The `n` accounts with the lowest health factors; for one-collateral accounts, the collateral price
        at which each becomes liquidatable."""
        users = sorted(self.book.accounts(), key=self.book.health_factor)[:n]
        out = []
        for user in users:
            account = self.aave.account(user)
            held = [a for a, p in account.positions if p.collateral and p.scaled_a_token] if account else []
            only = held[0] if len(held) == 1 else ""
            price = liquidation_price(self.aave, user, only, self.head.timestamp) if only else None
            hf, debt = self.book.health_factor(user), self.book.debt_base(user)
            out.append(AtRisk(user, hf, debt, only or ",".join(h[:8] for h in held), price))
        return out
