"""What strategies ask executors to do, by the capability it takes, and the arbitrage data it carries.

Strategies build these actions and executors carry them out; both import this module, so `execution`
never imports `strategies` and an executor accepts an action by its `capability`, not by the strategy
that made it:

- `ExecutorTxAction` (PUBLIC_TX): one arbitrage through the executor contract, as a public transaction;
- `BackrunBundleAction` (BUNDLE): a bundle [victim, our executor tx] for the relays;
- `BundlePrepare` (BUNDLE): a new head, to get the bundle path ready before the first victim;
- `LoopRebalance` (AAVE_LOOP): move a leveraged Aave loop to a new leverage in one transaction;
- `HedgedArb` (HEDGED_ARB): an AMM-CEX round trip, a single swap on chain hedged by an IOC on a venue;
- `LiquidationBundle` (LIQUIDATION): Aave liquidations through the Liquidator contract, behind the price
  update that makes them possible when there is one;
- `GmxPerpOrder` (GMX_ORDER): open or close a leveraged GMX V2 position (the keeper executes it).

`Opportunity` (a priced arbitrage cycle) is what the executor routes: the route encoder turns its
cycle into executor hops, and its predicted profit is what the simulation must reproduce. Pure data and
integer arithmetic, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import ClassVar, Literal

from defibots.chain.events import PendingTx
from defibots.engine import Action, Capability
from defibots.protocols.liquidation_plan import LiquidationPlan

# Gas of the executor per hop kind, plus the transaction base; calibrated from forge gas reports and
# refined by simulation before anything is sent.
TX_BASE_GAS = 21_000 + 15_000
HOP_GAS = {"v2": 45_000, "v3": 75_000}


@dataclass(frozen=True, slots=True)
class CycleHop:
    """One pool of an arbitrage cycle, crossed from `token_in` to `token_out`."""

    pool: str
    protocol: str  # "v2" | "v3"
    token_in: str
    token_out: str
    fee: int = 0  # V3 fee tier (hundredths of a bip); unused for V2
    v2_fee: tuple[int, int] = (997, 1000)
    """V2: the pair's (kept numerator, denominator) of the input, carried so a route needs no pool lookup."""


@dataclass(frozen=True, slots=True)
class Cycle:
    """A closed route base -> ... -> base."""

    hops: tuple[CycleHop, ...]

    @property
    def base(self) -> str:
        return self.hops[0].token_in

    @property
    def pools(self) -> tuple[str, ...]:
        return tuple(h.pool for h in self.hops)

    def gas(self) -> int:
        return TX_BASE_GAS + sum(HOP_GAS[h.protocol] for h in self.hops)

    def describe(self, symbols: Mapping[str, str] | None = None) -> str:
        """`WETH-v3-500->USDC-v2->WETH`: V3 hops name their fee tier, so two cycles never share a label
        (a token pair has one V2 pair and one V3 pool per tier)."""
        name = (symbols or {}).get
        parts = [name(self.base, self.base[:8])]
        for h in self.hops:
            kind = f"v3-{h.fee}" if h.protocol == "v3" else h.protocol
            parts.append(f"-{kind}->{name(h.token_out, h.token_out[:8])}")
        return "".join(parts)


def wei_to_base(wei: int, rate: tuple[int, int]) -> int:
    """`wei * num / den` rounded up (a cost converted never comes out smaller)."""
    num, den = rate
    return -(-wei * num // den)


@dataclass(frozen=True, slots=True)
class Opportunity:
    cycle: Cycle
    amount_in: int
    amount_out: int
    hop_amounts: tuple[int, ...]
    """Exact output of each hop at `amount_in` (the route's intermediate amounts)."""
    gas: int
    gas_cost: int
    """Gas at `max_fee_per_gas`, in base-token units (converted with `eth_to_base`)."""
    builder_payment: int
    block_number: int
    max_fee_per_gas: int = 0
    """The fee fields a sent transaction must carry: the profit above was priced with them."""
    priority_fee_per_gas: int = 0
    eth_to_base: tuple[int, int] = (1, 1)
    """Base-token units per wei of ETH as a ratio (num, den), from the tracked pools; (1, 1) for WETH."""

    def to_base(self, wei: int) -> int:
        """A wei amount (gas, builder pay in ETH) in base-token units, rounded up: costs never shrink."""
        return wei_to_base(wei, self.eth_to_base)

    @property
    def gross_profit(self) -> int:
        return self.amount_out - self.amount_in

    @property
    def net_profit(self) -> int:
        return self.gross_profit - self.gas_cost - self.builder_payment


@dataclass(kw_only=True)
class ExecutorTxAction(Action):
    """Execute this opportunity through the executor contract as a public transaction (or, in shadow
    mode, only simulate it)."""

    capability: ClassVar[Capability] = Capability.PUBLIC_TX
    opportunity: Opportunity


@dataclass(kw_only=True)
class BackrunBundleAction(Action):
    """Bundle [victim, our executor tx] for `target_block`; ours pays the builder `builder_share_bps` of
    the gross profit (Executor Payment.PROFIT_BPS)."""

    capability: ClassVar[Capability] = Capability.BUNDLE
    opportunity: Opportunity
    victim: PendingTx
    victim_raw: bytes
    builder_share_bps: int
    state_block: int
    target_block: int
    base_fee: int
    """Predicted base fee of the target block."""
    priority_fee: int
    moved_pools: tuple[str, ...] = field(default=())

    @property
    def builder_payment(self) -> int:
        """Wei the executor sends to block.coinbase: gross * bps // 10_000, the contract's rounding."""
        return self.opportunity.builder_payment

    @property
    def executor_profit(self) -> int:
        """What `execute` returns and the executor's WETH balance gains: gross minus the builder payment."""
        return self.opportunity.gross_profit - self.opportunity.builder_payment


@dataclass(frozen=True, slots=True)
class PoolToWarm:
    """A tracked pool and what a swap through it reads, for loading it into a simulator ahead of time."""

    address: str
    protocol: str  # "v2" | "v3"
    token0: str
    token1: str
    bitmap_words: tuple[int, ...] = ()  # V3: tickBitmap words around the current tick


@dataclass(kw_only=True)
class BundlePrepare(Action):
    """A new head: get the executor ready for bundles on top of it (simulator fork, nonce, pool state),
    so the first victim of the slot does not pay for it."""

    capability: ClassVar[Capability] = Capability.BUNDLE
    state_block: int
    pools: tuple[PoolToWarm, ...] = ()


@dataclass(kw_only=True)
class LoopRebalance(Action):
    """Boost or repay the loop `account` to `target_leverage` (decided at the health factor read at
    `block_number`); the executor plans the step on the current state and simulates it before sending."""

    capability: ClassVar[Capability] = Capability.AAVE_LOOP
    account: str
    collateral: str
    debt: str
    target_leverage: str
    """Decimal as text: exact, and hashable like the other action fields."""
    health_factor: int
    block_number: int


@dataclass(frozen=True, slots=True)
class HedgeToken:
    """One side of a hedged trade: the on-chain token and the venue's asset name for it."""

    address: str
    symbol: str  # on chain: "WETH"
    decimals: int
    asset: str  # on the venue: "ETH"


@dataclass(kw_only=True)
class HedgedArb(Action):
    """An AMM-CEX round trip priced at one block and book: the on-chain leg is one swap of `chain_in` of
    `token_in` for exactly `chain_out` (the exact model's output, also its min-out guard); the CEX leg is
    an IOC `cex_side` of `cex_amount` base bounded at `cex_limit` (the worst book level the edge used).

    Amounts on chain are token units; CEX amounts and prices are the venue's Decimals. `predicted_net`
    is in quote-token units, net of the pool fee (inside chain_out), the taker fee, gas and the builder's
    tip (inside gas_cost_quote)."""

    capability: ClassVar[Capability] = Capability.HEDGED_ARB

    venue: str
    symbol: str  # "ETH/USDT"
    direction: str  # "sell_amm_buy_cex" | "buy_amm_sell_cex"
    pool: str
    protocol: str  # "v2" | "v3"
    pool_fee: int  # V3 fee tier; V2: input kept per 10_000 (the executor's fee field)
    base: HedgeToken
    quote: HedgeToken
    chain_in: int
    chain_out: int
    cex_side: Literal["buy", "sell"]
    cex_amount: Decimal
    cex_limit: Decimal
    cex_quote: int  # predicted quote units paid (buy, fee in base) or received (sell, net of the fee)
    gas: int
    gas_cost_wei: int
    gas_cost_quote: int
    max_fee_per_gas: int
    priority_fee_per_gas: int
    predicted_net: int
    native_price: Decimal  # the gas token's price in quote, for converting gas and base fees
    block_number: int
    book_timestamp_ms: int

    @property
    def token_in(self) -> HedgeToken:
        return self.base if self.direction == "sell_amm_buy_cex" else self.quote

    @property
    def token_out(self) -> HedgeToken:
        return self.quote if self.direction == "sell_amm_buy_cex" else self.base

    @property
    def key(self) -> str:
        """Unique per priced round trip: the client-id root of its orders."""
        return f"{self.symbol}:{self.direction}:{self.block_number}:{self.book_timestamp_ms}:{self.chain_in}"


@dataclass(frozen=True, slots=True)
class PlannedLiquidation:
    """One liquidation of a bundle: the plan and what the Liquidator is told to pay and must return."""

    plan: LiquidationPlan
    builder_payment_wei: int
    """ETH to block.coinbase: unwrapped from the profit for WETH debt, else from the contract's ETH."""
    weth_debt: bool

    @property
    def contract_profit(self) -> int:
        """What `liquidate` returns (debt-asset units): the gross profit less a WETH-paid builder payment."""
        return self.plan.gross_profit - (self.builder_payment_wei if self.weth_debt else 0)


@dataclass(kw_only=True)
class LiquidationBundle(Action):
    """[trigger (a pending price update), our liquidations...] for `target_block` at exactly `timestamp`:
    the plans were made for that block time (interest accrues per second), so the bundle is pinned to it.
    `trigger` is None when the liquidations are possible already (a mined update, interest)."""

    capability: ClassVar[Capability] = Capability.LIQUIDATION
    liquidations: tuple[PlannedLiquidation, ...]
    trigger: PendingTx | None
    reason: str  # "pending_update" | "mined_update" | "interest"
    state_block: int
    target_block: int
    timestamp: int
    base_fee: int
    priority_fee: int
    weth_price: int
    """Oracle WETH price (8-decimal USD) the plans converted gas with."""


@dataclass(frozen=True, slots=True)
class AccountToWarm:
    """An account near liquidation and the pair it would be liquidated on (largest collateral, debt)."""

    user: str
    collateral: str
    debt: str


@dataclass(kw_only=True)
class LiquidationPrepare(Action):
    """A new head: re-point the liquidation simulator at it and load what the next bundle reads (our
    nonce; the Pool's liquidation and flash-loan paths for the accounts nearest to HF 1; the pools the
    collateral is sold in), so a pending update's bundle does not pay for it."""

    capability: ClassVar[Capability] = Capability.LIQUIDATION
    state_block: int
    pool: str
    accounts: tuple[AccountToWarm, ...] = ()
    pools: tuple[PoolToWarm, ...] = ()


@dataclass(kw_only=True)
class GmxPerpOrder(Action):
    """Open (with its take profit and stop loss) or close a GMX V2 position on `market` (the index token's
    name, "ETH"). The executor sizes an open: `collateral_usd`, at most `max_portfolio_share` of what the
    account holds, times `leverage`; it does nothing when the account already is on that side (open) or
    has no such position (close)."""

    capability: ClassVar[Capability] = Capability.GMX_ORDER
    intent: Literal["open", "close"]
    market: str
    is_long: bool
    collateral_token: str
    collateral_usd: Decimal
    leverage: Decimal
    max_portfolio_share: Decimal
    take_profit_pct: Decimal | None
    stop_loss_pct: Decimal | None
    reason: str
