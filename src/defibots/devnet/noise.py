"""Market noise for the devnet: realistic random swaps through the real routers, so bots have something
to find. Transactions are signed and sent raw, as wallets do, so they show up in the mempool with their
raw bytes (what a backrun bundle needs).

The devnet's prices are led by the CEX (`price_driver.PriceDriver`: the venues' mid walks, the pools follow
through arbitrage). `ExchangeNoise` is the older, reverse direction, kept for tests that need a venue price
anchored to a pool: its ETH/USDT mid follows the replica's WETH/USDT pool with a mean-reverting offset.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from defibots.chain import addresses as A
from defibots.chain.calldata import calldata
from defibots.chain.rpc import JsonRpc
from defibots.devnet.replica import USD_PRICE, SeededPool, seeded_pools
from defibots.protocols.uniswap_v3.price import v3_price

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

ROUTERS = (A.UNISWAP_V2_ROUTER02, A.UNISWAP_V3_SWAP_ROUTER, A.UNISWAP_V3_SWAP_ROUTER02)
MAX_UINT = 2**256 - 1
DEADLINE = 2**40


@dataclass
class NoiseStats:
    sent: int = 0
    failed_to_send: int = 0
    by_router: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class NoiseParams:
    median_usd: float = 30_000.0
    sigma: float = 1.2
    max_usd: float = 2_000_000.0
    max_priority_fee_gwei: float = 2.0


def swap_call(
    rng: random.Random, pool: SeededPool, token_in: str, amount_in: int, recipient: str
) -> tuple[str, str]:
    """(router, calldata) for a swap of `amount_in` through one of the routers that can reach `pool`."""
    token_out = pool.token1 if token_in == pool.token0 else pool.token0
    tin, tout = A.TOKENS[token_in].address, A.TOKENS[token_out].address
    if pool.protocol == "v2":
        if rng.random() < 0.5:
            sig = "swapExactTokensForTokens(uint256,uint256,address[],address,uint256)"
            return A.UNISWAP_V2_ROUTER02, calldata(sig, amount_in, 0, [tin, tout], recipient, DEADLINE)
        sig = "swapExactTokensForTokens(uint256,uint256,address[],address)"
        return A.UNISWAP_V3_SWAP_ROUTER02, calldata(sig, amount_in, 0, [tin, tout], recipient)
    if rng.random() < 0.5:
        sig = "exactInputSingle((address,address,uint24,address,uint256,uint256,uint256,uint160))"
        params = (tin, tout, pool.fee, recipient, DEADLINE, amount_in, 0, 0)
        return A.UNISWAP_V3_SWAP_ROUTER, calldata(sig, params)
    sig = "exactInputSingle((address,address,uint24,address,uint256,uint256,uint160))"
    return A.UNISWAP_V3_SWAP_ROUTER02, calldata(sig, (tin, tout, pool.fee, recipient, amount_in, 0, 0))


class MarketNoise:
    """Sends random router swaps from funded accounts (the devnet's dev accounts)."""

    def __init__(
        self,
        rpc_url: str,
        traders: Sequence[LocalAccount],
        seed: int | None = None,
        params: NoiseParams | None = None,
        pools: Sequence[SeededPool] | None = None,
    ) -> None:
        self.rpc = JsonRpc(rpc_url)
        self.traders = list(traders)
        self.seed = seed if seed is not None else random.SystemRandom().randrange(2**32)
        self.rng = random.Random(self.seed)
        self.params = params or NoiseParams()
        self.pools = list(pools or seeded_pools())
        self.nonces: dict[str, int] = {}
        self.stats = NoiseStats()
        self.chain_id = int(self.rpc.call("eth_chainId"), 16)

    def _nonce(self, address: str) -> int:
        if address not in self.nonces:
            self.nonces[address] = int(self.rpc.call("eth_getTransactionCount", address, "pending"), 16)
        nonce = self.nonces[address]
        self.nonces[address] = nonce + 1
        return nonce

    def send(self, trader: LocalAccount, to: str, data: str, gas: int = 400_000) -> str:
        base_fee = int(self.rpc.call("eth_getBlockByNumber", "latest", False)["baseFeePerGas"], 16)
        tip = int(self.rng.uniform(0.05, self.params.max_priority_fee_gwei) * 10**9)
        tx: dict[str, Any] = {
            "chainId": self.chain_id,
            "nonce": self._nonce(trader.address),
            "to": to,
            "data": data,
            "value": 0,
            "gas": gas,
            "maxPriorityFeePerGas": tip,
            "maxFeePerGas": 2 * base_fee + tip,
            "type": 2,
        }
        signed = trader.sign_transaction(tx)
        return str(self.rpc.call("eth_sendRawTransaction", "0x" + signed.raw_transaction.hex()))

    def approve_routers(self) -> None:
        """Approve every router for every token, and wait until the approvals are mined."""
        hashes = [
            self.send(trader, token.address, calldata("approve(address,uint256)", router, MAX_UINT), 80_000)
            for trader in self.traders
            for token in A.TOKENS.values()
            for router in ROUTERS
        ]
        self.wait_mined(hashes)

    def wait_mined(self, hashes: Sequence[str], timeout_s: float = 30.0) -> list[dict[str, Any]]:
        """Receipts of `hashes` (automine answers a send before its block exists)."""
        deadline = time.monotonic() + timeout_s
        receipts: list[dict[str, Any]] = []
        for tx_hash in hashes:
            while (receipt := self.rpc.call("eth_getTransactionReceipt", tx_hash)) is None:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"transaction {tx_hash} not mined within {timeout_s:g}s")
                time.sleep(0.005)
            receipts.append(receipt)
        return receipts

    def random_swap(self) -> str:
        pool = self.rng.choice(self.pools)
        token_in = self.rng.choice((pool.token0, pool.token1))
        usd = min(
            self.params.max_usd, self.params.median_usd * math.exp(self.rng.gauss(0, self.params.sigma))
        )
        amount_in = max(1, int(usd / USD_PRICE[token_in] * 10 ** A.TOKENS[token_in].decimals))
        trader = self.rng.choice(self.traders)
        router, data = swap_call(self.rng, pool, token_in, amount_in, trader.address)
        tx_hash = self.send(trader, router, data)
        self.stats.sent += 1
        self.stats.by_router[router] = self.stats.by_router.get(router, 0) + 1
        return tx_hash

    def run(
        self,
        rate_per_s: float,
        duration_s: float | None = None,
        on_tick: Callable[[NoiseStats], None] | None = None,
    ) -> NoiseStats:
        """Poisson arrivals at `rate_per_s` until `duration_s` passes (forever if None)."""
        end = None if duration_s is None else time.monotonic() + duration_s
        while end is None or time.monotonic() < end:
            time.sleep(self.rng.expovariate(rate_per_s))
            self.random_swap()
            if on_tick:
                on_tick(self.stats)
        return self.stats


def reference_pool(base: str = "WETH", quote: str = "USDT", fee: int = 500) -> SeededPool:
    """The seeded V3 pool a CEX symbol's price follows (mainnet's deepest WETH/USDT pool is the 0.05%)."""
    for pool in seeded_pools():
        if pool.protocol == "v3" and pool.fee == fee and {pool.token0, pool.token1} == {base, quote}:
            return pool
    raise ValueError(f"the replica seeds no {base}/{quote} V3 pool with fee {fee}")


@dataclass(frozen=True)
class ExchangeNoiseParams:
    sigma_bps: float = 8.0  # shock to the CEX-AMM offset per step
    reversion: float = 0.1  # share of the offset taken back per step (arbitrage pulling the venues together)
    max_offset_bps: float = 80.0


class ExchangeNoise:
    """Sets a CEX symbol's mid to the AMM price times (1 + offset), the offset an Ornstein-Uhlenbeck walk.

    With the defaults the offset's spread is about 18 bps: often inside the ~15 bps a round trip costs
    (pool fee 5, taker fee 10), sometimes well outside it, which is when AMM-CEX signals appear.
    `set_mid` is LocalExchange.set_mid in the exchange's own loop, or `admin_set_mid` bound to its URL.
    """

    def __init__(
        self,
        set_mid: Callable[[str, Decimal], object],
        symbol: str = "ETH/USDT",
        pool: SeededPool | None = None,
        seed: int | None = None,
        params: ExchangeNoiseParams | None = None,
        tick: Decimal = Decimal("0.01"),
    ) -> None:
        self.set_mid = set_mid
        self.symbol = symbol
        self.pool = pool or reference_pool()
        self.rng = random.Random(seed)
        self.params = params or ExchangeNoiseParams()
        self.tick = tick
        self.offset_bps = 0.0
        base, quote = symbol.split("/")
        self.base = "WETH" if base == "ETH" else base
        self.quote = quote
        if {self.base, self.quote} != {self.pool.token0, self.pool.token1}:
            raise ValueError(f"pool {self.pool.address} does not trade {symbol}")
        self.moves = 0

    def step(self, amm_mid: Decimal) -> Decimal:
        """One move: update the offset, set the exchange's mid, return it."""
        p = self.params
        drift = -p.reversion * self.offset_bps + self.rng.gauss(0.0, p.sigma_bps)
        self.offset_bps = max(-p.max_offset_bps, min(p.max_offset_bps, self.offset_bps + drift))
        factor = 1 + Decimal(repr(round(self.offset_bps, 4))) / 10_000
        mid = (amm_mid * factor).quantize(self.tick)
        self.set_mid(self.symbol, mid)
        self.moves += 1
        return mid

    def amm_mid(self, rpc: JsonRpc) -> Decimal:
        """The reference pool's price on chain now (slot0), in whole quote per whole base."""
        reply = rpc.call("eth_call", {"to": self.pool.address, "data": calldata("slot0()")}, "latest")
        sqrt_price_x96 = int(str(reply)[2:66], 16)
        base, quote = A.TOKENS[self.base], A.TOKENS[self.quote]
        return v3_price(sqrt_price_x96, self.pool.token0 == self.base, base.decimals, quote.decimals)

    def step_from_chain(self, rpc: JsonRpc) -> Decimal:
        return self.step(self.amm_mid(rpc))
