"""A reserve's risk configuration (the ReserveConfigurationMap bitmap) and e-mode categories, decoded."""

from __future__ import annotations

from dataclasses import dataclass

DEBT_CEILING_DECIMALS = 2
"""Isolation-mode debt ceilings count in units of 0.01 of the base currency."""

# (field, first bit, width) of ReserveConfigurationMap; the deprecated bits are left out.
_LAYOUT: tuple[tuple[str, int, int], ...] = (
    ("ltv", 0, 16),
    ("liquidation_threshold", 16, 16),
    ("liquidation_bonus", 32, 16),
    ("decimals", 48, 8),
    ("active", 56, 1),
    ("frozen", 57, 1),
    ("borrowing_enabled", 58, 1),
    ("paused", 60, 1),
    ("borrowable_in_isolation", 61, 1),
    ("siloed_borrowing", 62, 1),
    ("flash_loan_enabled", 63, 1),
    ("reserve_factor", 64, 16),
    ("borrow_cap", 80, 36),
    ("supply_cap", 116, 36),
    ("liquidation_protocol_fee", 152, 16),
    ("debt_ceiling", 212, 40),
)


@dataclass(frozen=True)
class ReserveConfiguration:
    """The fields the Pool reads from a reserve's configuration bitmap.

    ltv, liquidation_threshold, reserve_factor, liquidation_protocol_fee in bps; liquidation_bonus in bps
    over 100% (10500 = +5%); caps in whole tokens (0 = no cap); debt_ceiling in 0.01 base units.
    """

    ltv: int
    liquidation_threshold: int
    liquidation_bonus: int
    decimals: int
    active: bool = True
    frozen: bool = False
    borrowing_enabled: bool = True
    paused: bool = False
    borrowable_in_isolation: bool = False
    siloed_borrowing: bool = False
    flash_loan_enabled: bool = True
    reserve_factor: int = 0
    borrow_cap: int = 0
    supply_cap: int = 0
    liquidation_protocol_fee: int = 0
    debt_ceiling: int = 0

    @classmethod
    def from_bitmap(cls, data: int) -> ReserveConfiguration:
        """Decode `getConfiguration(asset).data` (or `getReserveData(asset).configuration`)."""
        values: dict[str, int | bool] = {}
        for name, start, width in _LAYOUT:
            value = (data >> start) & ((1 << width) - 1)
            values[name] = bool(value) if width == 1 else value
        return cls(**values)  # type: ignore[arg-type]

    def to_bitmap(self) -> int:
        """The bitmap the Pool stores for this configuration (deprecated bits zero)."""
        data = 0
        for name, start, width in _LAYOUT:
            value = int(getattr(self, name))
            if not 0 <= value < 1 << width:
                raise ValueError(f"{name}={value} does not fit in {width} bits")
            data |= value << start
        return data

    @property
    def unit(self) -> int:
        """10**decimals: one whole token in its smallest unit."""
        unit: int = 10**self.decimals
        return unit


@dataclass(frozen=True)
class EModeCategory:
    """An efficiency-mode category: overrides for the assets in its collateral bitmap (bit = reserve id).

    Assets also in `ltvzero_bitmap` count with LTV 0 inside the category (v3.6).
    """

    id: int
    ltv: int
    liquidation_threshold: int
    liquidation_bonus: int
    collateral_bitmap: int = 0
    borrowable_bitmap: int = 0
    ltvzero_bitmap: int = 0
    label: str = ""

    def is_collateral(self, reserve_id: int) -> bool:
        return self.id != 0 and bool(self.collateral_bitmap >> reserve_id & 1)

    def is_borrowable(self, reserve_id: int) -> bool:
        return bool(self.borrowable_bitmap >> reserve_id & 1)

    def is_ltv_zero(self, reserve_id: int) -> bool:
        return bool(self.ltvzero_bitmap >> reserve_id & 1)
