"""Hedged AMM-CEX round trips on the mainnet replica and the local Binance venue, through real ccxt: the
strategy prices a gap the venue's price opened, the executor runs the on-chain swap (exact to the wei) and
the IOC, and the journal's round trip adds up to the fills minus every fee. Then each failure path of the
leg-risk policy, ending with no exposure left unreported: a reject after the chain leg filled (unwound on
chain), a partial fill (hedged), a websocket drop with the IOC in flight, rate limiting, and a reorg of
the chain leg (the CEX side unwound)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import ccxt.pro as ccxtpro
import pytest

from defibots.actions import HedgedArb
from defibots.cex.feed import CexFeed
from defibots.cex.orders import CexOrderExecutor
from defibots.chain.addresses import TOKENS
from defibots.config import LegRiskPolicy
from defibots.devnet.exchange import LocalExchange, MarketSpec, RateLimits, ccxt_config
from defibots.devnet.node import Devnet
from defibots.execution.executor_client import ExecutorClient
from defibots.execution.hedged_arb import HedgedArbExecutor
from defibots.execution.inventory import InventoryBook, InventorySettings
from defibots.execution.public_tx import transfer_delta
from defibots.journal import Journal
from defibots.state.store import MarketState
from defibots.state.uniswap import uniswap
from defibots.strategies.cex_amm_arb import CexAmmArbSettings, CexAmmArbStrategy
from defibots.strategies.cex_arb import markets_for, pool_mid_price

from .executor_market import calldata, fund_weth, send
from .test_public_tx import load_states

pytestmark = pytest.mark.devnet

WETH, USDC, USDT = (TOKENS[s].address for s in ("WETH", "USDC", "USDT"))
SYMBOL = "ETH/USDT"
GAP = D("0.985")  # the venue's mid 1.5% under the pools: sell WETH on chain, buy ETH on the venue
LOT = D("0.0001")


@dataclass
class World:
    devnet: Devnet
    venue: LocalExchange
    journal: Journal
    state: MarketState
    strategy: CexAmmArbStrategy
    orders: CexOrderExecutor
    hedged: HedgedArbExecutor
    feed: CexFeed

    async def signal(self) -> HedgedArb:
        (top,) = await self.feed.poll_once()
        actions = await self.strategy.process_event(top)
        trades = [a for a in actions if isinstance(a, HedgedArb) and a.direction == "sell_amm_buy_cex"]
        assert trades, (top.bid, top.ask, self.pool_mid(), self.strategy.best, self.strategy.pricer.stats)
        return trades[0]

    def venue_mid(self, factor: D) -> None:
        self.venue.set_mid(SYMBOL, (self.pool_mid() * factor).quantize(D("0.01")))

    def pool_mid(self) -> D:
        """The median mid of the market's pools (a shallow pool's price is no reference)."""
        market = self.strategy.markets[SYMBOL]
        pools = [uniswap(self.state).pools[a] for a in self.strategy.pools_by_market[SYMBOL]]
        mids = sorted(pool_mid_price(p, market.base, _quote_of(market, p)) for p in pools)
        return mids[len(mids) // 2]


def _quote_of(market: Any, pool: Any) -> Any:
    return next(q for q in market.quotes if q.address.lower() in (pool.token0.lower(), pool.token1.lower()))


@contextlib.asynccontextmanager
async def world(
    devnet: Devnet,
    tmp_path: Path,
    *,
    balances: dict[str, D] | None = None,
    policy: LegRiskPolicy | None = None,
    rate_limits: RateLimits | None = None,
    inventory: InventoryBook | None = None,
    timeout_ms: int = 10_000,
) -> AsyncIterator[World]:
    owner, bot = devnet.accounts[0], devnet.accounts[1]
    deployed, _ = ExecutorClient.deploy(devnet.w3, owner, owner.address, [bot.address])
    fund_weth(devnet.w3, deployed.address, 50 * 10**18, owner.address)
    for token in (USDC, USDT):  # the chain's quote inventory: an unwind may need more than the leg received
        send(
            devnet.w3,
            owner.address,
            token,
            calldata("transfer(address,uint256)", deployed.address, 200_000 * 10**6),
        )
    state = load_states(devnet, (WETH, USDC, USDT))
    settings = CexAmmArbSettings(sizes=[D(1), D(3)], min_edge_bps=D(5))
    strategy = CexAmmArbStrategy(state, settings, markets_for([SYMBOL], True))
    start = balances or {"USDT": D(1_000_000), "ETH": D(100)}
    async with LocalExchange(
        None, [MarketSpec(SYMBOL, D(3000))], balances=start, taker_fee_bps=10, seed=5, rate_limits=rate_limits
    ) as venue:
        journal = Journal(tmp_path / "journal.sqlite")
        config = ccxt_config(venue.url, "binance", venue.api_key, venue.api_secret) | {"timeout": timeout_ms}
        if rate_limits is not None:
            config["enableRateLimit"] = False  # ccxt's own throttle off: the venue's limits must bite
        orders = CexOrderExecutor(
            ccxtpro.binance(config), "binance", journal, strategy="cex_amm_arb", backoff_initial_s=0.05
        )
        await orders.open()
        client = ExecutorClient(devnet.w3, deployed.address, bot)
        hedged = HedgedArbExecutor(
            client, orders, journal, devnet.chain_id, state, policy or LegRiskPolicy(confirmations=0),
            rpc_url=devnet.http_url, shadow=False, inventory=inventory, poll_s=0.02,
        )  # fmt: skip
        feed = CexFeed("binance", (SYMBOL,), venue.url)
        await feed.open()
        w = World(devnet, venue, journal, state, strategy, orders, hedged, feed)
        w.venue_mid(GAP)
        try:
            yield w
        finally:
            await feed.close()
            await hedged.close()
            await orders.close()
            journal.close()


def fills_net(journal: Journal, order_ids: tuple[int, ...]) -> tuple[D, D]:
    """Base and quote the venue moved for us, net of fees, from the journal's fills alone."""
    base = quote = D(0)
    for oid in order_ids:
        order = next(o for o in journal.orders() if o.id == oid)
        sign = 1 if order.side == "buy" else -1
        for f in journal.fills(order_id=oid):
            base += sign * f.amount - (f.fee if f.fee_currency == "ETH" else 0)
            quote += -sign * f.amount * f.price - (f.fee if f.fee_currency == "USDT" else 0)
    return base, quote


def chain_deltas(
    devnet: Devnet, journal: Journal, send_ids: tuple[int, ...], holder: str
) -> tuple[int, int, int]:
    """WETH and USDC(T) moved for `holder` and the gas paid, from the sends' receipts on the node."""
    base = quote = gas = 0
    for sent in (s for s in journal.sends() if s.id in send_ids):
        receipt = devnet.w3.eth.get_transaction_receipt(sent.ident)  # type: ignore[arg-type]
        logs = [
            dict(
                log,
                topics=["0x" + bytes(t).hex() for t in log["topics"]],
                data="0x" + bytes(log["data"]).hex(),
            )
            for log in receipt["logs"]
        ]
        base += transfer_delta(logs, WETH, holder)
        quote += transfer_delta(logs, USDC, holder) + transfer_delta(logs, USDT, holder)
        gas += receipt["gasUsed"] * receipt["effectiveGasPrice"]
    return base, quote, gas


def only_trip(journal: Journal) -> Any:
    (trip,) = journal.round_trips()
    return trip


def assert_flat(trip: Any) -> None:
    """No exposure left unreported: flat to under one venue lot, or journaled unhedged (never silent)."""
    assert abs(D(trip.residual_base).scaleb(-18)) < LOT or trip.status == "unhedged"


async def test_both_legs_end_to_end_and_the_round_trip_adds_up(devnet: Devnet, tmp_path: Path) -> None:
    async with world(devnet, tmp_path) as w:
        trade = await w.signal()
        assert trade.predicted_net > 0
        await w.hedged.execute(trade)
        trip = only_trip(w.journal)

        assert trip.status == "closed", trip.details
        base, quote, gas = chain_deltas(devnet, w.journal, trip.send_ids, w.hedged.client.address)
        assert (base, quote) == (-trade.chain_in, trade.chain_out)  # the on-chain leg exactly as predicted
        assert (trip.chain_base, trip.chain_quote) == (base, quote)
        cex_base, cex_quote = fills_net(w.journal, trip.order_ids)
        assert cex_base >= trade.chain_in / D(10**18)  # bought back at least what was sold, net of the fee
        assert trip.cex_quote == int((cex_quote * 10**6).to_integral_value(rounding="ROUND_DOWN"))
        assert trip.gas_cost_quote + trip.builder_payment_quote >= 0
        assert (
            trip.net_pnl
            == trip.chain_quote + trip.cex_quote - trip.gas_cost_quote - trip.builder_payment_quote
        )
        assert gas > 0 and trip.net_pnl > 0
        assert_flat(trip)


async def test_a_reject_after_the_chain_leg_filled_is_unwound_on_chain(
    devnet: Devnet, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with world(devnet, tmp_path, balances={"USDT": D(10), "ETH": D(0)}) as w:  # cannot pay for the buy
        trade = await w.signal()
        await w.hedged.execute(trade)
        trip = only_trip(w.journal)

        assert trip.status == "unwound", trip.details
        assert [o.status for o in w.journal.orders()] == ["rejected"] * 3  # the leg and two hedges
        assert len(trip.send_ids) == 2  # the leg and its unwind
        base, _, _ = chain_deltas(devnet, w.journal, trip.send_ids, w.hedged.client.address)
        assert base == trip.chain_base and 0 <= base < 10**14  # the WETH sold, bought back exactly
        assert trip.net_pnl < 0  # two pool fees and two gas costs: the price of the failure
        assert_flat(trip)
        secret, key = w.venue.api_secret, w.venue.api_key
        w.journal.close()
        text = caplog.text + (tmp_path / "journal.sqlite").read_bytes().decode("latin-1")
        assert "insufficient balance" in text.lower()
        assert secret not in text and key not in text


async def test_a_partial_fill_is_hedged_within_the_slippage_bound(devnet: Devnet, tmp_path: Path) -> None:
    async with world(devnet, tmp_path) as w:
        trade = await w.signal()
        w.venue.set_mid(SYMBOL, w.venue.market(SYMBOL).mid * D("1.0012"))  # the book lifts under the bound
        await w.hedged.execute(trade)
        trip = only_trip(w.journal)

        statuses = [o.status for o in sorted(w.journal.orders(), key=lambda o: o.id or 0)]
        assert statuses[0] in ("partially_filled", "expired", "canceled") and statuses[-1] == "filled", (
            statuses
        )
        assert trip.status == "hedged", trip.details
        assert_flat(trip)


async def test_a_websocket_drop_with_the_ioc_in_flight_loses_and_doubles_nothing(
    devnet: Devnet, tmp_path: Path
) -> None:
    async with world(devnet, tmp_path, timeout_ms=400) as w:
        stream = asyncio.create_task(w.orders.run_stream())
        try:
            await asyncio.sleep(0.3)
            trade = await w.signal()
            w.venue.delay_responses("POST", "/api/v3/order", 1.0)  # the create's answer is held back ...
            running = asyncio.create_task(w.hedged.execute(trade))
            await asyncio.sleep(0.6)
            await w.venue.streams.close_all()  # ... and every websocket drops meanwhile
            await running
        finally:
            stream.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await stream
        trip = only_trip(w.journal)
        assert trip.status == "closed", trip.details
        client_ids = [o.client_order_id for o in w.journal.orders()]
        assert len(client_ids) == 1
        venue_orders = [o for o in w.venue.engine.orders.values() if o.client_id == client_ids[0]]
        assert len(venue_orders) == 1  # sent once, filled once
        assert_flat(trip)


async def test_an_unanswered_ioc_is_never_doubled_and_is_alerted(devnet: Devnet, tmp_path: Path) -> None:
    policy = LegRiskPolicy(confirmations=0, cex_answer_timeout_s=0.5)
    async with world(devnet, tmp_path, policy=policy, timeout_ms=300) as w:
        trade = await w.signal()
        w.venue.delay_responses("POST", "/api/v3/order", 3.0, count=20)  # the venue acts, its answers lag
        w.venue.delay_responses("GET", "/api/v3/order", 3.0, count=20)
        await w.hedged.execute(trade)
        trip = only_trip(w.journal)

        assert trip.status == "unhedged", trip.details
        assert any("unanswered" in d for d in trip.details["decisions"])
        (order,) = w.journal.orders()  # no hedge was sent on top of an order in an unknown state
        venue_orders = [o for o in w.venue.engine.orders.values() if o.client_id == order.client_order_id]
        assert len(venue_orders) == 1  # every resend carried the same client id: one order on the venue
        alerts = [e for e in w.journal.errors() if (e.source, e.kind) == ("strategy:cex_amm_arb", "unhedged")]
        assert len(alerts) == 1 and "ETH unhedged" in alerts[0].message


async def test_rate_limits_are_waited_out_and_the_trip_completes(devnet: Devnet, tmp_path: Path) -> None:
    limits = RateLimits(weight_per_window=25, window_s=1, strikes_before_ban=2, ban_s=60)
    async with world(devnet, tmp_path, rate_limits=limits) as w:
        trade = await w.signal()
        for _ in range(3):  # use up the window just before the CEX leg
            with contextlib.suppress(Exception):
                await w.orders.exchange.fetch_open_orders(SYMBOL)
        await w.hedged.execute(trade)
        trip = only_trip(w.journal)
        assert trip.status == "closed", trip.details
        assert w.orders.stats.rate_limited >= 1
        assert any(e.kind == "rate_limit" for e in w.journal.errors())
        await w.orders.exchange.fetch_time()  # not banned
        assert_flat(trip)


async def test_a_reorg_of_the_chain_leg_unwinds_the_cex_side(devnet: Devnet, tmp_path: Path) -> None:
    policy = LegRiskPolicy(confirmations=3, reorg_grace_blocks=2)
    bands = {"binance": {"ETH": {"target": "100", "low": "0", "high": "1000"}}}
    book = InventoryBook(InventorySettings.model_validate({"bands": bands, "transfer_minutes": {"ETH": 15}}))
    book.set("binance", "ETH", D(100))
    async with world(devnet, tmp_path, policy=policy, inventory=book) as w:
        trade = await w.signal()
        await w.hedged.execute(trade)
        first = only_trip(w.journal)
        assert first.status == "closed"
        (send,) = w.journal.sends()
        leg = devnet.w3.eth.get_transaction(send.ident)  # type: ignore[arg-type]
        # the leg's block is replaced by a branch holding another tx of ours at the leg's nonce (a
        # replacement a second node of ours broadcast): the signed leg can never land again, so the ETH
        # bought on the venue must be sold back
        bot = devnet.accounts[1].address
        other = {"from": bot, "to": bot, "value": "0x0", "nonce": hex(leg["nonce"]), "gas": "0x5208"}
        devnet.rpc("anvil_reorg", 1, [[other, 0]])
        for _ in range(6):
            await asyncio.sleep(0.15)
            devnet.rpc("evm_mine")
        await asyncio.wait_for(asyncio.gather(*w.hedged._watches), 10)
        trip = only_trip(w.journal)
        assert trip.status == "reorged", trip.details
        assert [o.side for o in sorted(w.journal.orders(), key=lambda o: o.id or 0)] == ["buy", "sell"]
        assert (trip.chain_base, trip.chain_quote) == (0, 0)  # the leg is gone
        assert w.hedged.stats.by_status == {"closed": 0, "reorged": 1}  # the trip counts once, as it ended
        assert book.get("binance", "ETH") == D(100) + D(trip.cex_base).scaleb(-18)  # its moves booked once
        assert_flat(trip)


@pytest.mark.parametrize("band_low", [D(999_000)])
async def test_inventory_drift_raises_a_rebalance_plan_and_an_alert(
    devnet: Devnet, tmp_path: Path, band_low: D
) -> None:
    settings = InventorySettings.model_validate(
        {
            "bands": {
                "binance": {"USDT": {"target": "1000000", "low": str(band_low), "high": "2000000"}},
                "chain": {"USDC": {"target": "0", "low": "0", "high": "100000000"}},
            },
            "transfer_minutes": {"USDT": 30, "USDC": 30},
            "same_asset": {"USDC": "USDT"},
        }
    )
    book = InventoryBook(settings)
    book.set("binance", "USDT", D(1_000_000))
    book.set("chain", "USDC", D(0))
    async with world(devnet, tmp_path, inventory=book) as w:
        for _ in range(2):
            trade = await w.signal()
            await w.hedged.execute(trade)
        alerts = [e for e in w.journal.errors() if e.source == "strategy:cex_amm_arb"]
        kinds = {e.kind for e in alerts}
        assert {"inventory", "rebalance_plan"} <= kinds, alerts
        assert book.get("binance", "USDT") < band_low
