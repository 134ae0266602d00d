"""cex_arb on pure models and a hand-built book: every expected amount is worked out in the comments."""

from __future__ import annotations

from decimal import Decimal as D

from defibots.cex.book import Depth, Level
from defibots.cex.events import BookTop
from defibots.chain.addresses import TOKENS
from defibots.chain.events import NewBlock
from defibots.protocols.uniswap_quote import quote
from defibots.protocols.uniswap_v2 import UniswapV2Pair
from defibots.protocols.uniswap_v3 import UniswapV3Pool
from defibots.protocols.uniswap_v3.tick_math import get_sqrt_ratio_at_tick
from defibots.state.uniswap import PoolsUpdated, pool_market, uniswap
from defibots.strategies.cex_arb import (
    CexArbParams,
    CexArbStrategy,
    CexMarket,
    CexSignal,
    CexToken,
    buy_exact,
    market_pools,
    pool_mid_price,
)

WETH_T, USDT_T, USDC_T = (
    CexToken(TOKENS[s].address, s, TOKENS[s].decimals) for s in ("WETH", "USDT", "USDC")
)
WETH, USDT, USDC = WETH_T.address, USDT_T.address, USDC_T.address
E18 = 10**18
ETH_USDT = CexMarket("ETH/USDT", WETH_T, (USDT_T,))


def pair(address: str, quote_token: str, weth: int, usd: int) -> UniswapV2Pair:
    # WETH (0xC02a..) sorts before USDT (0xdAC1..) and after USDC (0xA0b8..)
    if int(WETH, 16) < int(quote_token, 16):
        return UniswapV2Pair(address, WETH, quote_token, weth * E18, usd * 10**6, block_number=10)
    return UniswapV2Pair(address, quote_token, WETH, usd * 10**6, weth * E18, block_number=10)


V2_USDT = pair("0x" + "01" * 20, USDT, 1_000, 3_000_000)  # 1,000 WETH : 3,000,000 USDT -> 3000
V2_USDC = pair("0x" + "02" * 20, USDC, 1_000, 2_900_000)  # USDC pair, cheaper: 2900


def book(bid: str, ask: str, qty: str = "10") -> Depth:
    b, a = D(bid), D(ask)
    return Depth(
        "local",
        "ETH/USDT",
        bids=(Level(b, D(qty)), Level(b - 1, D(qty))),
        asks=(Level(a, D(qty)), Level(a + 1, D(qty))),
        timestamp_ms=1,
    )


def top(depth: Depth) -> BookTop:
    bid, ask = depth.bids[0], depth.asks[0]
    return BookTop(
        venue="local", symbol=depth.symbol, bid=bid.price, bid_qty=bid.qty, ask=ask.price, ask_qty=ask.qty,
        timestamp_ms=depth.timestamp_ms, depth=depth,
    )  # fmt: skip


def params(**kw: object) -> CexArbParams:
    defaults: dict[str, object] = {
        "markets": (ETH_USDT,), "sizes": (D(1),), "taker_fee_bps": D(10), "min_edge_bps": D(5),
        "base_fee": 0, "priority_fee": 10**9,
    }  # fmt: skip
    defaults.update(kw)
    return CexArbParams(**defaults)  # type: ignore[arg-type]


async def signals(strategy: CexArbStrategy, event: object) -> list[CexSignal]:
    actions = await strategy.process_event(event)  # type: ignore[arg-type]
    assert all(isinstance(a, CexSignal) for a in actions)
    return list(actions)  # type: ignore[arg-type]


async def test_cex_above_amm_buys_on_the_amm_and_sells_on_the_cex() -> None:
    strategy = CexArbStrategy(pool_market([V2_USDT]), params())
    (signal,) = await signals(strategy, top(book("3040", "3041")))
    assert (signal.direction, signal.pool, signal.protocol, signal.size, signal.quote) == (
        "buy_amm_sell_cex", V2_USDT.address, "v2", E18, USDT_T
    )  # fmt: skip
    # exact-out on the pair (getAmountIn): 3e12 * 1e18 * 1000 / ((1000e18 - 1e18) * 997) + 1
    assert signal.amm_quote == 3_012_039_121
    # sell 1 ETH into the 3040 bid, 10 bps fee in quote: 3040 - 3.04 = 3036.96 USDT
    assert signal.cex_quote == 3_036_960_000
    # gas 36,000 + 45,000 (one V2 hop) at 1 gwei = 0.000081 ETH; at the mid 3040.5 = 0.2462805 USDT, up
    assert (signal.gas, signal.gas_cost_wei, signal.gas_cost_quote) == (81_000, 81_000 * 10**9, 246_281)
    assert signal.net_profit == 3_036_960_000 - 3_012_039_121 - 246_281 == 24_674_598
    assert signal.gross_profit == 24_920_879
    assert signal.edge_bps == D("81.91")  # 24,674,598 * 1e4 / 3,012,039,121, rounded down
    assert signal.amm_price == D("3012.039121") and signal.cex_price == D("3036.96")
    assert (signal.bid, signal.ask, signal.venue, signal.symbol) == (
        D("3040"),
        D("3041"),
        "local",
        "ETH/USDT",
    )


async def test_cex_below_amm_sells_on_the_amm_and_buys_back_net_of_the_fee() -> None:
    strategy = CexArbStrategy(pool_market([V2_USDT]), params())
    (signal,) = await signals(strategy, top(book("2960", "2961")))
    assert signal.direction == "sell_amm_buy_cex"
    # getAmountOut: 1e18 * 997 * 3e12 / (1000e18 * 1000 + 1e18 * 997)
    assert signal.amm_quote == 2_988_020_943
    # the fee is taken in ETH: buy 1 / 0.999 ETH at 2961 = 2963.963963... USDT, rounded up
    assert signal.cex_quote == 2_963_963_964
    # gas 0.000081 ETH at the mid 2960.5 = 0.2398005 USDT, rounded up
    assert signal.gas_cost_quote == 239_801
    assert signal.net_profit == 2_988_020_943 - 2_963_963_964 - 239_801 == 23_817_178
    assert signal.edge_bps == D("79.70")


async def test_aligned_prices_give_no_signal_but_keep_the_best_for_display() -> None:
    strategy = CexArbStrategy(pool_market([V2_USDT]), params(sizes=(D(1), D(5))))
    assert await signals(strategy, top(book("3000", "3000.5"))) == []
    best = strategy.best[("ETH/USDT", "sell_amm_buy_cex")]
    assert best.net_profit < 0 and best.size == E18  # the smaller size loses less
    assert strategy.stats.evaluations == 1 and strategy.stats.signals == 0


async def test_edge_threshold_gas_and_depth() -> None:
    # edge 81.91 bps (see above) is not above a threshold of 81.91
    strategy = CexArbStrategy(pool_market([V2_USDT]), params(min_edge_bps=D("81.91")))
    assert await signals(strategy, top(book("3040", "3041"))) == []
    # a base fee of 99 gwei makes gas 100 gwei: 0.0081 ETH * 3040.5 = 24.62805 USDT, rounded up; what is
    # left is 0.97 bps, below the default 5 bps threshold
    strategy = CexArbStrategy(pool_market([V2_USDT]), params(min_edge_bps=D(0)))
    await strategy.process_event(
        NewBlock(chain_id=1, number=11, hash="0x", parent_hash="0x", timestamp=0, base_fee_per_gas=99 * 10**9)
    )
    (signal,) = await signals(strategy, top(book("3040", "3041")))
    assert signal.gas_cost_quote == 24_628_050
    assert signal.net_profit == 24_920_879 - 24_628_050
    assert signal.block_number == 11 and signal.edge_bps == D("0.97")
    # 25 ETH is more than the 20 ETH the book shows: not priced, counted
    strategy = CexArbStrategy(pool_market([V2_USDT]), params(sizes=(D(25),)))
    assert await signals(strategy, top(book("3040", "3041"))) == []
    assert strategy.stats.no_depth == 2 and not strategy.best


async def test_usdc_pools_count_only_when_treated_as_usdt() -> None:
    states = pool_market([V2_USDT, V2_USDC])
    assert market_pools(uniswap(states), ETH_USDT) == [V2_USDT.address]
    pegged = CexMarket("ETH/USDT", WETH_T, (USDT_T, USDC_T))
    assert market_pools(uniswap(states), pegged) == [V2_USDT.address, V2_USDC.address]
    strategy = CexArbStrategy(states, params(markets=(pegged,)))
    (signal,) = await signals(strategy, top(book("3040", "3041")))
    # the USDC pair (price 2900) is the cheaper place to buy
    assert (signal.pool, signal.quote, signal.direction) == (V2_USDC.address, USDC_T, "buy_amm_sell_cex")
    assert signal.amm_quote == buy_exact(V2_USDC, USDC, E18)


async def test_pool_changes_reprice_once_per_distinct_result() -> None:
    states = pool_market([V2_USDT, V2_USDC])
    strategy = CexArbStrategy(states, params())
    assert await signals(strategy, PoolsUpdated(1, 11, (V2_USDT.address,))) == []  # no book yet
    assert len(await signals(strategy, top(book("3040", "3041")))) == 1
    assert await signals(strategy, PoolsUpdated(1, 11, (V2_USDC.address,))) == []  # not this market's
    assert strategy.stats.evaluations == 1
    assert await signals(strategy, PoolsUpdated(1, 11, (V2_USDT.address,))) == []  # same result: no repeat
    assert strategy.stats.evaluations == 2
    moved = pair(V2_USDT.address, USDT, 1_001, 2_997_000)
    states.replace("uniswap", {moved.address: moved})
    (signal,) = await signals(strategy, PoolsUpdated(1, 12, (V2_USDT.address,)))
    assert signal.amm_quote == moved.get_amount_in(USDT, E18) and signal.block_number == 12


async def test_a_market_without_a_native_book_cannot_price_gas() -> None:
    wbtc = CexToken(TOKENS["WBTC"].address, "WBTC", 8)
    wbtc_pair = UniswapV2Pair("0x" + "03" * 20, wbtc.address, USDT, 100 * 10**8, 6_000_000 * 10**6)
    btc = CexMarket("BTC/USDT", wbtc, (USDT_T,), base_is_native=False)
    strategy = CexArbStrategy(pool_market([wbtc_pair, V2_USDT]), params(markets=(btc, ETH_USDT)))
    btc_book = Depth("local", "BTC/USDT", (Level(D("61000"), D("5")),), (Level(D("61001"), D("5")),), 1)
    assert await signals(strategy, top(btc_book)) == []  # no ETH/USDT book yet
    await signals(strategy, top(book("3000", "3000.5")))
    (signal,) = await signals(strategy, top(btc_book))
    # gas 81,000 at 1 gwei priced at the ETH/USDT mid 3000.25: 0.24302025 USDT, rounded up
    assert signal.gas_cost_quote == 243_021 and signal.direction == "buy_amm_sell_cex"


def v3_weth_usdt() -> UniswapV3Pool:
    tick = -196_250  # 1.0001**-196250 * 1e12 = ~3002 USDT per WETH
    liquidity = 2 * 10**17
    return UniswapV3Pool.from_chain_state(
        address="0x" + "04" * 20, token0=WETH, token1=USDT, fee=500, tick_spacing=10,
        sqrt_price_x96=get_sqrt_ratio_at_tick(tick), tick=tick, liquidity=liquidity,
        ticks=[(-200_000, liquidity, liquidity), (-192_000, liquidity, -liquidity)], block_number=10,
    )  # fmt: skip


async def test_v3_pool_prices_come_from_the_exact_swap_model() -> None:
    pool = v3_weth_usdt()
    mid = pool_mid_price(pool, WETH_T, USDT_T)
    assert D("3001") < mid < D("3003")
    paid = buy_exact(pool, USDT, E18)
    assert paid == pool.swap_exact_out(USDT, E18).amount_in
    assert quote(pool, USDT, paid) >= E18 > quote(pool, USDT, paid - 10)  # exact-out rounds up, barely
    strategy = CexArbStrategy(pool_market([pool]), params(sizes=(D(1), D(5))))
    depth = book("3030", "3031", qty="3")
    (signal,) = await signals(strategy, top(depth))
    assert signal.protocol == "v3" and signal.pool_fee == 500 and signal.gas == 36_000 + 75_000
    # 5 ETH beats 1 ETH; it needs both bid levels: 3 @ 3030 + 2 @ 3029 = 15148 USDT, less 10 bps
    assert signal.size == 5 * E18 and signal.cex_quote == 15_132_852_000
    assert signal.amm_quote == pool.swap_exact_out(USDT, 5 * E18).amount_in
    # gas 111,000 at 1 gwei at the mid 3030.5 = 0.3363855 USDT, rounded up
    assert signal.gas_cost_quote == 336_386
    assert signal.net_profit == signal.cex_quote - signal.amm_quote - 336_386
