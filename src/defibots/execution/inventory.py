"""The inventory book of a hedged AMM-CEX strategy: what each place (our executor contract on "chain", or a
venue) holds of each asset, the bands it should stay in, and the transfers that would bring it back.

- Pure: no I/O. Balances come in from balance fetches (`set`) and fills or receipts (`apply`); the plan is
  a proposal the operator (or a job) carries out, taking `transfer_minutes` to land.
- Amounts are Decimal whole tokens, as venues and config state them; floats are refused.
- `same_asset` maps a chain token to its venue name (WETH on chain is ETH on Binance), so both sides are
  one asset when rebalancing; transfers still name each side's own asset.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Key = tuple[str, str]  # (place, asset as the place names it)


class Band(BaseModel):
    """Where one (place, asset) balance should stay, whole tokens: low <= target <= high."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    target: Decimal
    low: Decimal
    high: Decimal

    @model_validator(mode="after")
    def _ordered(self) -> Band:
        if not Decimal(0) <= self.low <= self.target <= self.high:
            raise ValueError(
                f"band needs 0 <= low <= target <= high, got {self.low}, {self.target}, {self.high}"
            )
        return self


class InventorySettings(BaseModel):
    """A `[strategies.cex_amm_arb.inventory]` section: bands per place and asset, transfer time per asset."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    bands: dict[str, dict[str, Band]]  # place -> asset -> band
    transfer_minutes: dict[str, float]  # asset -> chain<->venue transfer time (deposit confirmations)
    same_asset: dict[str, str] = Field(default_factory=lambda: {"WETH": "ETH"})  # chain name -> venue name

    @model_validator(mode="after")
    def _every_asset_can_move(self) -> InventorySettings:
        """A banded asset with no transfer time could never get an eta: a config error, found at load."""
        missing = sorted(
            {self.asset(a) for assets in self.bands.values() for a in assets} - set(self.transfer_minutes)
        )
        if missing:
            raise ValueError(f"transfer_minutes has no entry for {', '.join(missing)}")
        if any(minutes < 0 for minutes in self.transfer_minutes.values()):
            raise ValueError("transfer_minutes must not be negative")
        return self

    def asset(self, name: str) -> str:
        """The one name both sides of a transfer share (the venue's)."""
        return self.same_asset.get(name, name)


@dataclass(frozen=True, slots=True)
class Drift:
    """A (place, asset) balance outside its band."""

    place: str
    asset: str
    amount: Decimal
    band: Band

    @property
    def key(self) -> Key:
        return (self.place, self.asset)

    @property
    def need(self) -> Decimal:
        """What would bring it back to target: positive to add, negative to take away."""
        return self.band.target - self.amount

    def describe(self) -> str:
        side = "below" if self.amount < self.band.low else "above"
        return (
            f"{self.place} {self.asset} {self.amount} {side} band [{self.band.low}, {self.band.high}]"
            f" (target {self.band.target}, {'short' if self.need > 0 else 'over'} {abs(self.need)})"
        )


@dataclass(frozen=True, slots=True)
class Transfer:
    """One planned move of an asset between places. `source` None: nothing could supply the shortfall;
    `destination` None: nowhere had room for the excess. `shortfall` is how far the drifting place still
    is from its target (short of it, or over it) after this transfer and those planned before it."""

    asset: str  # the shared name (the venue's)
    source: str | None
    source_asset: str  # the asset's name at the source ("WETH" on chain)
    destination: str | None
    destination_asset: str
    amount: Decimal
    eta_ms: int
    shortfall: Decimal = Decimal(0)

    def describe(self) -> str:
        if self.source is None:
            return (
                f"{self.destination} {self.destination_asset} short {self.shortfall}: no place can spare it"
            )
        if self.destination is None:
            return f"{self.source} {self.source_asset} over by {self.shortfall}: no place has room for it"
        text = (
            f"move {self.amount} {self.asset} {self.source} ({self.source_asset}) -> {self.destination}"
            f" ({self.destination_asset}), eta {self.eta_ms}"
        )
        return text + (f", {self.shortfall} still uncovered" if self.shortfall else "")


def _amount(value: Decimal | int) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (Decimal, int)):
        raise TypeError(f"inventory amounts are Decimal whole tokens, got {type(value).__name__}")
    return Decimal(value)


class InventoryBook:
    """Balances per (place, asset). A banded balance never set is unknown, not zero: it is listed by
    `unknown()` and left out of drifts and plans, so a missed balance fetch cannot trigger transfers."""

    def __init__(self, settings: InventorySettings) -> None:
        self.settings = settings
        self._balances: dict[tuple[str, str], Decimal] = {}

    def set(self, place: str, asset: str, amount: Decimal | int) -> None:
        """A fetched balance replaces what the book had."""
        self._balances[(place, asset)] = _amount(amount)

    def apply(self, place: str, asset: str, delta: Decimal | int) -> None:
        """A fill or receipt moved `delta` (signed) at the place."""
        self._balances[(place, asset)] = self.get(place, asset) + _amount(delta)

    def get(self, place: str, asset: str) -> Decimal:
        return self._balances.get((place, asset), Decimal(0))

    def balances(self) -> dict[tuple[str, str], Decimal]:
        return dict(self._balances)

    def unknown(self) -> list[tuple[str, str]]:
        return [(p, a) for p, a, _ in self._banded() if (p, a) not in self._balances]

    def drifts(self) -> list[Drift]:
        return [
            Drift(place, asset, amount, band)
            for place, asset, band in self._banded()
            if (amount := self._balances.get((place, asset))) is not None
            and not band.low <= amount <= band.high
        ]

    def rebalance_plan(self, now_ms: int) -> list[Transfer]:
        """Transfers that bring every drifting place back to its target, getting all of them into their
        bands before topping any up to target.

        A short place draws on the places holding the asset above their own target, the richest first:
        their surplus above target, then, if every short place cannot reach its low edge that way, their
        room down to their low band, never below it. A place over its band sends its excess the same way,
        to places below their target, up to their target and then up to their high band. What cannot be
        covered is reported as a shortfall (to or from the target).
        """
        planned = dict(self._balances)
        moves: dict[tuple[Key, Key], Decimal] = {}  # (source, destination) -> amount, in planning order
        drifts = self.drifts()
        covered: list[Drift] = []  # an excess that feeding shortages brought into its band is not here
        for short in (True, False):  # shortages first: an excess is their richest source
            phase = [d for d in drifts if self._is_short(d, planned) is short]
            partners = {d.key: self._partners(d, planned) for d in phase}
            for to_target, past_target in ((False, False), (False, True), (True, False)):
                for drift in phase:
                    self._move(drift, partners[drift.key], planned, moves, to_target, past_target)
            covered += phase
        return self._transfers(covered, planned, moves, now_ms)

    def _is_short(self, drift: Drift, planned: dict[Key, Decimal]) -> bool | None:
        """True short, False over, None back in band (an earlier phase fixed it)."""
        amount = planned[drift.key]
        return True if amount < drift.band.low else False if amount > drift.band.high else None

    def _partners(self, drift: Drift, planned: dict[Key, Decimal]) -> list[tuple[Key, Band]]:
        """The places that may give to a short place (above their target) or take from an over one
        (below their target), as the phase starts."""
        shared = self.settings.asset(drift.asset)
        short = planned[drift.key] < drift.band.low
        return [
            ((p, a), band)
            for p, a, band in self._banded()
            if (p, a) in planned
            and p != drift.place
            and self.settings.asset(a) == shared
            and (planned[(p, a)] > band.target if short else planned[(p, a)] < band.target)
        ]

    @staticmethod
    def _move(
        drift: Drift,
        partners: list[tuple[Key, Band]],
        planned: dict[Key, Decimal],
        moves: dict[tuple[Key, Key], Decimal],
        to_target: bool,
        past_target: bool,
    ) -> None:
        """Move toward the drifting place's band edge (or its target), using each partner's side of its
        own target (or its room up to its band edge), the partner furthest from its target first."""
        here, band = drift.key, drift.band
        short = planned[here] < band.target
        sign = 1 if short else -1  # what the drifting place gains per unit moved
        goal = band.target if to_target else band.low if short else band.high
        left = sign * (goal - planned[here])
        ranked = sorted(partners, key=lambda p: sign * (planned[p[0]] - p[1].target), reverse=True)
        for key, partner in ranked:
            if left <= 0:
                return
            limit = (partner.low if short else partner.high) if past_target else partner.target
            move = min(left, sign * (planned[key] - limit))
            if move <= 0:
                continue
            left -= move
            planned[key] -= sign * move
            planned[here] += sign * move
            pair = (key, here) if short else (here, key)
            moves[pair] = moves.get(pair, Decimal(0)) + move

    def _transfers(
        self,
        drifts: list[Drift],
        planned: dict[Key, Decimal],
        moves: dict[tuple[Key, Key], Decimal],
        now_ms: int,
    ) -> list[Transfer]:
        def eta(asset: str) -> int:
            return now_ms + round(self.settings.transfer_minutes[self.settings.asset(asset)] * 60_000)

        transfers = [
            Transfer(self.settings.asset(src[1]), *src, *dst, amount, eta(src[1]))
            for (src, dst), amount in moves.items()
        ]
        for drift in drifts:
            left = abs(drift.band.target - planned[drift.key])
            if not left:
                continue
            short = drift.amount < drift.band.low
            mine = [i for i, t in enumerate(transfers) if ((t.destination, t.destination_asset) if short
                    else (t.source, t.source_asset)) == drift.key]  # fmt: skip
            if mine:
                transfers[mine[-1]] = replace(transfers[mine[-1]], shortfall=left)
            else:
                nobody: tuple[str | None, str] = (None, drift.asset)
                src, dst = (nobody, drift.key) if short else (drift.key, nobody)
                transfers.append(
                    Transfer(self.settings.asset(drift.asset), *src, *dst, Decimal(0), eta(drift.asset), left)
                )
        return transfers

    def _banded(self) -> list[tuple[str, str, Band]]:
        return [
            (place, asset, band)
            for place, assets in sorted(self.settings.bands.items())
            for asset, band in sorted(assets.items())
        ]
