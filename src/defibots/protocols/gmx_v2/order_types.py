"""GMX's Order.OrderType numbers (the SDK's types/orders), shared by the client and the execution model."""

from __future__ import annotations

from enum import IntEnum


class OrderType(IntEnum):
    """Order.OrderType as GMX numbers it (SDK types/orders)."""

    MARKET_SWAP = 0
    LIMIT_SWAP = 1
    MARKET_INCREASE = 2
    LIMIT_INCREASE = 3
    MARKET_DECREASE = 4
    LIMIT_DECREASE = 5
    STOP_LOSS_DECREASE = 6
    LIQUIDATION = 7
    STOP_INCREASE = 8

    @property
    def is_increase(self) -> bool:
        return self in (OrderType.MARKET_INCREASE, OrderType.LIMIT_INCREASE, OrderType.STOP_INCREASE)

    @property
    def is_decrease(self) -> bool:
        return self in (
            OrderType.MARKET_DECREASE,
            OrderType.LIMIT_DECREASE,
            OrderType.STOP_LOSS_DECREASE,
            OrderType.LIQUIDATION,
        )

    @property
    def is_swap(self) -> bool:
        return self in (OrderType.MARKET_SWAP, OrderType.LIMIT_SWAP)

    @property
    def is_market(self) -> bool:
        return self in (
            OrderType.MARKET_SWAP,
            OrderType.MARKET_INCREASE,
            OrderType.MARKET_DECREASE,
            OrderType.LIQUIDATION,
        )
