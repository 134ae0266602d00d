"""A GMX V2 market as the front end sees it: static factors (`MarketConfig`) and the reader's live
values (`MarketState`), with the open-interest and pool views the fee, impact and PnL math share.

Amounts are ints: USD and factors in 1e30, token amounts in the token's smallest unit, prices as
USD * 10**(30 - token decimals). Per-second rates (borrowing, funding) are the values the Reader
returns for "now"; this model does not accrue them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from defibots.protocols.gmx_v2.precision import apply_factor, convert_to_usd

PriceKind = Literal["min", "max", "mid"]


@dataclass(frozen=True)
class TokenPrices:
    """The oracle's min/max price pair for one token."""

    min_price: int
    max_price: int

    @property
    def mid_price(self) -> int:
        """(min + max) / 2, rounded down."""
        return (self.min_price + self.max_price) // 2

    def pick(self, kind: PriceKind) -> int:
        return self.min_price if kind == "min" else self.max_price if kind == "max" else self.mid_price


@dataclass(frozen=True)
class Token:
    """A market token; `symbol`, `is_synthetic` and `wrapped_address` only decide token equivalence."""

    address: str
    decimals: int
    prices: TokenPrices
    symbol: str = ""
    is_synthetic: bool = False
    wrapped_address: str | None = None

    def is_equivalent(self, other: Token) -> bool:
        """Same token for collateral purposes: same address, native vs wrapped, or synthetic by symbol."""
        if self.address == other.address:
            return True
        if self.wrapped_address == other.address or other.wrapped_address == self.address:
            return True
        return (self.is_synthetic or other.is_synthetic) and self.symbol == other.symbol


@dataclass(frozen=True)
class MarketConfig:
    """The market's DataStore factors (all 1e30) that the fee, impact and liquidation math read."""

    position_fee_factor_for_balance_was_improved: int
    position_fee_factor_for_balance_was_not_improved: int
    position_impact_factor_positive: int
    position_impact_factor_negative: int
    position_impact_exponent_factor_positive: int
    position_impact_exponent_factor_negative: int
    max_position_impact_factor_positive: int
    max_position_impact_factor_negative: int
    max_position_impact_factor_for_liquidations: int
    min_collateral_factor_for_liquidation: int
    max_pnl_factor_for_traders_long: int
    max_pnl_factor_for_traders_short: int
    use_open_interest_in_tokens_for_balance: bool = False


@dataclass(frozen=True)
class MarketState:
    """What the Reader reports for a market at one moment: tokens and prices, pools, open interest,
    the impact pool and virtual inventory, and the current borrowing and funding rates."""

    index_token: Token
    long_token: Token
    short_token: Token
    long_pool_amount: int
    short_pool_amount: int
    long_interest_usd: int
    short_interest_usd: int
    long_interest_in_tokens: int
    short_interest_in_tokens: int
    borrowing_factor_per_second_for_longs: int = 0
    borrowing_factor_per_second_for_shorts: int = 0
    funding_factor_per_second: int = 0
    longs_pay_shorts: bool = True
    virtual_inventory_for_positions: int = 0
    position_impact_pool_amount: int = 0


@dataclass(frozen=True)
class Market:
    """One market: its config and state, and the views derived from both."""

    config: MarketConfig
    state: MarketState

    def open_interest_usd(self, is_long: bool) -> int:
        return self.state.long_interest_usd if is_long else self.state.short_interest_usd

    def open_interest_in_tokens(self, is_long: bool) -> int:
        return self.state.long_interest_in_tokens if is_long else self.state.short_interest_in_tokens

    def open_interest_for_balance(self, is_long: bool) -> int:
        """The side's OI that impact and funding balance: USD at entry, or tokens at the mid price
        when the market balances by tokens."""
        if self.config.use_open_interest_in_tokens_for_balance:
            index = self.state.index_token
            return convert_to_usd(
                self.open_interest_in_tokens(is_long), index.decimals, index.prices.mid_price
            )
        return self.open_interest_usd(is_long)

    def pool_usd_without_pnl(self, is_long: bool, kind: PriceKind) -> int:
        """The long (or short) collateral pool valued at its token's min, max or mid price."""
        amount = self.state.long_pool_amount if is_long else self.state.short_pool_amount
        token = self.state.long_token if is_long else self.state.short_token
        return convert_to_usd(amount, token.decimals, token.prices.pick(kind))

    def market_pnl(self, is_long: bool, maximize: bool) -> int:
        """The traders' total PnL on one side at the index price that maximizes (or minimizes) it."""
        oi_usd = self.open_interest_usd(is_long)
        oi_tokens = self.open_interest_in_tokens(is_long)
        if oi_usd == 0 or oi_tokens == 0:
            return 0
        prices = self.state.index_token.prices
        price = (
            (prices.max_price if maximize else prices.min_price)
            if is_long
            else (prices.min_price if maximize else prices.max_price)
        )
        value = convert_to_usd(oi_tokens, self.state.index_token.decimals, price)
        return value - oi_usd if is_long else oi_usd - value

    def capped_pool_pnl(self, is_long: bool, pool_usd: int, pool_pnl: int) -> int:
        """Positive pool PnL capped at max_pnl_factor_for_traders * pool USD; a loss passes unchanged."""
        if pool_pnl < 0:
            return pool_pnl
        factor = (
            self.config.max_pnl_factor_for_traders_long
            if is_long
            else self.config.max_pnl_factor_for_traders_short
        )
        return min(pool_pnl, apply_factor(pool_usd, factor))
