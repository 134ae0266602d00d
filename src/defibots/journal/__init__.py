"""The bot's record in SQLite: opportunities, simulations, sends, receipts, realized P&L, CEX signals,
errors, positions and their per-block history, venue orders and fills, per-strategy P&L, and round trips
(both legs of a hedged AMM-CEX trade).

- records.py: the row types; migrations.py: the versioned schema; writer.py: `Journal` (open, upgrade,
  record_*); reports.py: the queries `defibots history` and the demo print.
- Importing from `defibots.journal` keeps working for every name callers used before the split.
"""

from defibots.journal.migrations import LATEST_VERSION, MIGRATIONS, Migration
from defibots.journal.records import (
    ORDER_SIDES,
    ORDER_STATUSES,
    POSITION_STATUSES,
    ROUND_TRIP_DIRECTIONS,
    ROUND_TRIP_STATUSES,
    TRADE_STATUSES,
    BaseResidual,
    CexSignal,
    ErrorRecord,
    Fill,
    OpportunityRecord,
    Order,
    Pnl,
    Position,
    PositionSnapshot,
    Receipt,
    RoundTrip,
    RoundTripLegs,
    RoundTripTotals,
    Send,
    Simulation,
    StrategyPnl,
    StrategyTokenTotal,
    TokenTotals,
    Trade,
    now_ms,
)
from defibots.journal.reports import Reports, format_units
from defibots.journal.writer import Journal

SCHEMA_VERSION = LATEST_VERSION
"""The schema version this code writes (the name callers used before migrations)."""

__all__ = [
    "LATEST_VERSION",
    "MIGRATIONS",
    "ORDER_SIDES",
    "ORDER_STATUSES",
    "POSITION_STATUSES",
    "ROUND_TRIP_DIRECTIONS",
    "ROUND_TRIP_STATUSES",
    "SCHEMA_VERSION",
    "TRADE_STATUSES",
    "BaseResidual",
    "CexSignal",
    "ErrorRecord",
    "Fill",
    "Journal",
    "Migration",
    "OpportunityRecord",
    "Order",
    "Pnl",
    "Position",
    "PositionSnapshot",
    "Receipt",
    "Reports",
    "RoundTrip",
    "RoundTripLegs",
    "RoundTripTotals",
    "Send",
    "Simulation",
    "StrategyPnl",
    "StrategyTokenTotal",
    "TokenTotals",
    "Trade",
    "format_units",
    "now_ms",
]
