"""Write tests/journal/fixtures/journal_v1.sqlite with the journal code of commit 54bb31d (schema 1), and
next to it the old code's own query results (journal_v1.expected.json), so the migration test compares
today's reading of an upgraded file with what the old code said about the same file.

Run from the repository root (needs git, reads the old module with `git show`; changes nothing in git):

    .venv/bin/python tests/journal/make_v1_fixture.py
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import types
from decimal import Decimal
from pathlib import Path
from typing import Any

OLD_COMMIT = "54bb31d"
HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures"
DB = FIXTURES / "journal_v1.sqlite"
EXPECTED = FIXTURES / "journal_v1.expected.json"

ETHER = 10**18
GWEI = 10**9
DEVNET, MAINNET = 31337, 1
T0 = 1_717_000_000_000  # fixed created_ms, so a regenerated file has the same rows


def load_old_journal() -> types.ModuleType:
    """The journal module exactly as commit 54bb31d had it, under a private module name."""
    root = HERE.parent.parent
    source = subprocess.run(
        ["git", "show", f"{OLD_COMMIT}:src/defibots/journal.py"],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    module = types.ModuleType("old_journal_54bb31d")
    sys.modules[module.__name__] = module  # dataclasses look their module up while building classes
    exec(compile(source, f"{OLD_COMMIT}:journal.py", "exec"), module.__dict__)
    return module


def record_rows(old: Any, j: Any) -> None:
    """A realistic mix on two chains: included, reverted, not included and pending trades, with their
    opportunities, simulations, receipts, a replaced public tx, CEX signals and errors."""
    t = iter(range(T0, T0 + 1_000_000, 1_000))
    # devnet: an included bundle, >64-bit amounts in its opportunity details and simulation
    o1 = j.record_opportunity(
        old.Opportunity(
            DEVNET,
            100,
            "amm_arb",
            "WETH>USDC>WETH v2:0xB4e1,v3-500:0x88e6",
            "WETH",
            18,
            10 * ETHER,
            ETHER // 20,
            {"pools": ["0xB4e1", "0x88e6"], "k": 2**130},
            created_ms=next(t),
        )
    )
    j.record_simulation(
        old.Simulation(DEVNET, 100, "eth_call", True, 150_000, ETHER // 20, o1, created_ms=next(t))
    )
    s1 = j.record_send(
        old.Send(DEVNET, 101, "bundle", "0xb1", o1, "local", ("0xt1",), ETHER // 100, created_ms=next(t))
    )
    j.record_receipt(old.Receipt(DEVNET, 101, "0xt1", 1, 150_000, 20 * GWEI, s1, created_ms=next(t)))
    j.record_pnl(
        old.Pnl(
            DEVNET,
            101,
            "included",
            "WETH",
            18,
            ETHER // 20,
            3 * ETHER // 1000,
            ETHER // 100,
            37 * ETHER // 1000,
            s1,
            created_ms=next(t),
        )
    )

    # devnet: a public tx that reverted (P&L is minus its gas)
    o2 = j.record_opportunity(
        old.Opportunity(
            DEVNET, 105, "amm_arb", "WETH>DAI>WETH", "WETH", 18, 5 * ETHER, 10**16, created_ms=next(t)
        )
    )
    j.record_simulation(old.Simulation(DEVNET, 105, "eth_call", True, 61_000, 10**16, o2, created_ms=next(t)))
    # a replacement at the same nonce: both hashes on one send
    s2 = j.record_send(
        old.Send(DEVNET, 106, "public_tx", "0xt2", o2, tx_hashes=("0xt2", "0xt2b"), created_ms=next(t))
    )
    j.record_receipt(old.Receipt(DEVNET, 106, "0xt2b", 0, 60_000, 25 * GWEI, s2, created_ms=next(t)))
    j.record_pnl(
        old.Pnl(DEVNET, 106, "reverted", "WETH", 18, 0, 15 * 10**14, 0, -15 * 10**14, s2, created_ms=next(t))
    )

    # devnet: a failed simulation that was never sent, and a bundle that was not included
    o3 = j.record_opportunity(
        old.Opportunity(
            DEVNET, 108, "backrun", "WETH>WBTC>WETH", "WETH", 18, 20 * ETHER, 10**16, created_ms=next(t)
        )
    )
    j.record_simulation(
        old.Simulation(
            DEVNET, 108, "eth_simulateV1", False, 21_000, -(2**70), o3, "reverted: K", created_ms=next(t)
        )
    )
    o4 = j.record_opportunity(
        old.Opportunity(
            DEVNET, 110, "backrun", "WETH>WBTC>WETH", "WETH", 18, 20 * ETHER, 10**16, created_ms=next(t)
        )
    )
    s4 = j.record_send(
        old.Send(
            DEVNET, 111, "bundle", "0xb4", o4, "flashbots", builder_payment=ETHER // 200, created_ms=next(t)
        )
    )
    j.record_pnl(old.Pnl(DEVNET, 111, "not_included", "WETH", 18, 0, 0, 0, 0, s4, created_ms=next(t)))

    # mainnet fork: a USDC-based trade, included (6 decimals), and one still pending
    o5 = j.record_opportunity(
        old.Opportunity(
            MAINNET,
            19_000_000,
            "amm_arb",
            "USDC>WETH>USDC",
            "USDC",
            6,
            50_000 * 10**6,
            120 * 10**6,
            created_ms=next(t),
        )
    )
    j.record_simulation(
        old.Simulation(MAINNET, 19_000_000, "relay", True, 180_000, 120 * 10**6, o5, created_ms=next(t))
    )
    s5 = j.record_send(
        old.Send(
            MAINNET,
            19_000_001,
            "bundle",
            "0xb5",
            o5,
            "flashbots",
            ("0xt5a", "0xt5b"),
            2 * 10**16,
            created_ms=next(t),
        )
    )
    j.record_receipt(old.Receipt(MAINNET, 19_000_001, "0xt5a", 1, 110_000, 31 * GWEI, s5, created_ms=next(t)))
    j.record_receipt(old.Receipt(MAINNET, 19_000_001, "0xt5b", 1, 70_000, 31 * GWEI, s5, created_ms=next(t)))
    j.record_pnl(
        old.Pnl(
            MAINNET,
            19_000_001,
            "included",
            "USDC",
            6,
            120 * 10**6,
            180_000 * 31 * GWEI,
            2 * 10**16,
            61_234_567,
            s5,
            created_ms=next(t),
        )
    )
    o6 = j.record_opportunity(
        old.Opportunity(
            MAINNET,
            19_000_010,
            "amm_arb",
            "USDC>DAI>USDC",
            "USDC",
            6,
            10_000 * 10**6,
            5 * 10**6,
            created_ms=next(t),
        )
    )
    j.record_send(
        old.Send(
            MAINNET,
            19_000_011,
            "bundle",
            "0xb6",
            o6,
            "flashbots",
            builder_payment=7 * 10**14,
            created_ms=next(t),
        )
    )  # pending: no receipt, no P&L yet

    j.record_cex_signal(
        old.CexSignal(
            DEVNET,
            100,
            "binance",
            "ETH/USDT",
            Decimal("3000.01"),
            Decimal("3000.03"),
            Decimal("3001.5"),
            Decimal("4.9"),
            {"depth": 5},
            created_ms=next(t),
        )
    )
    j.record_cex_signal(
        old.CexSignal(
            MAINNET, 19_000_000, "bybit", "BTC/USDT", Decimal("60000.5"), Decimal("60001"), created_ms=next(t)
        )
    )
    j.record_error(
        old.ErrorRecord("mempool", "malformed_tx", "bad rlp", "0xdead", DEVNET, 100, created_ms=next(t))
    )
    j.record_error(
        old.ErrorRecord("mempool", "malformed_tx", "bad rlp", "0xbeef", DEVNET, 101, created_ms=next(t))
    )
    j.record_error(old.ErrorRecord("relay", "timeout", "no answer in 2 s", created_ms=next(t)))


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


def main() -> None:
    old = load_old_journal()
    assert old.SCHEMA_VERSION == 1, old.SCHEMA_VERSION
    FIXTURES.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{DB}{suffix}").unlink(missing_ok=True)
    with old.Journal(DB) as j:
        record_rows(old, j)
        j.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    with old.Journal(DB, create=False) as j:  # what the old code itself reports about the file
        expected = {
            "commit": OLD_COMMIT,
            "user_version": j.conn.execute("PRAGMA user_version").fetchone()[0],
            "trades": plain(j.trades()),
            "totals": plain(j.totals()),
            "trades_by_chain": {str(c): plain(j.trades(chain_id=c)) for c in (DEVNET, MAINNET)},
            "totals_by_chain": {str(c): plain(j.totals(chain_id=c)) for c in (DEVNET, MAINNET)},
            "opportunities": plain(j.opportunities()),
            "simulations": plain(j.simulations()),
            "sends": plain(j.sends()),
            "receipts": plain(j.receipts()),
            "pnl": plain(j.pnl()),
            "cex_signals": plain(j.cex_signals()),
            "errors": plain(j.errors()),
            "error_counts": [[s, k, n] for (s, k), n in j.error_counts().items()],
        }
    EXPECTED.write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")
    print(f"wrote {DB} ({DB.stat().st_size} bytes) and {EXPECTED}")


if __name__ == "__main__":
    main()
