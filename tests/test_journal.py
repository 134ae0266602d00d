"""Journal round trips (ints beyond 64 bits included) and `defibots history` totals, to the wei."""

from decimal import Decimal as D
from pathlib import Path

import pytest
from typer.testing import CliRunner

from defibots.cli.main import app
from defibots.errors import UserError
from defibots.journal import (
    CexSignal,
    ErrorRecord,
    Journal,
    OpportunityRecord,
    Pnl,
    Receipt,
    Send,
    Simulation,
    format_units,
)

ETHER = 10**18
GWEI = 10**9
CHAIN = 31337


def fill(j: Journal) -> None:
    """Four trades: included, reverted, not included, pending."""
    o1 = j.record_opportunity(
        OpportunityRecord(CHAIN, 100, "amm_arb", "WETH>USDC>WETH", "WETH", 18, 10 * ETHER, ETHER // 20)
    )
    j.record_simulation(Simulation(CHAIN, 100, "eth_call", True, 150_000, ETHER // 20, opportunity_id=o1))
    s1 = j.record_send(
        Send(CHAIN, 101, "bundle", "0xb1", o1, "local", ("0xt1",), builder_payment=ETHER // 100)
    )
    j.record_receipt(Receipt(CHAIN, 101, "0xt1", 1, 150_000, 20 * GWEI, send_id=s1))
    j.record_pnl(
        Pnl(
            CHAIN,
            101,
            "included",
            "WETH",
            18,
            ETHER // 20,
            3 * ETHER // 1000,
            ETHER // 100,
            37 * ETHER // 1000,
            send_id=s1,
        )
    )

    o2 = j.record_opportunity(
        OpportunityRecord(CHAIN, 105, "amm_arb", "WETH>DAI>WETH", "WETH", 18, 5 * ETHER, 10**16)
    )
    s2 = j.record_send(Send(CHAIN, 106, "public_tx", "0xt2", o2, tx_hashes=("0xt2",)))
    j.record_receipt(Receipt(CHAIN, 106, "0xt2", 0, 60_000, 25 * GWEI, send_id=s2))
    j.record_pnl(Pnl(CHAIN, 106, "reverted", "WETH", 18, 0, 15 * 10**14, 0, -15 * 10**14, send_id=s2))

    o3 = j.record_opportunity(
        OpportunityRecord(CHAIN, 110, "backrun", "WETH>WBTC>WETH", "WETH", 18, 20 * ETHER, 10**16)
    )
    s3 = j.record_send(Send(CHAIN, 111, "bundle", "0xb3", o3, builder_payment=ETHER // 200))
    j.record_pnl(Pnl(CHAIN, 111, "not_included", "WETH", 18, 0, 0, 0, 0, send_id=s3))

    o4 = j.record_opportunity(
        OpportunityRecord(CHAIN, 120, "amm_arb", "WETH>USDT>WETH", "WETH", 18, ETHER, 10**15)
    )
    j.record_send(Send(CHAIN, 121, "bundle", "0xb4", o4, builder_payment=7 * 10**14))


def test_round_trip_of_every_record(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite") as j:
        assert j.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        huge = 2**200 + 12345  # far past SQLite's 64-bit INTEGER
        oid = j.record_opportunity(
            OpportunityRecord(
                1, 19_000_000, "amm_arb", "WETH>USDC>WETH", "WETH", 18, 2**100, huge, {"pools": ["0xB4e1"]}
            )
        )
        j.record_simulation(
            Simulation(1, 19_000_000, "eth_simulateV1", False, 21_000, -huge, oid, "reverted: K")
        )
        sid = j.record_send(Send(1, 19_000_001, "bundle", "0xabc", oid, "flashbots", ("0x1", "0x2"), 2**70))
        j.record_receipt(Receipt(1, 19_000_001, "0x1", 1, 123_456, 31 * GWEI, sid))
        j.record_pnl(Pnl(1, 19_000_001, "included", "WETH", 18, huge, 1, 2, huge - 3, sid))
        j.record_cex_signal(
            CexSignal(
                1,
                19_000_000,
                "binance",
                "ETH/USDT",
                D("3000.01"),
                D("3000.03"),
                D("3001.5"),
                D("4.9"),
                {"depth": 5},
            )
        )
        j.record_error(ErrorRecord("mempool", "malformed_tx", "bad rlp", "0xdead", 1, 19_000_000))

    with Journal(tmp_path / "j.sqlite", create=False) as j:  # a second process's view
        (o,) = j.opportunities()
        assert (o.id, o.amount_in, o.expected_profit, o.details) == (oid, 2**100, huge, {"pools": ["0xB4e1"]})
        (s,) = j.simulations(chain_id=1)
        assert (s.success, s.profit, s.error, s.opportunity_id) == (False, -huge, "reverted: K", oid)
        (send,) = j.sends()
        assert (send.tx_hashes, send.builder_payment, send.block_number) == (
            ("0x1", "0x2"),
            2**70,
            19_000_001,
        )
        (r,) = j.receipts()
        assert (r.gas_used, r.effective_gas_price, r.send_id) == (123_456, 31 * GWEI, sid)
        (p,) = j.pnl()
        assert (p.gross_profit, p.net_profit, p.status) == (huge, huge - 3, "included")
        (c,) = j.cex_signals()
        assert (c.bid, c.ask, c.dex_price, c.edge_bps, c.details) == (
            D("3000.01"),
            D("3000.03"),
            D("3001.5"),
            D("4.9"),
            {"depth": 5},
        )
        (e,) = j.errors()
        assert (e.source, e.kind, e.payload, e.block_number) == (
            "mempool",
            "malformed_tx",
            "0xdead",
            19_000_000,
        )
        assert j.opportunities(chain_id=CHAIN) == []


def test_trades_totals_and_error_counts(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite") as j:
        fill(j)
        for kind in ("malformed_tx", "malformed_tx", "timeout"):
            j.record_error(
                ErrorRecord("mempool" if kind != "timeout" else "relay", kind, "x", chain_id=CHAIN)
            )
        trades = j.trades()
        assert [(t.block_number, t.status, t.gas_used) for t in trades] == [
            (121, "pending", 0),
            (111, "not_included", 0),
            (106, "reverted", 60_000),
            (101, "included", 150_000),
        ]
        assert trades[0].promised_payment == 7 * 10**14 and trades[0].builder_payment == 0
        (total,) = j.totals()
        assert (total.base_token, total.trades, total.included) == ("WETH", 4, 1)
        assert total.gas_cost == 3 * ETHER // 1000 + 15 * 10**14
        assert total.fees == 145 * 10**14
        assert total.net_profit == 355 * 10**14
        assert total.capital == 10 * ETHER
        assert total.return_pct == D("0.355")
        assert j.error_counts() == {("mempool", "malformed_tx"): 2, ("relay", "timeout"): 1}
        with pytest.raises(ValueError, match="status"):
            j.record_pnl(Pnl(CHAIN, 1, "won", "WETH", 18, 0, 0, 0, 0))


def test_format_units() -> None:
    assert format_units(355 * 10**14, 18) == "0.0355"
    assert format_units(-15 * 10**14, 18) == "-0.0015"
    assert format_units(10**18, 18) == "1"
    assert format_units(1234567, 6) == "1.234567"
    assert format_units(0, 6) == "0"


def test_history_command_prints_trades_and_exact_totals(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "journal.sqlite"
    with Journal(path) as j:
        fill(j)
    runner = CliRunner()
    result = runner.invoke(app, ["history", "--journal", str(path), "--limit", "2"])
    assert result.exit_code == 0, result.output
    assert "Last 2 trades" in result.output
    assert "not_included" in result.output and "pending" in result.output
    assert "WETH>DAI>WETH" not in result.output  # only the 2 newest rows are listed ...
    totals = (
        "WETH: trades 4 (included 1, reverted 1) | fees 0.0145 ETH (gas 0.0045, builder 0.01)"
        " | P&L 0.0355 WETH | return 0.3550%"
    )
    assert totals in result.output  # ... but the totals cover the whole journal

    monkeypatch.setenv("DEFIBOTS_JOURNAL_PATH", str(path))  # settings.journal_path is the default
    result = runner.invoke(app, ["history"])
    assert result.exit_code == 0 and totals in result.output and "150,000" in result.output


def test_history_without_a_journal_is_a_user_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEFIBOTS_JOURNAL_PATH", raising=False)
    monkeypatch.setenv("DEFIBOTS_STATE_DIR", str(tmp_path))
    result = CliRunner().invoke(app, ["history"])
    assert isinstance(result.exception, UserError)
    assert str(result.exception) == f"no journal at {tmp_path / 'journal.sqlite'}"
