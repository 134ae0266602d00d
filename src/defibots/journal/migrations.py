"""The journal's schema as ordered, numbered migrations, tracked in `PRAGMA user_version`.

- Step N takes a journal at version N-1 to N. Each runs in its own `BEGIN IMMEDIATE` transaction with
  the version bump, so a crash or a failing step leaves the file at the last finished version, and two
  processes opening an old journal at once upgrade it once (the second re-reads the version under the
  write lock and finds nothing to do).
- Steps are only ever appended. A released step is never edited: files in the wild already ran it.
- Version 1 is the schema every journal before migrations had (commit 54bb31d and its predecessors set
  user_version=1), written with IF NOT EXISTS so it also creates a fresh file.
- A journal newer than the last step is refused: this code would misread tables it does not know.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from defibots.errors import UserError

Step = Callable[[sqlite3.Connection], None]


@dataclass(frozen=True, slots=True)
class Migration:
    version: int  # the user_version after this step
    name: str
    step: Step


def sql_step(script: str) -> Step:
    """A step made of plain SQL statements, run one by one inside the migration's transaction
    (`executescript` would commit first, breaking the one-transaction-per-step rule)."""

    def run(conn: sqlite3.Connection) -> None:
        for statement in _statements(script):
            conn.execute(statement)

    return run


def _statements(script: str) -> list[str]:
    statements: list[str] = []
    buffer = ""
    for piece in script.split(";"):
        buffer += piece + ";"
        if sqlite3.complete_statement(buffer):
            if buffer.strip(" \n;"):
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip(" \n;"):
        raise ValueError(f"incomplete SQL statement in migration: {buffer.strip()!r}")
    return statements


BASE_SCHEMA = """
CREATE TABLE IF NOT EXISTS opportunities (
    id INTEGER PRIMARY KEY,
    created_ms INTEGER NOT NULL,
    chain_id INTEGER NOT NULL,
    block_number INTEGER NOT NULL,
    strategy TEXT NOT NULL,
    route TEXT NOT NULL,
    base_token TEXT NOT NULL,
    base_decimals INTEGER NOT NULL,
    amount_in TEXT NOT NULL,
    expected_profit TEXT NOT NULL,
    details TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS opportunities_block ON opportunities (chain_id, block_number);

CREATE TABLE IF NOT EXISTS simulations (
    id INTEGER PRIMARY KEY,
    created_ms INTEGER NOT NULL,
    opportunity_id INTEGER REFERENCES opportunities (id),
    chain_id INTEGER NOT NULL,
    block_number INTEGER NOT NULL,
    backend TEXT NOT NULL,
    success INTEGER NOT NULL,
    gas_used INTEGER NOT NULL,
    profit TEXT NOT NULL,
    error TEXT
);
CREATE INDEX IF NOT EXISTS simulations_block ON simulations (chain_id, block_number);

CREATE TABLE IF NOT EXISTS sends (
    id INTEGER PRIMARY KEY,
    created_ms INTEGER NOT NULL,
    opportunity_id INTEGER REFERENCES opportunities (id),
    chain_id INTEGER NOT NULL,
    block_number INTEGER NOT NULL,
    kind TEXT NOT NULL,
    ident TEXT NOT NULL,
    relay TEXT NOT NULL DEFAULT '',
    tx_hashes TEXT NOT NULL DEFAULT '[]',
    builder_payment TEXT NOT NULL DEFAULT '0'
);
CREATE INDEX IF NOT EXISTS sends_block ON sends (chain_id, block_number);

CREATE TABLE IF NOT EXISTS receipts (
    id INTEGER PRIMARY KEY,
    created_ms INTEGER NOT NULL,
    send_id INTEGER REFERENCES sends (id),
    chain_id INTEGER NOT NULL,
    block_number INTEGER NOT NULL,
    tx_hash TEXT NOT NULL,
    status INTEGER NOT NULL,
    gas_used INTEGER NOT NULL,
    effective_gas_price TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS receipts_block ON receipts (chain_id, block_number);

CREATE TABLE IF NOT EXISTS pnl (
    id INTEGER PRIMARY KEY,
    created_ms INTEGER NOT NULL,
    send_id INTEGER REFERENCES sends (id),
    chain_id INTEGER NOT NULL,
    block_number INTEGER NOT NULL,
    status TEXT NOT NULL,
    base_token TEXT NOT NULL,
    base_decimals INTEGER NOT NULL,
    gross_profit TEXT NOT NULL,
    gas_cost TEXT NOT NULL,
    builder_payment TEXT NOT NULL,
    net_profit TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS pnl_block ON pnl (chain_id, block_number);

CREATE TABLE IF NOT EXISTS cex_signals (
    id INTEGER PRIMARY KEY,
    created_ms INTEGER NOT NULL,
    chain_id INTEGER NOT NULL,
    block_number INTEGER NOT NULL,
    venue TEXT NOT NULL,
    symbol TEXT NOT NULL,
    bid TEXT NOT NULL,
    ask TEXT NOT NULL,
    dex_price TEXT,
    edge_bps TEXT,
    details TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS cex_signals_block ON cex_signals (chain_id, block_number);

CREATE TABLE IF NOT EXISTS errors (
    id INTEGER PRIMARY KEY,
    created_ms INTEGER NOT NULL,
    chain_id INTEGER,
    block_number INTEGER,
    source TEXT NOT NULL,
    kind TEXT NOT NULL,
    message TEXT NOT NULL,
    payload TEXT
);
CREATE INDEX IF NOT EXISTS errors_kind ON errors (source, kind);
"""

POSITIONS = """
CREATE TABLE positions (
    id INTEGER PRIMARY KEY,
    created_ms INTEGER NOT NULL,
    chain_id INTEGER NOT NULL,
    block_number INTEGER NOT NULL,
    protocol TEXT NOT NULL,
    market TEXT NOT NULL,
    side TEXT NOT NULL,
    key TEXT NOT NULL,
    size TEXT NOT NULL,
    collateral_token TEXT NOT NULL,
    collateral TEXT NOT NULL,
    debt_token TEXT NOT NULL DEFAULT '',
    debt TEXT NOT NULL DEFAULT '0',
    entry_price TEXT NOT NULL,
    status TEXT NOT NULL,
    strategy TEXT NOT NULL DEFAULT '',
    details TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX positions_key ON positions (chain_id, protocol, key);
CREATE INDEX positions_status ON positions (status, chain_id);

CREATE TABLE position_history (
    id INTEGER PRIMARY KEY,
    created_ms INTEGER NOT NULL,
    position_id INTEGER NOT NULL REFERENCES positions (id),
    chain_id INTEGER NOT NULL,
    block_number INTEGER NOT NULL,
    size TEXT NOT NULL,
    collateral TEXT NOT NULL,
    debt TEXT NOT NULL,
    mark_price TEXT NOT NULL,
    status TEXT NOT NULL,
    health_factor TEXT,
    pnl TEXT,
    UNIQUE (position_id, block_number)
);
CREATE INDEX position_history_block ON position_history (chain_id, block_number);
"""

VENUE_ORDERS = """
CREATE TABLE orders (
    id INTEGER PRIMARY KEY,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    chain_id INTEGER,
    venue TEXT NOT NULL,
    symbol TEXT NOT NULL,
    client_order_id TEXT NOT NULL,
    venue_order_id TEXT,
    side TEXT NOT NULL,
    type TEXT NOT NULL,
    price TEXT,
    amount TEXT NOT NULL,
    status TEXT NOT NULL,
    strategy TEXT NOT NULL DEFAULT '',
    details TEXT NOT NULL DEFAULT '{}',
    UNIQUE (venue, client_order_id)
);
CREATE INDEX orders_status ON orders (venue, status);

CREATE TABLE fills (
    id INTEGER PRIMARY KEY,
    created_ms INTEGER NOT NULL,
    order_id INTEGER NOT NULL REFERENCES orders (id),
    chain_id INTEGER,
    venue_trade_id TEXT,
    price TEXT NOT NULL,
    amount TEXT NOT NULL,
    fee TEXT NOT NULL,
    fee_currency TEXT NOT NULL
);
CREATE INDEX fills_order ON fills (order_id);
"""

STRATEGY_PNL = """
CREATE TABLE strategy_pnl (
    id INTEGER PRIMARY KEY,
    created_ms INTEGER NOT NULL,
    chain_id INTEGER NOT NULL,
    block_number INTEGER,
    strategy TEXT NOT NULL,
    token TEXT NOT NULL,
    token_decimals INTEGER NOT NULL,
    amount TEXT NOT NULL,
    kind TEXT NOT NULL,
    ref TEXT NOT NULL DEFAULT ''
);
CREATE INDEX strategy_pnl_strategy ON strategy_pnl (strategy, chain_id);
"""

ROUND_TRIPS = """
CREATE TABLE round_trips (
    id INTEGER PRIMARY KEY,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    opportunity_id INTEGER REFERENCES opportunities (id),
    chain_id INTEGER NOT NULL,
    block_number INTEGER NOT NULL,
    strategy TEXT NOT NULL,
    venue TEXT NOT NULL,
    symbol TEXT NOT NULL,
    direction TEXT NOT NULL,
    status TEXT NOT NULL,
    base_token TEXT NOT NULL,
    base_decimals INTEGER NOT NULL,
    quote_token TEXT NOT NULL,
    quote_decimals INTEGER NOT NULL,
    chain_base TEXT NOT NULL,
    chain_quote TEXT NOT NULL,
    cex_base TEXT NOT NULL,
    cex_quote TEXT NOT NULL,
    cex_fee_quote TEXT NOT NULL,
    gas_cost_quote TEXT NOT NULL,
    builder_payment_quote TEXT NOT NULL,
    residual_base TEXT NOT NULL,
    predicted_net TEXT NOT NULL,
    net_pnl TEXT NOT NULL,
    send_ids TEXT NOT NULL DEFAULT '[]',
    order_ids TEXT NOT NULL DEFAULT '[]',
    details TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX round_trips_block ON round_trips (chain_id, block_number);
CREATE INDEX round_trips_strategy ON round_trips (strategy, status);
"""

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "base schema: opportunities, simulations, sends, receipts, pnl, cex_signals, errors",
              sql_step(BASE_SCHEMA)),
    Migration(2, "positions and their per-block history", sql_step(POSITIONS)),
    Migration(3, "orders and fills on other venues", sql_step(VENUE_ORDERS)),
    Migration(4, "per-strategy P&L in any token", sql_step(STRATEGY_PNL)),
    Migration(5, "round trips: both legs of a hedged AMM-CEX trade", sql_step(ROUND_TRIPS)),
)  # fmt: skip
LATEST_VERSION = MIGRATIONS[-1].version


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, path: Path, migrations: tuple[Migration, ...] = MIGRATIONS) -> int:
    """Bring the journal at `path` to the last migration's version; returns the version it started at.

    `conn` must be in autocommit mode (isolation_level=None): each step opens its own transaction.
    """
    _check_order(migrations)
    latest = migrations[-1].version
    start = schema_version(conn)
    if start > latest:
        raise UserError(
            f"journal {path} has schema version {start}, newer than this defibots knows ({latest});"
            " upgrade defibots to read it"
        )
    for migration in migrations:
        if migration.version <= start:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            if schema_version(conn) < migration.version:  # another process may have done it meanwhile
                migration.step(conn)
                conn.execute(f"PRAGMA user_version = {migration.version:d}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    return start


def _check_order(migrations: tuple[Migration, ...]) -> None:
    """Versions must be 1, 2, 3, ...: a gap or a duplicate would skip or repeat a step on some files."""
    versions = [m.version for m in migrations]
    if versions != list(range(1, len(versions) + 1)):
        raise ValueError(f"migration versions must be 1..N in order, got {versions}")


def verify_schema(conn: sqlite3.Connection, path: Path) -> None:
    """Refuse a file whose tables do not match what the migrations build (another program's database
    that happens to carry a user_version, or a damaged file), before a query trips over it."""
    have = _columns(conn)
    for table, columns in _reference_columns().items():
        if have.get(table) != columns:
            found = "missing" if table not in have else f"columns {', '.join(have[table])}"
            raise UserError(
                f"journal {path} is not a defibots journal at schema {LATEST_VERSION}: table {table} {found}"
            )


def _columns(conn: sqlite3.Connection) -> dict[str, tuple[str, ...]]:
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    return {t: tuple(r[1] for r in conn.execute(f"PRAGMA table_info({t})")) for t in tables}


_REFERENCE: dict[str, tuple[str, ...]] = {}


def _reference_columns() -> dict[str, tuple[str, ...]]:
    """Tables and columns of a fresh journal at the latest version (built once, in memory)."""
    if not _REFERENCE:
        conn = sqlite3.connect(":memory:", isolation_level=None)
        try:
            migrate(conn, Path(":memory:"))
            _REFERENCE.update(_columns(conn))
        finally:
            conn.close()
    return _REFERENCE
