"""`Journal`: the open SQLite file (upgraded to the latest schema on open) and one `record_*` per kind.

- WAL mode, so `defibots history` can read while a bot writes; synchronous=NORMAL (a crash may lose the
  last few records, never corrupt the file).
- One connection per `Journal`, used from the thread that opened it (sqlite3's own check enforces it).
  In an asyncio bot that is the event-loop thread: each call is one short INSERT in autocommit mode,
  cheap enough not to need a worker thread. Other processes open their own `Journal`.
- Token amounts are ints in smallest units and can exceed SQLite's 64-bit INTEGER, so amount columns
  are TEXT holding the decimal integer; venue prices and amounts are TEXT holding the Decimal.
- Rows are keyed by chain id and block number (the target block for sends); venue rows may have no chain.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any

from defibots.errors import UserError
from defibots.journal.migrations import migrate, verify_schema
from defibots.journal.records import (
    ORDER_SIDES,
    ORDER_STATUSES,
    POSITION_STATUSES,
    ROUND_TRIP_DIRECTIONS,
    ROUND_TRIP_STATUSES,
    TRADE_STATUSES,
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
    Send,
    Simulation,
    StrategyPnl,
    now_ms,
)
from defibots.journal.reports import Reports


def _json(details: Mapping[str, Any]) -> str:
    return json.dumps(dict(details), default=str, sort_keys=True)


def _text(value: int | Decimal | None) -> str | None:
    return None if value is None else str(value)


def _one_of(what: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{what} must be one of {allowed}, got {value!r}")


class Journal(Reports):
    """A SQLite journal at `path`, created if missing (unless `create=False`) and migrated in place to
    the latest schema. A file that is not a journal, or is newer than this code, is a UserError."""

    def __init__(self, path: Path | str, *, create: bool = True) -> None:
        self.path = Path(path)
        if not create and not self.path.is_file():
            raise UserError(f"no journal at {self.path}")
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=5.0)
        except sqlite3.Error as exc:
            raise UserError(f"cannot open journal {self.path}: {exc}") from None
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            migrate(conn, self.path)
            verify_schema(conn, self.path)
        except sqlite3.Error as exc:
            conn.close()
            raise UserError(f"cannot open journal {self.path}: {exc}") from None
        except BaseException:
            conn.close()
            raise
        conn.row_factory = sqlite3.Row
        super().__init__(conn)

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

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """Several statements that must land together (a snapshot and its position's status)."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def record_opportunity(self, o: OpportunityRecord) -> int:
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

    def record_position(self, p: Position) -> int:
        _one_of("position status", p.status, POSITION_STATUSES)
        return self._insert(
            "positions",
            {
                "created_ms": p.created_ms or now_ms(),
                "chain_id": p.chain_id,
                "block_number": p.block_number,
                "protocol": p.protocol,
                "market": p.market,
                "side": p.side,
                "key": p.key,
                "size": str(p.size),
                "collateral_token": p.collateral_token,
                "collateral": str(p.collateral),
                "debt_token": p.debt_token,
                "debt": str(p.debt),
                "entry_price": str(p.entry_price),
                "status": p.status,
                "strategy": p.strategy,
                "details": _json(p.details),
            },
        )

    def record_position_snapshot(self, s: PositionSnapshot) -> int:
        """Store the position's state at `s.block_number` (replacing an earlier snapshot of the same
        block, as after a reorg) and move the position to the snapshot's status, in one transaction."""
        _one_of("position status", s.status, POSITION_STATUSES)
        values = {
            "created_ms": s.created_ms or now_ms(),
            "position_id": s.position_id,
            "chain_id": s.chain_id,
            "block_number": s.block_number,
            "size": str(s.size),
            "collateral": str(s.collateral),
            "debt": str(s.debt),
            "mark_price": str(s.mark_price),
            "status": s.status,
            "health_factor": _text(s.health_factor),
            "pnl": _text(s.pnl),
        }
        updates = ", ".join(f"{c} = excluded.{c}" for c in values if c not in ("position_id", "block_number"))
        with self._transaction():
            row = self.conn.execute(
                f"INSERT INTO position_history ({', '.join(values)}) VALUES ({', '.join('?' * len(values))})"
                f" ON CONFLICT (position_id, block_number) DO UPDATE SET {updates} RETURNING id",
                tuple(values.values()),
            ).fetchone()
            newest = self.conn.execute(
                "SELECT MAX(block_number) FROM position_history WHERE position_id = ?", (s.position_id,)
            ).fetchone()[0]
            if newest == s.block_number:  # a late snapshot of an older block does not roll status back
                self.conn.execute("UPDATE positions SET status = ? WHERE id = ?", (s.status, s.position_id))
        return int(row[0])

    def record_order(self, o: Order) -> int:
        """A new order on a venue; (venue, client_order_id) must be unique, so a retry cannot double it."""
        _one_of("order side", o.side, ORDER_SIDES)
        _one_of("order status", o.status, ORDER_STATUSES)
        created = o.created_ms or now_ms()
        return self._insert(
            "orders",
            {
                "created_ms": created,
                "updated_ms": created,
                "chain_id": o.chain_id,
                "venue": o.venue,
                "symbol": o.symbol,
                "client_order_id": o.client_order_id,
                "venue_order_id": o.venue_order_id,
                "side": o.side,
                "type": o.type,
                "price": _text(o.price),
                "amount": str(o.amount),
                "status": o.status,
                "strategy": o.strategy,
                "details": _json(o.details),
            },
        )

    def update_order(self, order_id: int, status: str, venue_order_id: str | None = None) -> None:
        """The venue's answer: a new status, and its own order id once it has given one."""
        _one_of("order status", status, ORDER_STATUSES)
        cursor = self.conn.execute(
            "UPDATE orders SET status = ?, venue_order_id = COALESCE(?, venue_order_id), updated_ms = ?"
            " WHERE id = ?",
            (status, venue_order_id, now_ms(), order_id),
        )
        if cursor.rowcount != 1:
            raise ValueError(f"no order {order_id}")

    def record_fill(self, f: Fill) -> int:
        return self._insert(
            "fills",
            {
                "created_ms": f.created_ms or now_ms(),
                "order_id": f.order_id,
                "chain_id": f.chain_id,
                "venue_trade_id": f.venue_trade_id,
                "price": str(f.price),
                "amount": str(f.amount),
                "fee": str(f.fee),
                "fee_currency": f.fee_currency,
            },
        )

    def record_strategy_pnl(self, p: StrategyPnl) -> int:
        return self._insert(
            "strategy_pnl",
            {
                "created_ms": p.created_ms or now_ms(),
                "chain_id": p.chain_id,
                "block_number": p.block_number,
                "strategy": p.strategy,
                "token": p.token,
                "token_decimals": p.token_decimals,
                "amount": str(p.amount),
                "kind": p.kind,
                "ref": p.ref,
            },
        )

    def record_round_trip(self, rt: RoundTrip) -> int:
        """A hedged trade, usually "pending" as its first leg goes out; `update_round_trip` settles it."""
        created = rt.created_ms or now_ms()
        return self._insert("round_trips", {"created_ms": created, **self._round_trip_values(rt, created)})

    def update_round_trip(self, round_trip_id: int, rt: RoundTrip) -> None:
        """Replace a trip's legs, amounts and status as they settle (its created_ms and id stay)."""
        values = self._round_trip_values(rt, now_ms())
        cursor = self.conn.execute(
            f"UPDATE round_trips SET {', '.join(f'{c} = ?' for c in values)} WHERE id = ?",
            (*values.values(), round_trip_id),
        )
        if cursor.rowcount != 1:
            raise ValueError(f"no round trip {round_trip_id}")

    def _round_trip_values(self, rt: RoundTrip, updated_ms: int) -> dict[str, Any]:
        """Checked column values: a trip whose derived fields disagree with its legs, or that points at
        sends or orders the journal does not hold, would make `history` lie, so it is refused."""
        _one_of("round trip status", rt.status, ROUND_TRIP_STATUSES)
        _one_of("round trip direction", rt.direction, ROUND_TRIP_DIRECTIONS)
        if rt.residual_base != rt.chain_base + rt.cex_base:
            raise ValueError(
                f"round trip residual_base {rt.residual_base} != chain_base + cex_base"
                f" ({rt.chain_base + rt.cex_base})"
            )
        net = rt.chain_quote + rt.cex_quote - rt.gas_cost_quote - rt.builder_payment_quote
        if rt.net_pnl != net:
            raise ValueError(
                f"round trip net_pnl {rt.net_pnl} != chain_quote + cex_quote - gas - builder ({net})"
            )
        self._require_ids("sends", "send", rt.send_ids)
        self._require_ids("orders", "order", rt.order_ids)
        return {
            "updated_ms": updated_ms,
            "opportunity_id": rt.opportunity_id,
            "chain_id": rt.chain_id,
            "block_number": rt.block_number,
            "strategy": rt.strategy,
            "venue": rt.venue,
            "symbol": rt.symbol,
            "direction": rt.direction,
            "status": rt.status,
            "base_token": rt.base_token,
            "base_decimals": rt.base_decimals,
            "quote_token": rt.quote_token,
            "quote_decimals": rt.quote_decimals,
            "chain_base": str(rt.chain_base),
            "chain_quote": str(rt.chain_quote),
            "cex_base": str(rt.cex_base),
            "cex_quote": str(rt.cex_quote),
            "cex_fee_quote": str(rt.cex_fee_quote),
            "gas_cost_quote": str(rt.gas_cost_quote),
            "builder_payment_quote": str(rt.builder_payment_quote),
            "residual_base": str(rt.residual_base),
            "predicted_net": str(rt.predicted_net),
            "net_pnl": str(rt.net_pnl),
            "send_ids": json.dumps(list(rt.send_ids)),
            "order_ids": json.dumps(list(rt.order_ids)),
            "details": _json(rt.details),
        }

    def _require_ids(self, table: str, what: str, ids: tuple[int, ...]) -> None:
        for ident in ids:  # column and table names are ours; a trip has a handful of ids
            if self.conn.execute(f"SELECT 1 FROM {table} WHERE id = ?", (ident,)).fetchone() is None:
                raise ValueError(f"round trip points at no {what} {ident}")
