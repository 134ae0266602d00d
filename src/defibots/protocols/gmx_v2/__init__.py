"""GMX V2 (synthetics): the front end's position math in exact integers.

Pure models of the functions in npm @gmx-io/sdk@1.4.0 (`utils/fees`, `utils/fees/priceImpact`,
`utils/positions`): position fees, price impact with its caps, borrowing and funding per period, PnL
with the pool cap, and the liquidation price, with the SDK's rounding (BigInt division toward zero).
USD and factors are ints in 1e30; prices are USD * 10**(30 - token decimals).
"""

from defibots.protocols.gmx_v2.fees import (
    PositionFee,
    ReferralInfo,
    borrowing_factor_per_period,
    borrowing_fee_rate_usd,
    funding_factor_per_period,
    funding_fee_rate_usd,
    position_fee,
)
from defibots.protocols.gmx_v2.market import Market, MarketConfig, MarketState, Token, TokenPrices
from defibots.protocols.gmx_v2.position import (
    entry_price,
    front_end_position_key,
    leverage,
    liquidation_price,
    position_key,
    position_pnl_usd,
    position_value_usd,
)
from defibots.protocols.gmx_v2.precision import FLOAT_PRECISION, USD_DECIMALS, apply_factor
from defibots.protocols.gmx_v2.price_impact import (
    DecreaseImpact,
    NegativeOpenInterest,
    PriceImpact,
    ProportionalPendingImpact,
    apply_impact_factor,
    cap_by_impact_pool,
    cap_by_max_impact_factor,
    capped_position_impact_usd,
    max_position_impact_factors,
    net_price_impact_for_decrease,
    price_impact_for_position,
    price_impact_usd,
    proportional_pending_impact,
)

__all__ = [
    "FLOAT_PRECISION",
    "USD_DECIMALS",
    "DecreaseImpact",
    "Market",
    "MarketConfig",
    "MarketState",
    "NegativeOpenInterest",
    "PositionFee",
    "PriceImpact",
    "ProportionalPendingImpact",
    "ReferralInfo",
    "Token",
    "TokenPrices",
    "apply_factor",
    "apply_impact_factor",
    "borrowing_factor_per_period",
    "borrowing_fee_rate_usd",
    "cap_by_impact_pool",
    "cap_by_max_impact_factor",
    "capped_position_impact_usd",
    "entry_price",
    "front_end_position_key",
    "funding_factor_per_period",
    "funding_fee_rate_usd",
    "leverage",
    "liquidation_price",
    "max_position_impact_factors",
    "net_price_impact_for_decrease",
    "position_fee",
    "position_key",
    "position_pnl_usd",
    "position_value_usd",
    "price_impact_for_position",
    "price_impact_usd",
    "proportional_pending_impact",
]
