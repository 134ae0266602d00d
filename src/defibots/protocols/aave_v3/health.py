"""Health factors of many accounts, revalued incrementally on a price update (for liquidation watching).

getUserAccountData sums per-reserve terms: each collateral's value times its liquidation threshold, and
each debt's value. The terms of different reserves do not interact until the final division, so keeping
each account's terms and sums lets a price update recompute only that asset's terms for that asset's
holders, and the result is still exactly what the Pool computes (the same integer terms, the same sums).
Balances are taken at one timestamp: interest accrual is a new `add` of the account.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from defibots.protocols.aave_v3.account import UserReserve, user_reserve_liquidation_threshold
from defibots.protocols.aave_v3.configuration import EModeCategory
from defibots.protocols.aave_v3.math import MAX_UINT256, wad_div


class HealthBook:
    """Per asset, each holder's entry [collateral balance, debt balance, threshold, unit, collateral term,
    debt term]; per account, the two sums. Mutable lists: this is the hot loop of a price update."""

    def __init__(self) -> None:
        self._by_asset: dict[str, dict[str, list[int]]] = {}
        self._by_account: dict[str, list[str]] = {}
        self._sums: dict[str, list[int]] = {}

    def add(
        self, account: str, positions: Sequence[UserReserve], timestamp: int, e_mode: EModeCategory | None
    ) -> None:
        """(Re)value one account from its positions at `timestamp` (after any balance change)."""
        self.remove(account)
        sums, assets = [0, 0], []
        for p in positions:
            collateral = p.a_token_balance(timestamp) if p.using_as_collateral else 0
            debt = p.debt(timestamp) if p.borrowing else 0
            if not (collateral or debt):
                continue
            threshold = user_reserve_liquidation_threshold(p.reserve, e_mode)
            entry = [collateral, debt, threshold, p.reserve.configuration.unit, 0, 0]
            _revalue(entry, p.price)
            sums[0] += entry[4]
            sums[1] += entry[5]
            self._by_asset.setdefault(p.reserve.asset, {})[account] = entry
            assets.append(p.reserve.asset)
        self._by_account[account] = assets
        self._sums[account] = sums

    def remove(self, account: str) -> None:
        for asset in self._by_account.pop(account, ()):
            del self._by_asset[asset][account]
        self._sums.pop(account, None)

    def set_price(self, asset: str, price: int) -> list[str]:
        """A new oracle price: revalue the asset's holders only; returns them."""
        holders = self._by_asset.get(asset, {})
        sums = self._sums
        for account, entry in holders.items():
            old_collateral, old_debt = entry[4], entry[5]
            _revalue(entry, price)
            total = sums[account]
            total[0] += entry[4] - old_collateral
            total[1] += entry[5] - old_debt
        return list(holders)

    def health_factors_at(self, asset: str, price: int) -> dict[str, int]:
        """Each holder's health factor were `asset` at `price` (a pending update); the book is unchanged."""
        out: dict[str, int] = {}
        probe = [0, 0, 0, 0, 0, 0]
        for account, entry in self._by_asset.get(asset, {}).items():
            probe[:4] = entry[:4]
            _revalue(probe, price)
            weighted, debt = self._sums[account]
            weighted += probe[4] - entry[4]
            debt += probe[5] - entry[5]
            out[account] = MAX_UINT256 if debt == 0 else wad_div(weighted, debt) // 10_000
        return out

    def debt_base(self, account: str) -> int:
        """The account's debt in the oracle's base currency, as the book last valued it."""
        return self._sums[account][1] if account in self._sums else 0

    def accounts(self) -> list[str]:
        return list(self._sums)

    def health_factor(self, account: str) -> int:
        weighted, debt = self._sums[account]
        return MAX_UINT256 if debt == 0 else wad_div(weighted, debt) // 10_000

    def liquidatable(self, accounts: Iterable[str]) -> list[str]:
        return [a for a in accounts if self.health_factor(a) < 10**18]


def _revalue(entry: list[int], price: int) -> None:
    """Collateral in base rounds down and debt up, as GenericLogic values them."""
    collateral, debt, threshold, unit = entry[0], entry[1], entry[2], entry[3]
    entry[4] = collateral * price // unit * threshold
    entry[5] = -(-debt * price // unit) if debt else 0
