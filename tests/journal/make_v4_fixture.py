"""Write tests/journal/fixtures/journal_v4.sqlite with the journal package of commit 979585e (schema 4,
the last one before round trips), and next to it that code's own query results (journal_v4.expected.json),
so the migration test compares today's reading of the upgraded file with what the old code said.

Run from the repository root (needs git; reads the old package with `git archive`, changes nothing in git):

    .venv/bin/python tests/journal/make_v4_fixture.py
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

OLD_COMMIT = "979585e"
HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures"
DB = FIXTURES / "journal_v4.sqlite"
EXPECTED = FIXTURES / "journal_v4.expected.json"
OLD_FILES = ("src/defibots/__init__.py", "src/defibots/errors.py", "src/defibots/journal")

ETHER = 10**18
GWEI = 10**9
DEVNET = 31337
T0 = 1_733_000_000_000  # fixed created_ms, so a regenerated file has the same rows


def plain(value: Any) -> Any:
    """A record as JSON: dataclass fields by name, Decimals as strings, tuples as lists; ints stay exact."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def write_with_old_code() -> None:
    """Runs in a child process whose `defibots` is the old package: an AMM leg on chain, the CEX order
    that hedged it with two fills, a strategy P&L entry, a position, and a pending send."""
    import defibots.journal as old

    assert old.LATEST_VERSION == 4, old.LATEST_VERSION
    assert Path(old.__file__).resolve().is_relative_to(Path(os.environ["OLD_SRC"]).resolve())
    t = iter(range(T0, T0 + 1_000_000, 1_000))
    D = Decimal
    with old.Journal(DB) as j:
        o1 = j.record_opportunity(
            old.OpportunityRecord(DEVNET, 200, "cex_arb", "WETH>USDT v3-500:0x11b8", "USDT", 6, 2 * 10**18,
                                  9_500_000, {"edge_bps": "12.5"}, created_ms=next(t))
        )  # fmt: skip
        s1 = j.record_send(
            old.Send(DEVNET, 201, "public_tx", "0xa1", o1, tx_hashes=("0xa1",), created_ms=next(t))
        )
        j.record_receipt(old.Receipt(DEVNET, 201, "0xa1", 1, 130_000, 12 * GWEI, s1, created_ms=next(t)))
        j.record_pnl(
            old.Pnl(DEVNET, 201, "included", "USDT", 6, 9_000_000, 130_000 * 12 * GWEI, 0, 4_300_000, s1,
                    created_ms=next(t))
        )  # fmt: skip
        oid = j.record_order(
            old.Order("binance", "ETH/USDT", "db-v4-1", "buy", "limit", D("2"), D("3000.5"), "new",
                      strategy="cex_arb", details={"tif": "IOC"}, created_ms=next(t))
        )  # fmt: skip
        j.update_order(oid, "filled", venue_order_id="77001")
        j.record_fill(old.Fill(oid, D("3000.4"), D("1.5"), D("0.0015"), "ETH", "t-1", created_ms=next(t)))
        j.record_fill(old.Fill(oid, D("3000.5"), D("0.5"), D("0.0005"), "ETH", "t-2", created_ms=next(t)))
        j.record_strategy_pnl(
            old.StrategyPnl(DEVNET, "cex_arb", "USDT", 6, 2**70, "realized", 201, f"order:{oid}",
                            created_ms=next(t))
        )  # fmt: skip
        j.record_position(
            old.Position(1, 19_000_000, "aave_v3", "WETH", "loop", "0xacc0", 3 * ETHER, "WETH", 3 * ETHER,
                         3_000 * 10**8, created_ms=next(t))
        )  # fmt: skip
        j.record_send(old.Send(DEVNET, 205, "bundle", "0xb2", relay="local", created_ms=next(t)))  # pending
        j.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    with old.Journal(DB, create=False) as j:  # what the old code itself reports about the file
        expected = {
            "commit": OLD_COMMIT,
            "user_version": j.conn.execute("PRAGMA user_version").fetchone()[0],
            "trades": plain(j.trades()),
            "totals": plain(j.totals()),
            "sends": plain(j.sends()),
            "orders": plain(j.orders()),
            "fills": plain(j.fills()),
            "strategy_totals": plain(j.strategy_totals()),
            "positions": plain(j.positions()),
        }
    EXPECTED.write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")


def main() -> None:
    root = HERE.parent.parent
    archive = subprocess.run(
        ["git", "archive", "--format=tar", OLD_COMMIT, *OLD_FILES], cwd=root, check=True, capture_output=True
    ).stdout
    FIXTURES.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{DB}{suffix}").unlink(missing_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(tmp, filter="data")
        old_src = str(Path(tmp) / "src")
        env = {**os.environ, "PYTHONPATH": old_src, "OLD_SRC": old_src}
        subprocess.run([sys.executable, __file__, "--child"], env=env, check=True)
    print(f"wrote {DB} ({DB.stat().st_size} bytes) and {EXPECTED}")


if __name__ == "__main__":
    if sys.argv[1:] == ["--child"]:
        write_with_old_code()
    else:
        main()
