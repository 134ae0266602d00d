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
from defibots.protocols.aave_v3.math import MAX_UINT256, WAD, wad_div


class HealthBook:
    """Per asset, its collateral holders' entries [balance, threshold, unit, term] and its debtors' [balance,
    unit, term]; per account, the two sums [collateral * threshold, debt] in base. Two tables, because an
    asset's holders mostly sit on one side: a price update then touches each entry once with no branch.
    Mutable lists: this is the hot loop of a price update."""

    def __init__(self) -> None:
        self._collateral: dict[str, dict[str, list[int]]] = {}
        self._debt: dict[str, dict[str, list[int]]] = {}
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
            asset, unit = p.reserve.asset, p.reserve.configuration.unit
            if collateral:
                threshold = user_reserve_liquidation_threshold(p.reserve, e_mode)
                term = collateral * p.price // unit * threshold
                self._collateral.setdefault(asset, {})[account] = [collateral, threshold, unit, term]
                sums[0] += term
            if debt:
                term = -(-debt * p.price // unit)
                self._debt.setdefault(asset, {})[account] = [debt, unit, term]
                sums[1] += term
            assets.append(asset)
        self._by_account[account] = assets
        self._sums[account] = sums

    def remove(self, account: str) -> None:
        for asset in self._by_account.pop(account, ()):
            self._collateral.get(asset, {}).pop(account, None)
            self._debt.get(asset, {}).pop(account, None)
        self._sums.pop(account, None)

    def holders(self, asset: str) -> list[str]:
        """Accounts whose health factor the asset's price moves."""
        return list(dict.fromkeys([*self._collateral.get(asset, ()), *self._debt.get(asset, ())]))

    def set_price(self, asset: str, price: int) -> list[str]:
        """A new oracle price: revalue the asset's holders only; returns them. Collateral in base rounds down
        and debt up, as GenericLogic values them."""
        sums = self._sums
        for account, entry in self._collateral.get(asset, {}).items():
            term = entry[0] * price // entry[2] * entry[1]
            sums[account][0] += term - entry[3]
            entry[3] = term
        for account, entry in self._debt.get(asset, {}).items():
            term = -(-entry[0] * price // entry[1])
            sums[account][1] += term - entry[2]
            entry[2] = term
        return self.holders(asset)

    def liquidatable_at(self, asset: str, price: int) -> list[str]:
        """The holders that would be under HF 1 were `asset` at `price` (a pending update); the book is
        unchanged."""
        held, owed = self._collateral.get(asset, {}), self._debt.get(asset, {})
        collateral = {a: e[0] * price // e[2] * e[1] - e[3] for a, e in held.items()}
        debt = {a: -(-e[0] * price // e[1]) - e[2] for a, e in owed.items()}
        sums, bound, out = self._sums, WAD * 10_000, []
        for account in dict.fromkeys([*collateral, *debt]):
            w, d = sums[account]
            w, d = w + collateral.get(account, 0), d + debt.get(account, 0)
            if d and w * WAD + d // 2 < d * bound:
                out.append(account)
        return out

    def debt_base(self, account: str) -> int:
        """The account's debt in the oracle's base currency, as the book last valued it."""
        return self._sums[account][1] if account in self._sums else 0

    def accounts(self) -> list[str]:
        return list(self._sums)

    def health_factor(self, account: str) -> int:
        return _health_factor(*self._sums[account])

    def below(self, accounts: Iterable[str], health_factor: int) -> list[str]:
        """The accounts whose health factor is under `health_factor` (WAD), compared without dividing:
        floor((w * WAD + d / 2) / d) / 1e4 < h  <=>  w * WAD + d // 2 < h * 1e4 * d."""
        sums, bound = self._sums, health_factor * 10_000
        return [a for a in accounts if (s := sums[a])[1] and s[0] * WAD + s[1] // 2 < s[1] * bound]

    def liquidatable(self, accounts: Iterable[str]) -> list[str]:
        return self.below(accounts, WAD)


def _health_factor(weighted: int, debt: int) -> int:
    return MAX_UINT256 if debt == 0 else wad_div(weighted, debt) // 10_000
