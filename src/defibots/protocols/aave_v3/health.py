"""Health factors of many accounts, revalued incrementally on a price update (for liquidation watching).

getUserAccountData sums per-reserve terms: each collateral's value times its liquidation threshold, and
each debt's value. The terms of different reserves do not interact until the final division, so keeping
each account's terms and sums lets a price update recompute only that asset's terms for that asset's
holders, and the result is still exactly what the Pool computes (the same integer terms, the same sums).
Balances are taken at one timestamp: interest accrual is a new `add` of the account.

A pending update asks which holders one price would take under 1. An account's other terms do not move
with that price, so each holder has an exact critical price (`_CriticalPrices`): collateral holders are
liquidatable below theirs, debtors at or above theirs. Kept sorted per asset, a prediction is a bisection;
an account changed since (`add`) is checked term by term until `reindex` (after each block, off the hot
path) moves it, and another asset's price change drops the index until `reindex` rebuilds it.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from defibots.protocols.aave_v3.account import UserReserve, user_reserve_liquidation_threshold
from defibots.protocols.aave_v3.configuration import EModeCategory
from defibots.protocols.aave_v3.math import MAX_UINT256, WAD, wad_div

NEVER = 2**256
"""A critical price no oracle answer reaches."""
REBUILD_SHARE = 4
"""`reindex` rebuilds an index whole when more than 1/4 of its holders changed, else moves those."""


BELOW, FROM, MIXED = 0, 1, 2
"""A holder's side of an asset's index: collateral only, debt only, both."""


@dataclass
class _CriticalPrices:
    """One asset's holders by the price at which each becomes liquidatable."""

    below: list[int] = field(default_factory=list)
    """Sorted: collateral-only holders are liquidatable at any price under theirs."""
    below_accounts: list[str] = field(default_factory=list)
    from_: list[int] = field(default_factory=list)
    """Sorted: debt-only holders are liquidatable at any price from theirs up."""
    from_accounts: list[str] = field(default_factory=list)
    mixed: set[str] = field(default_factory=set)
    """Collateral and debt in the asset: checked term by term."""
    where: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Account -> (side, critical price), to move it when it changes."""
    stale: set[str] = field(default_factory=set)

    def place(self, account: str, side: int, price: int) -> None:
        self.where[account] = (side, price)
        if side == MIXED:
            self.mixed.add(account)
            return
        prices, accounts = (
            (self.below, self.below_accounts) if side == BELOW else (self.from_, self.from_accounts)
        )
        i = bisect_right(prices, price)
        prices.insert(i, price)
        accounts.insert(i, account)

    def drop(self, account: str) -> None:
        if (at := self.where.pop(account, None)) is None:
            return
        side, price = at
        if side == MIXED:
            self.mixed.discard(account)
            return
        prices, accounts = (
            (self.below, self.below_accounts) if side == BELOW else (self.from_, self.from_accounts)
        )
        i = bisect_left(prices, price)
        while accounts[i] != account:
            i += 1
        del prices[i], accounts[i]

    def _side(self, side: int) -> tuple[list[int], list[str]]:
        return (self.below, self.below_accounts) if side == BELOW else (self.from_, self.from_accounts)


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
        self._index: dict[str, _CriticalPrices] = {}
        self.exact_checks = 0
        """Accounts valued term by term by `liquidatable_at` (the index's misses, for its tests)."""

    def add(
        self, account: str, positions: Sequence[UserReserve], timestamp: int, e_mode: EModeCategory | None
    ) -> None:
        """(Re)value one account from its positions at `timestamp` (after any balance change)."""
        self.remove(account)
        sums, assets = [0, 0], []
        self._mark_stale(account, (p.reserve.asset for p in positions))
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
        self._mark_stale(account, self._by_account.get(account, ()))
        for asset in self._by_account.pop(account, ()):
            self._collateral.get(asset, {}).pop(account, None)
            self._debt.get(asset, {}).pop(account, None)
        self._sums.pop(account, None)

    def holders(self, asset: str) -> list[str]:
        """Accounts whose health factor the asset's price moves."""
        return list(dict.fromkeys([*self._collateral.get(asset, ()), *self._debt.get(asset, ())]))

    def set_price(self, asset: str, price: int) -> list[str]:
        """A new oracle price: revalue the asset's holders only; returns them. Collateral in base rounds down
        and debt up, as GenericLogic values them. Every other asset's critical prices move with it."""
        self._index = {asset: self._index[asset]} if asset in self._index else {}
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
        unchanged. A bisection of the asset's critical prices when they are indexed."""
        index = self._index.get(asset)
        if index is None:
            return self._scan_at(asset, price, self.holders(asset))
        stale = index.stale
        out = [a for a in index.below_accounts[bisect_right(index.below, price) :] if a not in stale]
        out += [a for a in index.from_accounts[: bisect_right(index.from_, price)] if a not in stale]
        held, owed = self._collateral.get(asset, {}), self._debt.get(asset, {})
        recheck = [a for a in index.mixed if a not in stale] + [a for a in stale if a in held or a in owed]
        return out + self._scan_at(asset, price, recheck)

    def _scan_at(self, asset: str, price: int, accounts: Sequence[str]) -> list[str]:
        """`accounts` (holders of `asset`) under HF 1 at `price`, valued term by term."""
        self.exact_checks += len(accounts)
        held, owed = self._collateral.get(asset, {}), self._debt.get(asset, {})
        sums, bound, out = self._sums, WAD * 10_000, []
        for account in accounts:
            w, d = sums[account]
            if (e := held.get(account)) is not None:
                w += e[0] * price // e[2] * e[1] - e[3]
            if (f := owed.get(account)) is not None:
                d += -(-f[0] * price // f[1]) - f[2]
            if d and w * WAD + d // 2 < d * bound:
                out.append(account)
        return out

    def reindex(self) -> None:
        """After a block, so the next pending update is a bisection: rebuild every dropped index, and move
        the accounts changed since in the others (whole again when many did)."""
        for asset in dict.fromkeys([*self._collateral, *self._debt]):
            index = self._index.get(asset)
            if index is None or len(index.stale) * REBUILD_SHARE > len(index.where):
                self._index[asset] = index = _CriticalPrices()
                below: list[tuple[int, str]] = []
                from_: list[tuple[int, str]] = []
                for account in self.holders(asset):
                    side, price = self._critical(asset, account)
                    index.where[account] = (side, price)
                    if side == MIXED:
                        index.mixed.add(account)
                    else:
                        (below if side == BELOW else from_).append((price, account))
                below.sort()
                from_.sort()
                index.below, index.below_accounts = [c for c, _ in below], [a for _, a in below]
                index.from_, index.from_accounts = [c for c, _ in from_], [a for _, a in from_]
                continue
            held, owed = self._collateral.get(asset, {}), self._debt.get(asset, {})
            for account in index.stale:
                index.drop(account)
                if account in held or account in owed:
                    index.place(account, *self._critical(asset, account))
            index.stale.clear()

    def _critical(self, asset: str, account: str) -> tuple[int, int]:
        """The holder's side of the asset's index and its critical price there."""
        e, f = self._collateral.get(asset, {}).get(account), self._debt.get(asset, {}).get(account)
        if e is not None and f is not None:
            return MIXED, 0
        if e is not None:
            return BELOW, _collateral_critical(self._sums[account], e)
        assert f is not None
        return FROM, _debt_critical(self._sums[account], f)

    def _mark_stale(self, account: str, assets: Iterable[str]) -> None:
        for asset in assets:
            if (index := self._index.get(asset)) is not None:
                index.stale.add(account)

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


def _collateral_critical(sums: list[int], entry: list[int]) -> int:
    """The price under which a holder of this collateral (and no debt in it) is liquidatable (0: none).
    With w' the other collateral terms and d the debt: under 1 iff
    (w' + floor(b * p / u) * t) * WAD + d // 2 < d * 1e4 * WAD iff floor(b * p / u) < Q with
    Q = ceil(R / (t * WAD)), R = d * 1e4 * WAD - d // 2 - w' * WAD; iff b * p < Q * u iff p < ceil(Q * u / b).
    """
    balance, threshold, unit, term = entry
    weighted, debt = sums[0] - term, sums[1]
    room = debt * WAD * 10_000 - debt // 2 - weighted * WAD
    if not debt or room <= 0:
        return 0
    if threshold == 0:
        return NEVER
    q = -(-room // (threshold * WAD))
    return -(-q * unit // balance)


def _debt_critical(sums: list[int], entry: list[int]) -> int:
    """The price from which a debtor in this asset (and no collateral in it) is liquidatable.
    Under 1 iff D > 0 and w * WAD < D * 1e4 * WAD - D // 2, increasing in the debt D = d' + ceil(b * p / u):
    the least such D, then the least p whose debt term reaches it."""
    balance, unit, term = entry
    target, other = sums[0] * WAD, sums[1] - term
    bound = WAD * 10_000
    least = max(1, target * 2 // (2 * bound - 1))
    while least > 1 and (least - 1) * bound - (least - 1) // 2 > target:
        least -= 1
    while least * bound - least // 2 <= target:
        least += 1
    need = least - other
    if need <= 0:
        return 0
    return (need - 1) * unit // balance + 1


def _health_factor(weighted: int, debt: int) -> int:
    return MAX_UINT256 if debt == 0 else wad_div(weighted, debt) // 10_000
