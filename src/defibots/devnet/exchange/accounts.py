"""Trading accounts of a local venue: API credentials, free and locked balances, maker and taker fees.

An open order locks what it may still spend (quote to buy, base to sell); fills spend from that lock and
credit the asset received minus the commission, which is charged on the received asset, like Binance
spot. The market maker's account is `unlimited`: it never checks or moves balances.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from defibots.devnet.exchange.orders import OrderRejected

ZERO = Decimal(0)


class Account:
    """One account; every amount is an exact Decimal in the asset's own unit."""

    def __init__(
        self,
        account_id: str,
        api_key: str,
        api_secret: str,
        *,
        balances: Mapping[str, Decimal | int | str] | None = None,
        maker_fee_bps: Decimal | int = 10,
        taker_fee_bps: Decimal | int = 10,
        unlimited: bool = False,
    ) -> None:
        self.account_id = account_id
        self.api_key = api_key
        self.api_secret = api_secret
        self.maker_fee_bps = Decimal(maker_fee_bps)
        self.taker_fee_bps = Decimal(taker_fee_bps)
        self.unlimited = unlimited
        self.free: dict[str, Decimal] = {k: Decimal(v) for k, v in (balances or {}).items()}
        self.locked: dict[str, Decimal] = {k: ZERO for k in self.free}

    @property
    def balances(self) -> dict[str, Decimal]:
        """Free balance per asset (what a new order can use)."""
        return self.free

    def open(self, asset: str) -> None:
        """Make sure the account lists `asset` (at zero if it holds none)."""
        self.free.setdefault(asset, ZERO)
        self.locked.setdefault(asset, ZERO)

    def fee_bps(self, is_maker: bool) -> Decimal:
        return self.maker_fee_bps if is_maker else self.taker_fee_bps

    def lock(self, asset: str, amount: Decimal) -> None:
        """Hold `amount` back for an order; raises OrderRejected("insufficient_balance") if it is not free."""
        if self.unlimited or amount <= 0:
            return
        self.open(asset)
        if self.free[asset] < amount:
            raise OrderRejected("insufficient_balance")
        self.free[asset] -= amount
        self.locked[asset] += amount

    def unlock(self, asset: str, amount: Decimal) -> None:
        if self.unlimited or amount <= 0:
            return
        self.locked[asset] -= amount
        self.free[asset] += amount

    def settle(self, spent_asset: str, spent: Decimal, received_asset: str, received: Decimal) -> None:
        """A fill: `spent` leaves the lock, `received` (net of the commission) arrives free."""
        if self.unlimited:
            return
        self.open(received_asset)
        self.locked[spent_asset] -= spent
        self.free[received_asset] += received
