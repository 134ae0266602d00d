"""Schema migrations on a real journal written by the pre-migration code (commit 54bb31d, see
make_v1_fixture.py): upgraded in place, every row and every number the old code reported still there."""

from __future__ import annotations

import dataclasses
import json
import shutil
import sqlite3
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from defibots.cli.history import totals_line
from defibots.cli.main import app
from defibots.errors import UserError
from defibots.journal import LATEST_VERSION, MIGRATIONS, Journal, Migration, TokenTotals, format_units
from defibots.journal.migrations import migrate, sql_step

FIXTURES = Path(__file__).parent / "fixtures"
EXPECTED: dict[str, Any] = json.loads((FIXTURES / "journal_v1.expected.json").read_text())
OLD_TABLES = ("opportunities", "simulations", "sends", "receipts", "pnl", "cex_signals", "errors")


def plain(value: Any) -> Any:
    """Same encoding as the generator's, so old and new query results compare as JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def old_fields(new: list[dict[str, Any]], old: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The new rows cut down to the fields the old dataclass had (new fields are checked separately)."""
    return [{k: n[k] for k in o} for n, o in zip(new, old, strict=True)]


@pytest.fixture
def v1_journal(tmp_path: Path) -> Path:
    """A private copy of the committed v1 file: the fixture itself is never upgraded."""
    path = tmp_path / "journal.sqlite"
    shutil.copyfile(FIXTURES / "journal_v1.sqlite", path)
    return path


def table_counts(path: Path) -> dict[str, int]:
    conn = sqlite3.connect(path)
    try:
        return {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in OLD_TABLES}
    finally:
        conn.close()


def schema(conn: sqlite3.Connection) -> set[tuple[str, str]]:
    return set(conn.execute("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL"))


def user_version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


def test_v1_journal_upgrades_in_place_and_reads_back_every_old_row(v1_journal: Path) -> None:
    assert user_version(v1_journal) == EXPECTED["user_version"] == 1
    counts = table_counts(v1_journal)
    assert counts == {
        "opportunities": 6, "simulations": 4, "sends": 5, "receipts": 4, "pnl": 4, "cex_signals": 2,
        "errors": 3,
    }  # fmt: skip

    with Journal(v1_journal, create=False) as j:
        assert j.conn.execute("PRAGMA user_version").fetchone()[0] == LATEST_VERSION > 1
        for table in OLD_TABLES:
            assert plain(getattr(j, table)()) == EXPECTED[table], table
        assert [[s, k, n] for (s, k), n in j.error_counts().items()] == EXPECTED["error_counts"]

        trades = plain(j.trades())
        assert old_fields(trades, EXPECTED["trades"]) == EXPECTED["trades"]
        assert [t["status"] for t in trades] == [
            "pending",
            "included",
            "not_included",
            "reverted",
            "included",
        ]
        totals = plain(j.totals())
        assert old_fields(totals, EXPECTED["totals"]) == EXPECTED["totals"]
        for chain, expected in EXPECTED["trades_by_chain"].items():
            assert old_fields(plain(j.trades(chain_id=int(chain))), expected) == expected
            totals_c = plain(j.totals(chain_id=int(chain)))
            assert (
                old_fields(totals_c, EXPECTED["totals_by_chain"][chain]) == EXPECTED["totals_by_chain"][chain]
            )
        # the fields added since 54bb31d are derived from the same old rows
        weth = next(t for t in j.totals() if t.base_token == "WETH")
        assert (weth.reverted, weth.gross_profit) == (1, 10**18 // 20)
        assert j.chain_ids() == [1, 31337]
        assert j.positions() == [] and j.orders() == [] and j.strategy_pnl() == [] and j.round_trips() == []

    assert table_counts(v1_journal) == counts  # nothing lost, nothing added to the old tables
    assert user_version(v1_journal) == LATEST_VERSION


def test_upgraded_v1_journal_has_the_same_schema_as_a_fresh_one(v1_journal: Path, tmp_path: Path) -> None:
    with Journal(v1_journal) as upgraded, Journal(tmp_path / "fresh.sqlite") as fresh:
        assert schema(upgraded.conn) == schema(fresh.conn)
        names = {name for name, _ in schema(fresh.conn)}
    assert {"positions", "position_history", "orders", "fills", "strategy_pnl", "round_trips"} <= names


def test_history_on_the_upgraded_v1_journal_prints_the_old_code_numbers(v1_journal: Path) -> None:
    runner = CliRunner(env={"COLUMNS": "250"})  # wide enough that rich keeps each trade on one line
    result = runner.invoke(app, ["history", "--journal", str(v1_journal), "--limit", "100"])
    assert result.exit_code == 0, result.output
    assert "chain" in result.output  # two chains in the journal: each row says which
    lines = result.output.splitlines()
    for trade in EXPECTED["trades"]:  # one line per trade: its chain, block, route and status together
        (line,) = [ln for ln in lines if trade["route"] in ln and f" {trade['block_number']} " in ln]
        assert line.split()[1] == str(trade["chain_id"]) and trade["status"] in line
        if trade["status"] != "pending":
            assert (
                f"{format_units(trade['net_profit'], trade['base_decimals'])} {trade['base_token']}" in line
            )
    for old in EXPECTED["totals"]:
        trades = [t for t in EXPECTED["trades"] if t["base_token"] == old["base_token"]]
        reverted = sum(1 for t in trades if t["status"] == "reverted")
        assert totals_line(TokenTotals(**old, reverted=reverted, gross_profit=0)) in result.output
    # the same line written out by hand, so a change to totals_line cannot hide a change in the numbers
    assert (
        "WETH: trades 3 (included 1, reverted 1) | fees 0.0145 ETH (gas 0.0045, builder 0.01)"
        " | P&L 0.0355 WETH | return 0.3550%"
    ) in result.output
    assert "USDC: trades 2 (included 1, reverted 0) | fees 0.02558 ETH" in result.output
    assert "P&L 61.234567 USDC | return 0.1225%" in result.output

    result = runner.invoke(app, ["history", "--journal", str(v1_journal), "--chain-id", "1"])
    assert result.exit_code == 0, result.output
    assert "Last 2 trades on chain 1" in result.output
    assert "USDC>WETH>USDC" in result.output and "USDC>DAI>USDC" in result.output
    assert "WETH>DAI>WETH" not in result.output and "WETH:" not in result.output
    assert "USDC: trades 2 (included 1, reverted 0)" in result.output

    result = runner.invoke(app, ["history", "--journal", str(v1_journal), "--chain-id", "10"])
    assert result.exit_code == 0 and f"no trades on chain 10 in {v1_journal}" in result.output


def test_opening_twice_is_idempotent(v1_journal: Path) -> None:
    with Journal(v1_journal) as j:
        first = (schema(j.conn), plain(j.trades()), plain(j.sends()))
    with Journal(v1_journal) as j:
        assert (schema(j.conn), plain(j.trades()), plain(j.sends())) == first
        assert migrate(j.conn, v1_journal) == LATEST_VERSION  # already there: started at the latest
    assert user_version(v1_journal) == LATEST_VERSION


def test_each_step_runs_once_per_file(tmp_path: Path) -> None:
    runs: list[int] = []

    def counted(version: int) -> Migration:
        def step(conn: sqlite3.Connection) -> None:
            runs.append(version)
            conn.execute(f"CREATE TABLE t{version} (x)")

        return Migration(version, f"t{version}", step)

    steps = (counted(1), counted(2))
    conn = sqlite3.connect(tmp_path / "x.sqlite", isolation_level=None)
    assert migrate(conn, tmp_path, steps) == 0
    assert migrate(conn, tmp_path, steps) == 2
    assert migrate(conn, tmp_path, (*steps, counted(3))) == 2
    assert runs == [1, 2, 3]
    conn.close()


def test_a_failing_step_leaves_the_file_at_the_last_finished_version(tmp_path: Path) -> None:
    broken = Migration(2, "half done", sql_step("CREATE TABLE half (x); INSERT INTO missing VALUES (1);"))
    path = tmp_path / "j.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    with pytest.raises(sqlite3.OperationalError, match="no such table: missing"):
        migrate(conn, path, (MIGRATIONS[0], broken))
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'half'").fetchone() is None
    assert not conn.in_transaction
    conn.close()


def test_migration_versions_must_count_up_from_one(tmp_path: Path) -> None:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    with pytest.raises(ValueError, match=r"1\.\.N"):
        migrate(conn, tmp_path, (MIGRATIONS[0], Migration(3, "gap", sql_step("SELECT 1"))))
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 0
    conn.close()


def run_history(path: Path) -> subprocess.CompletedProcess[str]:
    """`defibots history` as a user runs it: the real entry point, its stderr and exit code."""
    return subprocess.run(
        [sys.executable, "-m", "defibots.cli.main", "history", "--journal", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_journal_newer_than_the_code_is_refused_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "future.sqlite"
    with Journal(path) as j:
        j.conn.execute(f"PRAGMA user_version = {LATEST_VERSION + 1}")
    result = run_history(path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"error: journal {path} has schema version {LATEST_VERSION + 1}, newer than this defibots knows"
        f" ({LATEST_VERSION}); upgrade defibots to read it\n"
    )
    assert user_version(path) == LATEST_VERSION + 1  # refused, not rewritten
    with pytest.raises(UserError, match="newer than this defibots"):
        Journal(path)  # a bot opening it to write is refused the same way


def test_a_file_that_is_not_a_journal_is_refused_with_one_line(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"not a database, just some bytes\n" * 200)
    result = run_history(garbage)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == f"error: cannot open journal {garbage}: file is not a database\n"
    assert garbage.read_bytes() == b"not a database, just some bytes\n" * 200

    other = tmp_path / "other.sqlite"  # a real SQLite file of another program, claiming our version
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE sends (id INTEGER PRIMARY KEY, note TEXT)")
    conn.execute(f"PRAGMA user_version = {LATEST_VERSION}")
    conn.commit()
    conn.close()
    result = run_history(other)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(
        f"error: journal {other} is not a defibots journal at schema {LATEST_VERSION}"
    )
