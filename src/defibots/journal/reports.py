"""Reporting queries over a journal connection: the stored records read back, and the joined views
`defibots history` and the demo summary print (trades, totals per base token, P&L per strategy, hedged
round trips and their totals).

Kept apart from writing so a report never needs to know how rows get in, and new reports do not grow
the writer. `Journal` (writer.py) inherits these, so one open journal both records and reports.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import TypeVar

from defibots.journal.records import (
    ROUND_TRIP_STATUSES,
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
)

_T = TypeVar("_T")


def _int(text: str | None) -> int | None:
    return None if text is None else int(text)


def _dec(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


class Reports:
    """Queries on an open journal connection (rows as `sqlite3.Row`). Lists are newest first."""

    conn: sqlite3.Connection

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def chain_ids(self) -> list[int]:
        """The chains the journal has sends on, ascending (`history` shows a chain column if several)."""
        return [r[0] for r in self.conn.execute("SELECT DISTINCT chain_id FROM sends ORDER BY chain_id")]

    def record_counts(self, chain_id: int | None = None) -> dict[str, int]:
        """How many opportunities, simulations and sends the journal holds (on one chain, or all): what
        `history` shows of a shadow run, which decides and simulates but trades nothing."""
        counts: dict[str, int] = {}
        for table in ("opportunities", "simulations", "sends"):
            sql = f"SELECT COUNT(*) FROM {table}" + (" WHERE chain_id = ?" if chain_id is not None else "")
            counts[table] = int(self.conn.execute(sql, () if chain_id is None else (chain_id,)).fetchone()[0])
        return counts

    def opportunities(self, limit: int = 100, chain_id: int | None = None) -> list[OpportunityRecord]:
        rows = self._select("opportunities", limit, chain_id)
        return [
            OpportunityRecord(
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
        return [self._send(r) for r in self._select("sends", limit, chain_id)]

    @staticmethod
    def _send(r: sqlite3.Row) -> Send:
        return Send(
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
        return self._select_where(table, limit, chain_id=chain_id)

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
        WHERE s.id NOT IN (SELECT CAST(j.value AS INTEGER) FROM round_trips rt, json_each(rt.send_ids) j)
    """
    """A round trip's legs are shown (and summed) with their round trip, not as trades of their own."""

    def trades(self, limit: int | None = None, chain_id: int | None = None) -> list[Trade]:
        """Sends with their outcome, newest first."""
        sql = self._TRADES_SQL
        params: list[int] = []
        if chain_id is not None:
            sql += " AND s.chain_id = ?"
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

    # ---------------------------------------------------------------- positions, orders, strategy P&L

    def positions(
        self,
        limit: int = 100,
        chain_id: int | None = None,
        status: str | None = None,
        protocol: str | None = None,
    ) -> list[Position]:
        rows = self._select_where("positions", limit, chain_id=chain_id, status=status, protocol=protocol)
        return [
            Position(
                chain_id=r["chain_id"],
                block_number=r["block_number"],
                protocol=r["protocol"],
                market=r["market"],
                side=r["side"],
                key=r["key"],
                size=int(r["size"]),
                collateral_token=r["collateral_token"],
                collateral=int(r["collateral"]),
                entry_price=int(r["entry_price"]),
                debt_token=r["debt_token"],
                debt=int(r["debt"]),
                status=r["status"],
                strategy=r["strategy"],
                details=json.loads(r["details"]),
                id=r["id"],
                created_ms=r["created_ms"],
            )
            for r in rows
        ]

    def position_history(self, position_id: int, limit: int = 1000) -> list[PositionSnapshot]:
        """One position's snapshots, newest block first."""
        rows = self.conn.execute(
            "SELECT * FROM position_history WHERE position_id = ? ORDER BY block_number DESC LIMIT ?",
            (position_id, limit),
        )
        return [
            PositionSnapshot(
                position_id=r["position_id"],
                chain_id=r["chain_id"],
                block_number=r["block_number"],
                size=int(r["size"]),
                collateral=int(r["collateral"]),
                debt=int(r["debt"]),
                mark_price=int(r["mark_price"]),
                status=r["status"],
                health_factor=_int(r["health_factor"]),
                pnl=_int(r["pnl"]),
                id=r["id"],
                created_ms=r["created_ms"],
            )
            for r in rows
        ]

    def orders(
        self,
        limit: int = 100,
        chain_id: int | None = None,
        venue: str | None = None,
        status: str | None = None,
    ) -> list[Order]:
        return [
            self._order(r)
            for r in self._select_where("orders", limit, chain_id=chain_id, venue=venue, status=status)
        ]

    def order_by_client_id(self, venue: str, client_order_id: str) -> Order | None:
        """The order a restart finds again by the id we gave the venue."""
        row = self.conn.execute(
            "SELECT * FROM orders WHERE venue = ? AND client_order_id = ?", (venue, client_order_id)
        ).fetchone()
        return None if row is None else self._order(row)

    @staticmethod
    def _order(r: sqlite3.Row) -> Order:
        return Order(
            venue=r["venue"],
            symbol=r["symbol"],
            client_order_id=r["client_order_id"],
            side=r["side"],
            type=r["type"],
            amount=Decimal(r["amount"]),
            price=_dec(r["price"]),
            status=r["status"],
            venue_order_id=r["venue_order_id"],
            chain_id=r["chain_id"],
            strategy=r["strategy"],
            details=json.loads(r["details"]),
            id=r["id"],
            created_ms=r["created_ms"],
        )

    def fills(self, order_id: int | None = None, limit: int = 1000) -> list[Fill]:
        rows = self._select_where("fills", limit, order_id=order_id)
        return [
            Fill(
                order_id=r["order_id"],
                price=Decimal(r["price"]),
                amount=Decimal(r["amount"]),
                fee=Decimal(r["fee"]),
                fee_currency=r["fee_currency"],
                venue_trade_id=r["venue_trade_id"],
                chain_id=r["chain_id"],
                id=r["id"],
                created_ms=r["created_ms"],
            )
            for r in rows
        ]

    def strategy_pnl(
        self, limit: int = 1000, chain_id: int | None = None, strategy: str | None = None
    ) -> list[StrategyPnl]:
        rows = self._select_where("strategy_pnl", limit, chain_id=chain_id, strategy=strategy)
        return [
            StrategyPnl(
                chain_id=r["chain_id"],
                strategy=r["strategy"],
                token=r["token"],
                token_decimals=r["token_decimals"],
                amount=int(r["amount"]),
                kind=r["kind"],
                block_number=r["block_number"],
                ref=r["ref"],
                id=r["id"],
                created_ms=r["created_ms"],
            )
            for r in rows
        ]

    def strategy_totals(self, chain_id: int | None = None) -> list[StrategyTokenTotal]:
        """Summed P&L per (strategy, token), over the whole journal. Summed in Python: the amounts are
        TEXT ints that SQL's SUM would turn into lossy floats past 64 bits."""
        sql = "SELECT strategy, token, token_decimals, amount FROM strategy_pnl"
        params: tuple[int, ...] = ()
        if chain_id is not None:
            sql += " WHERE chain_id = ?"
            params = (chain_id,)
        sums: dict[tuple[str, str, int], list[int]] = {}
        for r in self.conn.execute(sql, params):
            entry = sums.setdefault((r["strategy"], r["token"], r["token_decimals"]), [0, 0])
            entry[0] += 1
            entry[1] += int(r["amount"])
        return [
            StrategyTokenTotal(strategy, token, decimals, entries, amount)
            for (strategy, token, decimals), (entries, amount) in sorted(sums.items())
        ]

    # ---------------------------------------------------------------- round trips (hedged AMM-CEX trades)

    def round_trips(
        self, limit: int = 100, chain_id: int | None = None, strategy: str | None = None
    ) -> list[RoundTrip]:
        rows = self._select_where("round_trips", limit, chain_id=chain_id, strategy=strategy)
        return [self._round_trip(r) for r in rows]

    def round_trip(self, round_trip_id: int) -> RoundTrip | None:
        row = self.conn.execute("SELECT * FROM round_trips WHERE id = ?", (round_trip_id,)).fetchone()
        return None if row is None else self._round_trip(row)

    @staticmethod
    def _round_trip(r: sqlite3.Row) -> RoundTrip:
        return RoundTrip(
            chain_id=r["chain_id"],
            block_number=r["block_number"],
            strategy=r["strategy"],
            venue=r["venue"],
            symbol=r["symbol"],
            direction=r["direction"],
            status=r["status"],
            base_token=r["base_token"],
            base_decimals=r["base_decimals"],
            quote_token=r["quote_token"],
            quote_decimals=r["quote_decimals"],
            chain_base=int(r["chain_base"]),
            chain_quote=int(r["chain_quote"]),
            cex_base=int(r["cex_base"]),
            cex_quote=int(r["cex_quote"]),
            cex_fee_quote=int(r["cex_fee_quote"]),
            gas_cost_quote=int(r["gas_cost_quote"]),
            builder_payment_quote=int(r["builder_payment_quote"]),
            residual_base=int(r["residual_base"]),
            predicted_net=int(r["predicted_net"]),
            net_pnl=int(r["net_pnl"]),
            send_ids=tuple(json.loads(r["send_ids"])),
            order_ids=tuple(json.loads(r["order_ids"])),
            opportunity_id=r["opportunity_id"],
            details=json.loads(r["details"]),
            id=r["id"],
            created_ms=r["created_ms"],
            updated_ms=r["updated_ms"],
        )

    def round_trip_legs(self, rt: RoundTrip) -> RoundTripLegs:
        """The sends and CEX orders (with fills, oldest first) a trip points at, in the trip's order."""
        sends = {s.id: s for s in self._by_ids("sends", rt.send_ids, self._send)}
        orders = {o.id: o for o in self._by_ids("orders", rt.order_ids, self._order)}
        fills = {oid: tuple(reversed(self.fills(order_id=oid))) for oid in rt.order_ids}
        return RoundTripLegs(
            sends=tuple(sends[i] for i in rt.send_ids if i in sends),
            orders=tuple(orders[i] for i in rt.order_ids if i in orders),
            fills=fills,
        )

    def round_trip_totals(self, chain_id: int | None = None) -> list[RoundTripTotals]:
        """Per (strategy, quote token) over the whole journal (or one chain), summed exactly in Python.
        The open residual is the base exposure settled trips left, per base token; pending trips are
        still moving and are counted by status but not in it."""
        sql = "SELECT * FROM round_trips" + (" WHERE chain_id = ?" if chain_id is not None else "")
        groups: dict[tuple[str, str, int], list[RoundTrip]] = {}
        for r in self.conn.execute(sql, () if chain_id is None else (chain_id,)):
            rt = self._round_trip(r)
            groups.setdefault((rt.strategy, rt.quote_token, rt.quote_decimals), []).append(rt)
        return [
            _round_trip_totals(strategy, token, decimals, trips)
            for (strategy, token, decimals), trips in sorted(groups.items())
        ]

    def _by_ids(self, table: str, ids: Sequence[int], read: Callable[[sqlite3.Row], _T]) -> list[_T]:
        if not ids:
            return []
        marks = ", ".join("?" for _ in ids)
        return [
            read(r) for r in self.conn.execute(f"SELECT * FROM {table} WHERE id IN ({marks})", tuple(ids))
        ]

    def _select_where(self, table: str, limit: int, **equal: str | int | None) -> list[sqlite3.Row]:
        """Newest first, filtered by the given columns (None: no filter). Column names are ours, not input."""
        filters = {column: value for column, value in equal.items() if value is not None}
        where = " AND ".join(f"{column} = ?" for column in filters)
        sql = f"SELECT * FROM {table}{' WHERE ' + where if where else ''} ORDER BY id DESC LIMIT ?"
        return list(self.conn.execute(sql, (*filters.values(), limit)))


def _round_trip_totals(strategy: str, token: str, decimals: int, trips: list[RoundTrip]) -> RoundTripTotals:
    counts = {status: sum(1 for t in trips if t.status == status) for status in ROUND_TRIP_STATUSES}
    residual: dict[tuple[str, int], int] = {}
    for t in trips:
        if t.status != "pending":
            key = (t.base_token, t.base_decimals)
            residual[key] = residual.get(key, 0) + t.residual_base
    return RoundTripTotals(
        strategy=strategy,
        quote_token=token,
        quote_decimals=decimals,
        trips=len(trips),
        statuses={status: n for status, n in counts.items() if n},
        predicted_net=sum(t.predicted_net for t in trips),
        net_pnl=sum(t.net_pnl for t in trips),
        cex_fee_quote=sum(t.cex_fee_quote for t in trips),
        gas_cost_quote=sum(t.gas_cost_quote for t in trips),
        builder_payment_quote=sum(t.builder_payment_quote for t in trips),
        open_residual=tuple(
            BaseResidual(base, base_decimals, amount)
            for (base, base_decimals), amount in sorted(residual.items())
            if amount
        ),
    )


def format_units(amount: int, decimals: int) -> str:
    """An int in smallest units as an exact decimal string: 1500000000000000000, 18 -> '1.5'."""
    sign = "-" if amount < 0 else ""
    whole, frac = divmod(abs(amount), 10**decimals)
    text = f"{frac:0{decimals}d}".rstrip("0") if decimals else ""
    return f"{sign}{whole}.{text}" if text else f"{sign}{whole}"
