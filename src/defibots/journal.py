"""The bot's record in SQLite: opportunities, simulations, sends, receipts, realized P&L, CEX signals, errors.

- WAL mode, so `defibots history` can read while a bot writes; synchronous=NORMAL (a crash may lose the
  last few records, never corrupt the file).
- One connection per `Journal`, used from the thread that opened it (sqlite3's own check enforces it).
  In an asyncio bot that is the event-loop thread: each call is one short INSERT in autocommit mode,
  cheap enough not to need a worker thread. Other processes open their own `Journal`.
- Token amounts are ints in smallest units and can exceed SQLite's 64-bit INTEGER, so amount columns
  are TEXT holding the decimal integer; the record dataclasses give them back as Python ints.
- Rows are keyed by chain id and block number (the target block for sends).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any

from defibots.errors import UserError

SCHEMA_VERSION = 1

SCHEMA = """
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

TRADE_STATUSES = ("included", "reverted", "not_included", "unknown")
"""P&L outcomes. "unknown": the receipt did not come in time; a later row (the newest wins) resolves it."""


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class Opportunity:
    chain_id: int
    block_number: int
    strategy: str
    route: str  # e.g. "WETH>USDC>WETH v2:0xB4e1..,v3-500:0x88e6.."
    base_token: str
    base_decimals: int
    amount_in: int
    expected_profit: int
    details: Mapping[str, Any] = field(default_factory=dict)
    id: int | None = None
    created_ms: int = 0


@dataclass(frozen=True, slots=True)
class Simulation:
    chain_id: int
    block_number: int
    backend: str  # "eth_call", "eth_simulateV1", "relay", "model"
    success: bool
    gas_used: int
    profit: int
    opportunity_id: int | None = None
    error: str | None = None
    id: int | None = None
    created_ms: int = 0


@dataclass(frozen=True, slots=True)
class Send:
    chain_id: int
    block_number: int  # target block
    kind: str  # "public_tx" | "bundle"
    ident: str  # tx hash or bundle hash
    opportunity_id: int | None = None
    relay: str = ""
    tx_hashes: tuple[str, ...] = ()
    builder_payment: int = 0  # wei promised to the builder (coinbase transfer or priority fees)
    id: int | None = None
    created_ms: int = 0


@dataclass(frozen=True, slots=True)
class Receipt:
    chain_id: int
    block_number: int
    tx_hash: str
    status: int  # 1 success, 0 reverted
    gas_used: int
    effective_gas_price: int
    send_id: int | None = None
    id: int | None = None
    created_ms: int = 0


@dataclass(frozen=True, slots=True)
class Pnl:
    """Realized outcome of one send. gross/net in the base token; gas and builder payment in wei of ETH."""

    chain_id: int
    block_number: int
    status: str  # "included" | "reverted" | "not_included" | "unknown"
    base_token: str
    base_decimals: int
    gross_profit: int
    gas_cost: int
    builder_payment: int
    net_profit: int
    send_id: int | None = None
    id: int | None = None
    created_ms: int = 0


@dataclass(frozen=True, slots=True)
class CexSignal:
    chain_id: int
    block_number: int
    venue: str
    symbol: str
    bid: Decimal
    ask: Decimal
    dex_price: Decimal | None = None
    edge_bps: Decimal | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    id: int | None = None
    created_ms: int = 0


@dataclass(frozen=True, slots=True)
class ErrorRecord:
    """A malformed input or a failed step, kept so it can be counted and inspected later."""

    source: str  # "mempool", "cex:binance", "relay", ...
    kind: str  # "malformed_tx", "bad_log", "timeout", ...
    message: str
    payload: str | None = None
    chain_id: int | None = None
    block_number: int | None = None
    id: int | None = None
    created_ms: int = 0


@dataclass(frozen=True, slots=True)
class Trade:
    """One send joined with its opportunity, receipts and P&L: a row of `defibots history`."""

    send_id: int
    chain_id: int
    block_number: int  # inclusion block if known, else the target block
    strategy: str
    route: str
    kind: str
    status: str  # one of TRADE_STATUSES, or "pending" before the outcome is recorded
    gas_used: int  # sum over the send's receipts
    gas_cost: int  # realized, wei (0 while pending)
    builder_payment: int  # realized, wei (0 while pending or not included)
    promised_payment: int  # what the send offered the builder
    net_profit: int  # realized, base token units (a revert: minus its gas, converted)
    gross_profit: int  # realized token change before gas, base token units
    amount_in: int
    base_token: str
    base_decimals: int
    created_ms: int


@dataclass(frozen=True, slots=True)
class TokenTotals:
    """Totals of the trades whose P&L is in one base token."""

    base_token: str
    base_decimals: int
    trades: int
    included: int
    reverted: int
    gas_cost: int
    builder_payment: int
    gross_profit: int
    net_profit: int
    capital: int  # sum of amount_in over the included trades

    @property
    def fees(self) -> int:
        """Wei paid: gas plus builder payments."""
        return self.gas_cost + self.builder_payment

    @property
    def return_pct(self) -> Decimal | None:
        """Net P&L (reverts' gas included) over the capital the included trades put to work, in percent."""
        if not self.capital:
            return None
        return Decimal(self.net_profit) * 100 / Decimal(self.capital)


class Journal:
    """A SQLite journal at `path` (created with its schema if missing)."""

    def __init__(self, path: Path | str, *, create: bool = True) -> None:
        self.path = Path(path)
        if not create and not self.path.is_file():
            raise UserError(f"no journal at {self.path}")
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.conn = sqlite3.connect(self.path, isolation_level=None, timeout=5.0)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.execute("PRAGMA foreign_keys=ON")
            version = self.conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise UserError(f"journal {self.path} has schema {version}, newer than this defibots")
            if version < SCHEMA_VERSION:
                # one script, one transaction: the schema and its version appear together or not at all
                self.conn.executescript(f"BEGIN;\n{SCHEMA}\nPRAGMA user_version={SCHEMA_VERSION};\nCOMMIT;")
        except sqlite3.DatabaseError as exc:
            raise UserError(f"cannot open journal {self.path}: {exc}") from None
        self.conn.row_factory = sqlite3.Row

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _insert(self, table: str, values: Mapping[str, Any]) -> int:
        columns = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        cursor = self.conn.execute(
            f"INSERT INTO {table} ({columns}) VALUES ({marks})", tuple(values.values())
        )
        return int(cursor.lastrowid or 0)

    # ---------------------------------------------------------------- recording

    def record_opportunity(self, o: Opportunity) -> int:
        return self._insert(
            "opportunities",
            {
                "created_ms": o.created_ms or now_ms(),
                "chain_id": o.chain_id,
                "block_number": o.block_number,
                "strategy": o.strategy,
                "route": o.route,
                "base_token": o.base_token,
                "base_decimals": o.base_decimals,
                "amount_in": str(o.amount_in),
                "expected_profit": str(o.expected_profit),
                "details": json.dumps(dict(o.details), default=str, sort_keys=True),
            },
        )

    def record_simulation(self, s: Simulation) -> int:
        return self._insert(
            "simulations",
            {
                "created_ms": s.created_ms or now_ms(),
                "opportunity_id": s.opportunity_id,
                "chain_id": s.chain_id,
                "block_number": s.block_number,
                "backend": s.backend,
                "success": int(s.success),
                "gas_used": s.gas_used,
                "profit": str(s.profit),
                "error": s.error,
            },
        )

    def record_send(self, s: Send) -> int:
        return self._insert(
            "sends",
            {
                "created_ms": s.created_ms or now_ms(),
                "opportunity_id": s.opportunity_id,
                "chain_id": s.chain_id,
                "block_number": s.block_number,
                "kind": s.kind,
                "ident": s.ident,
                "relay": s.relay,
                "tx_hashes": json.dumps(list(s.tx_hashes)),
                "builder_payment": str(s.builder_payment),
            },
        )

    def record_receipt(self, r: Receipt) -> int:
        return self._insert(
            "receipts",
            {
                "created_ms": r.created_ms or now_ms(),
                "send_id": r.send_id,
                "chain_id": r.chain_id,
                "block_number": r.block_number,
                "tx_hash": r.tx_hash,
                "status": r.status,
                "gas_used": r.gas_used,
                "effective_gas_price": str(r.effective_gas_price),
            },
        )

    def record_pnl(self, p: Pnl) -> int:
        if p.status not in TRADE_STATUSES:
            raise ValueError(f"P&L status must be one of {TRADE_STATUSES}, got {p.status!r}")
        return self._insert(
            "pnl",
            {
                "created_ms": p.created_ms or now_ms(),
                "send_id": p.send_id,
                "chain_id": p.chain_id,
                "block_number": p.block_number,
                "status": p.status,
                "base_token": p.base_token,
                "base_decimals": p.base_decimals,
                "gross_profit": str(p.gross_profit),
                "gas_cost": str(p.gas_cost),
                "builder_payment": str(p.builder_payment),
                "net_profit": str(p.net_profit),
            },
        )

    def add_send_hash(self, send_id: int, tx_hash: str) -> None:
        """Another transaction broadcast for the same send (a replacement or cancel at its nonce)."""
        row = self.conn.execute("SELECT tx_hashes FROM sends WHERE id = ?", (send_id,)).fetchone()
        if row is None:
            raise ValueError(f"no send {send_id}")
        hashes = [*json.loads(row[0]), tx_hash]
        self.conn.execute("UPDATE sends SET tx_hashes = ? WHERE id = ?", (json.dumps(hashes), send_id))

    def record_cex_signal(self, c: CexSignal) -> int:
        return self._insert(
            "cex_signals",
            {
                "created_ms": c.created_ms or now_ms(),
                "chain_id": c.chain_id,
                "block_number": c.block_number,
                "venue": c.venue,
                "symbol": c.symbol,
                "bid": str(c.bid),
                "ask": str(c.ask),
                "dex_price": None if c.dex_price is None else str(c.dex_price),
                "edge_bps": None if c.edge_bps is None else str(c.edge_bps),
                "details": json.dumps(dict(c.details), default=str, sort_keys=True),
            },
        )

    def record_error(self, e: ErrorRecord) -> int:
        return self._insert(
            "errors",
            {
                "created_ms": e.created_ms or now_ms(),
                "chain_id": e.chain_id,
                "block_number": e.block_number,
                "source": e.source,
                "kind": e.kind,
                "message": e.message,
                "payload": e.payload,
            },
        )

    # ---------------------------------------------------------------- queries

    def opportunities(self, limit: int = 100, chain_id: int | None = None) -> list[Opportunity]:
        rows = self._select("opportunities", limit, chain_id)
        return [
            Opportunity(
                chain_id=r["chain_id"],
                block_number=r["block_number"],
                strategy=r["strategy"],
                route=r["route"],
                base_token=r["base_token"],
                base_decimals=r["base_decimals"],
                amount_in=int(r["amount_in"]),
                expected_profit=int(r["expected_profit"]),
                details=json.loads(r["details"]),
                id=r["id"],
                created_ms=r["created_ms"],
            )
            for r in rows
        ]

    def simulations(self, limit: int = 100, chain_id: int | None = None) -> list[Simulation]:
        return [
            Simulation(
                chain_id=r["chain_id"],
                block_number=r["block_number"],
                backend=r["backend"],
                success=bool(r["success"]),
                gas_used=r["gas_used"],
                profit=int(r["profit"]),
                opportunity_id=r["opportunity_id"],
                error=r["error"],
                id=r["id"],
                created_ms=r["created_ms"],
            )
            for r in self._select("simulations", limit, chain_id)
        ]

    def sends(self, limit: int = 100, chain_id: int | None = None) -> list[Send]:
        return [
            Send(
                chain_id=r["chain_id"],
                block_number=r["block_number"],
                kind=r["kind"],
                ident=r["ident"],
                opportunity_id=r["opportunity_id"],
                relay=r["relay"],
                tx_hashes=tuple(json.loads(r["tx_hashes"])),
                builder_payment=int(r["builder_payment"]),
                id=r["id"],
                created_ms=r["created_ms"],
            )
            for r in self._select("sends", limit, chain_id)
        ]

    def receipts(self, limit: int = 100, chain_id: int | None = None) -> list[Receipt]:
        return [
            Receipt(
                chain_id=r["chain_id"],
                block_number=r["block_number"],
                tx_hash=r["tx_hash"],
                status=r["status"],
                gas_used=r["gas_used"],
                effective_gas_price=int(r["effective_gas_price"]),
                send_id=r["send_id"],
                id=r["id"],
                created_ms=r["created_ms"],
            )
            for r in self._select("receipts", limit, chain_id)
        ]

    def pnl(self, limit: int = 100, chain_id: int | None = None) -> list[Pnl]:
        return [
            Pnl(
                chain_id=r["chain_id"],
                block_number=r["block_number"],
                status=r["status"],
                base_token=r["base_token"],
                base_decimals=r["base_decimals"],
                gross_profit=int(r["gross_profit"]),
                gas_cost=int(r["gas_cost"]),
                builder_payment=int(r["builder_payment"]),
                net_profit=int(r["net_profit"]),
                send_id=r["send_id"],
                id=r["id"],
                created_ms=r["created_ms"],
            )
            for r in self._select("pnl", limit, chain_id)
        ]

    def cex_signals(self, limit: int = 100, chain_id: int | None = None) -> list[CexSignal]:
        return [
            CexSignal(
                chain_id=r["chain_id"],
                block_number=r["block_number"],
                venue=r["venue"],
                symbol=r["symbol"],
                bid=Decimal(r["bid"]),
                ask=Decimal(r["ask"]),
                dex_price=None if r["dex_price"] is None else Decimal(r["dex_price"]),
                edge_bps=None if r["edge_bps"] is None else Decimal(r["edge_bps"]),
                details=json.loads(r["details"]),
                id=r["id"],
                created_ms=r["created_ms"],
            )
            for r in self._select("cex_signals", limit, chain_id)
        ]

    def errors(self, limit: int = 100, chain_id: int | None = None) -> list[ErrorRecord]:
        return [
            ErrorRecord(
                source=r["source"],
                kind=r["kind"],
                message=r["message"],
                payload=r["payload"],
                chain_id=r["chain_id"],
                block_number=r["block_number"],
                id=r["id"],
                created_ms=r["created_ms"],
            )
            for r in self._select("errors", limit, chain_id)
        ]

    def error_counts(self) -> dict[tuple[str, str], int]:
        """How many errors of each (source, kind) were recorded."""
        rows = self.conn.execute(
            "SELECT source, kind, COUNT(*) FROM errors GROUP BY source, kind ORDER BY 1, 2"
        )
        return {(r[0], r[1]): r[2] for r in rows}

    def _select(self, table: str, limit: int, chain_id: int | None) -> list[sqlite3.Row]:
        """Newest first."""
        where = "WHERE chain_id = ?" if chain_id is not None else ""
        params: tuple[int, ...] = (chain_id, limit) if chain_id is not None else (limit,)
        return list(self.conn.execute(f"SELECT * FROM {table} {where} ORDER BY id DESC LIMIT ?", params))

    _TRADES_SQL = """
        SELECT s.id AS send_id, s.chain_id, s.block_number AS target_block, s.kind, s.created_ms,
               s.builder_payment AS promised_payment,
               o.strategy, o.route, o.amount_in, o.base_token AS o_token, o.base_decimals AS o_decimals,
               p.status, p.gas_cost, p.builder_payment, p.net_profit, p.gross_profit,
               p.base_token, p.base_decimals,
               p.block_number AS pnl_block,
               (SELECT COALESCE(SUM(r.gas_used), 0) FROM receipts r WHERE r.send_id = s.id) AS gas_used,
               (SELECT MAX(r.block_number) FROM receipts r WHERE r.send_id = s.id) AS receipt_block
        FROM sends s
        LEFT JOIN opportunities o ON o.id = s.opportunity_id
        LEFT JOIN pnl p ON p.id = (SELECT MAX(id) FROM pnl WHERE send_id = s.id)
    """

    def trades(self, limit: int | None = None, chain_id: int | None = None) -> list[Trade]:
        """Sends with their outcome, newest first."""
        sql = self._TRADES_SQL
        params: list[int] = []
        if chain_id is not None:
            sql += " WHERE s.chain_id = ?"
            params.append(chain_id)
        sql += " ORDER BY s.id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [self._trade(r) for r in self.conn.execute(sql, params)]

    @staticmethod
    def _trade(r: sqlite3.Row) -> Trade:
        realized = r["status"] is not None
        return Trade(
            send_id=r["send_id"],
            chain_id=r["chain_id"],
            block_number=r["receipt_block"] or r["pnl_block"] or r["target_block"],
            strategy=r["strategy"] or "",
            route=r["route"] or "",
            kind=r["kind"],
            status=r["status"] if realized else "pending",
            gas_used=r["gas_used"],
            gas_cost=int(r["gas_cost"]) if realized else 0,
            builder_payment=int(r["builder_payment"]) if realized else 0,
            promised_payment=int(r["promised_payment"]),
            net_profit=int(r["net_profit"]) if realized else 0,
            gross_profit=int(r["gross_profit"]) if realized else 0,
            amount_in=int(r["amount_in"] or 0),
            base_token=(r["base_token"] if realized else r["o_token"]) or "",
            base_decimals=(r["base_decimals"] if realized else r["o_decimals"]) or 0,
            created_ms=r["created_ms"],
        )

    def totals(self, chain_id: int | None = None) -> list[TokenTotals]:
        """Totals over all trades (not only the last N shown), one entry per base token."""
        grouped: dict[tuple[str, int], list[Trade]] = {}
        for trade in self.trades(chain_id=chain_id):
            grouped.setdefault((trade.base_token, trade.base_decimals), []).append(trade)
        return [
            TokenTotals(
                base_token=token,
                base_decimals=decimals,
                trades=len(group),
                included=sum(1 for t in group if t.status == "included"),
                reverted=sum(1 for t in group if t.status == "reverted"),
                gas_cost=sum(t.gas_cost for t in group),
                builder_payment=sum(t.builder_payment for t in group),
                gross_profit=sum(t.gross_profit for t in group),
                net_profit=sum(t.net_profit for t in group),
                capital=sum(t.amount_in for t in group if t.status == "included"),
            )
            for (token, decimals), group in sorted(grouped.items())
        ]


def format_units(amount: int, decimals: int) -> str:
    """An int in smallest units as an exact decimal string: 1500000000000000000, 18 -> '1.5'."""
    sign = "-" if amount < 0 else ""
    whole, frac = divmod(abs(amount), 10**decimals)
    text = f"{frac:0{decimals}d}".rstrip("0") if decimals else ""
    return f"{sign}{whole}.{text}" if text else f"{sign}{whole}"
