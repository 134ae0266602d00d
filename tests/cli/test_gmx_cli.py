"""`defibots gmx` on the Arbitrum replica with the devnet keeper + oracle service, run in-process through the
real entry point (`defibots.cli.main.run`, which maps a UserError to one stderr line and exit 2).

End to end: shadow open sends nothing; --execute opens a 5x long with a take profit and a stop loss, the
keeper executes it, a price move (POST /admin/prices) fires the take profit, `gmx positions` journals what
settled, and the journal's P&L equals the wallet's balance changes (gas included) and the execution
model's (chain/gmx/model_inputs + protocols/gmx_v2/execution), to the unit: the take profit predicted from
the chain's state before the keeper ran it, the open from the state before its keeper transaction. Bad
input is one error line, exit 2, nonce unchanged. A keeper-cancelled order shows its decoded reason and
is created at most --max-attempts times."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_abi import decode
from eth_utils import keccak
from hexbytes import HexBytes
from rich.console import Console

from defibots.chain.calldata import calldata
from defibots.chain.gmx import events as E
from defibots.chain.gmx.deployment import gmx_deployment
from defibots.chain.gmx.model_inputs import ModelInputs
from defibots.chain.gmx.orders import OrderType
from defibots.chain.gmx.reader import GmxReader, MarketProps
from defibots.chain.rpc import JsonRpc
from defibots.cli import gmx as gmx_cli
from defibots.cli.main import run
from defibots.devnet.gmx_service import GmxService, GmxServiceConfig, gmx_service
from defibots.devnet.node import Devnet
from defibots.execution.gmx_journal import STRATEGY
from defibots.journal import Journal
from defibots.protocols.gmx_v2 import execution as X
from defibots.protocols.gmx_v2.market import TokenPrices

pytestmark = pytest.mark.devnet

SIGNER = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"  # dev account 0, the default devnet signer
USDC = "0xaf88d065e77c8cC2239327C5EDb3A432268e5831"
D = gmx_deployment(31338)
EXECUTE_ORDER = "executeOrder(bytes32,(address[],address[],bytes[]))"


@pytest.fixture
def svc(arb_devnet: Devnet) -> Iterator[GmxService]:
    with gmx_service(GmxServiceConfig(arb_devnet.http_url, poll_seconds=0.1)) as service:
        yield service


@pytest.fixture
def manual_svc(arb_devnet: Devnet) -> Iterator[GmxService]:
    """The service with a keeper that never polls by itself: the test runs `step()` (or `keeper_polling`)."""
    with gmx_service(GmxServiceConfig(arb_devnet.http_url, poll_seconds=3600)) as service:
        yield service


@contextmanager
def keeper_polling(svc: GmxService, seconds: float = 0.1) -> Iterator[None]:
    """`svc.step()` every `seconds` on a thread while the block runs (for a CLI call that waits for the
    keeper); a failed step fails the test."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def poll() -> None:
        while not stop.wait(seconds):
            try:
                svc.step()
            except Exception as exc:
                errors.append(exc)
                return

    thread = threading.Thread(target=poll, name="test-keeper", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(30)
    assert not thread.is_alive() and not errors, errors


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DEFIBOTS_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("DEFIBOTS_GMX__BACKOFF_SECONDS", "0")
    monkeypatch.setattr(gmx_cli, "console", Console(width=250, force_terminal=False))
    return tmp_path


def gmx(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["defibots", "gmx", *args])
    code: int | str | None = 0
    try:
        run()
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return int(code or 0), out, err


def endpoints(devnet: Devnet, svc: GmxService) -> list[str]:
    return ["--rpc", devnet.http_url, "--oracle-url", svc.url]


def nonce(devnet: Devnet) -> int:
    return int(devnet.w3.eth.get_transaction_count(SIGNER))


def wallet(devnet: Devnet) -> tuple[int, int]:
    raw = devnet.w3.eth.call({"to": USDC, "data": calldata("balanceOf(address)", SIGNER)})  # type: ignore[typeddict-item]
    return int(devnet.w3.eth.get_balance(SIGNER)), int(decode(["uint256"], raw)[0])


def usdc_at(devnet: Devnet, block: int) -> int:
    raw = devnet.w3.eth.call({"to": USDC, "data": calldata("balanceOf(address)", SIGNER)}, block)  # type: ignore[typeddict-item]
    return int(decode(["uint256"], raw)[0])


def reader(devnet: Devnet) -> GmxReader:
    return GmxReader(devnet.w3, D.reader, D.data_store)


def model_inputs(devnet: Devnet) -> ModelInputs:
    return ModelInputs(JsonRpc(devnet.http_url), D.reader, D.data_store)


def oracle_prices(svc: GmxService, market: MarketProps) -> X.OraclePrices:
    """The keeper oracle's current prices of the market's tokens (what its next step executes at)."""

    def token(address: str) -> TokenPrices:
        p = svc.oracle.price(address)
        return TokenPrices(p.min, p.max)

    return X.OraclePrices(token(market.index_token), token(market.long_token), token(market.short_token))


@dataclass(frozen=True)
class KeeperExecution:
    """The keeper's executeOrder transaction in a block."""

    tx_hash: str  # 0x-less lowercase hex
    order_key: bytes
    prices: dict[str, TokenPrices]  # the oracle params it set, by lowercase token address
    timestamp: int

    def market_prices(self, market: MarketProps) -> X.OraclePrices:
        p = self.prices
        return X.OraclePrices(
            p[market.index_token.lower()], p[market.long_token.lower()], p[market.short_token.lower()]
        )


def keeper_execution(devnet: Devnet, svc: GmxService, block: int) -> KeeperExecution:
    blk: Any = devnet.w3.eth.get_block(block, full_transactions=True)
    (tx,) = blk["transactions"]
    data = bytes(tx["input"])
    assert data[:4] == keccak(text=EXECUTE_ORDER)[:4] and tx["to"] == svc.keeper.d["OrderHandler"]
    key, (tokens, _, blobs) = decode(["bytes32", "(address[],address[],bytes[])"], data[4:])
    prices = {
        t.lower(): TokenPrices(*decode(["uint256", "uint256"], b)) for t, b in zip(tokens, blobs, strict=True)
    }
    return KeeperExecution(bytes(tx["hash"]).hex(), key, prices, int(blk["timestamp"]))


def wait_until(check: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def set_price(svc: GmxService, symbol: str, usd: str) -> None:
    body = json.dumps({"symbol": symbol, "usd": usd}).encode()
    req = urllib.request.Request(f"{svc.url}/admin/prices", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as reply:
        assert reply.status == 200


OPEN = ["open", "--market", "ETH", "--long", "--collateral", "USDC:1000", "--leverage", "5"]


def test_open_execute_take_profit_end_to_end(
    arb_devnet: Devnet, manual_svc: GmxService, state: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    svc = manual_svc
    ep = endpoints(arb_devnet, svc)
    sent = nonce(arb_devnet)
    code, out, err = gmx(monkeypatch, capsys, *OPEN, "--tp", "3300", "--sl", "2700", *ep)
    assert code == 0, err
    assert "simulated, not sent" in out and "simulated approve USDC to the SyntheticsRouter: ok" in out
    assert "simulated ExchangeRouter.multicall (create orders): ok" in out
    assert nonce(arb_devnet) == sent  # shadow sends nothing

    eth_before, usdc_before = wallet(arb_devnet)
    with keeper_polling(svc):
        code, out, err = gmx(monkeypatch, capsys, *OPEN, "--tp", "3300", "--sl", "2700", "--execute", *ep)
    assert code == 0, err
    assert "outcome: executed" in out and "GMX V2 positions of" in out, out
    assert nonce(arb_devnet) == sent + 2  # approve, multicall
    (position,) = reader(arb_devnet).account_positions(SIGNER)
    assert position.is_long and position.size_in_usd > 4_999 * 10**30
    pending = reader(arb_devnet).account_orders(SIGNER)
    assert len(pending) == 2  # take profit and stop loss wait
    (tp_key,) = [o.key for o in pending if o.order_type is OrderType.LIMIT_DECREASE]

    # the model's take profit, predicted from the chain's state before the keeper runs it
    set_price(svc, "WETH", "3400")
    inputs = model_inputs(arb_devnet)
    before = arb_devnet.w3.eth.block_number
    props = reader(arb_devnet).market(position.market)
    market = inputs.market(props, before)
    ledger = inputs.ledger(market, before)
    open_position = inputs.position(position.key, before)
    take_profit = inputs.order(tp_key, before)
    prices = oracle_prices(svc, props)
    assert take_profit.order_type == X.LIMIT_DECREASE and open_position is not None
    assert X.trigger_reached(take_profit.order_type, True, take_profit.trigger_price, prices.index)
    svc.step()
    assert arb_devnet.w3.eth.block_number == before + 1  # one keeper transaction: the take profit
    tp_tx = keeper_execution(arb_devnet, svc, before + 1)
    assert tp_tx.order_key == tp_key and tp_tx.market_prices(props) == prices
    tp = X.execute_order(market.parameters, ledger, open_position, take_profit, prices, tp_tx.timestamp)
    assert tp.closed and tp.base_pnl_usd > 0
    assert usdc_at(arb_devnet, before + 1) - usdc_at(arb_devnet, before) == tp.output_amount  # to the unit
    assert inputs.ledger(market, before + 1) == tp.ledger
    assert reader(arb_devnet).account_positions(SIGNER) == []
    wait_until(lambda: reader(arb_devnet).account_orders(SIGNER) == [])
    code, out, err = gmx(monkeypatch, capsys, "positions", *ep)
    assert code == 0, err
    assert "journaled 2 order outcome(s)" in out and "no open GMX positions" in out

    eth_after, usdc_after = wallet(arb_devnet)
    with Journal(state / "journal.sqlite") as j:
        rows = {o.details["role"]: o for o in j.orders(venue="gmx_v2")}
        assert {role: o.status for role, o in rows.items()} == {
            "main": "filled", "take_profit": "filled", "stop_loss": "canceled"
        }  # fmt: skip
        (p,) = j.positions(protocol="gmx_v2")
        assert p.status == "closed"
        assert [s.status for s in j.position_history(p.id or 0)] == ["closed", "open"]
        fills = j.fills()
        assert len(fills) == 2 and all(f.fee > 0 for f in fills)  # opening and closing fees, in USDC
        (open_fill,) = j.fills(order_id=rows["main"].id)
        (tp_fill,) = j.fills(order_id=rows["take_profit"].id)
        totals: dict[str, int] = {}
        kinds = set()
        for e in j.strategy_pnl(strategy=STRATEGY):
            totals[e.token] = totals.get(e.token, 0) + e.amount
            kinds.add(e.kind)
    assert kinds == {"gas", "execution_fee", "execution_fee_refund", "deposit", "returned"}
    assert totals["ETH"] == eth_after - eth_before  # gas + execution fees - refunds, to the wei
    assert totals["USDC"] == usdc_after - usdc_before > 0  # the take profit's profit after GMX's fees

    # the open, predicted from the state before the keeper's transaction (it ran inside the CLI call)
    assert open_fill.venue_trade_id is not None and tp_fill.venue_trade_id is not None
    assert tp_fill.venue_trade_id.lower().removeprefix("0x") == tp_tx.tx_hash
    receipt: Any = arb_devnet.w3.eth.get_transaction_receipt(open_fill.venue_trade_id)  # type: ignore[arg-type]
    opened = int(receipt["blockNumber"])
    open_tx = keeper_execution(arb_devnet, svc, opened)
    main_order = inputs.order(open_tx.order_key, opened - 1)
    assert main_order.order_type == X.MARKET_INCREASE and inputs.position(position.key, opened - 1) is None
    increase = X.execute_order(
        market.parameters, inputs.ledger(market, opened - 1), None, main_order,
        open_tx.market_prices(props), open_tx.timestamp,
    )  # fmt: skip
    assert increase.position == open_position

    # the journal's fees and P&L are the model's, to the unit
    usdc = 10**6
    for fill, ex in ((open_fill, increase), (tp_fill, tp)):
        fees = ex.fees.position_fee_amount + ex.fees.borrowing_fee_amount + ex.fees.funding_fee_amount
        assert fill.fee * usdc == fees and fill.fee_currency == "USDC"
    deposited = main_order.initial_collateral_delta_amount
    assert deposited == 1_000 * usdc
    assert totals["USDC"] == tp.output_amount - deposited


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([*OPEN[:-1], "250"], "leverage 250 is above ETH's maximum 200x"),
        (["open", "--market", "DOGE", *OPEN[3:]], "unknown GMX market 'DOGE'"),
        ([*OPEN[:5], "USDC:0.5", *OPEN[6:]], "below GMX's minimum $1.00"),
        ([*OPEN, "--tp", "2900"], "take profit 2900 is on the wrong side for a long: it must be above"),
        ([*OPEN, "--sl", "3100"], "stop loss 3100 is on the wrong side for a long: it must be below"),
        ([*OPEN[:3], "--short", *OPEN[4:], "--tp", "3100"], "wrong side for a short: it must be below"),
        ([*OPEN[:-1], "x"], "leverage 'x' is not a number"),
        (["cancel", "0x1234"], "is not 0x + 64 hex digits"),
        (["cancel", "0x" + "ab" * 32, "--execute"], "is not a pending order of"),
        (["close", "--market", "ETH", "--execute"], "has no ETH long position"),
    ],
)  # fmt: skip
def test_bad_input_is_one_error_line_exit_2_nothing_sent(
    arb_devnet: Devnet, svc: GmxService, state: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], args: list[str], message: str,
) -> None:  # fmt: skip
    sent = nonce(arb_devnet)
    code, out, err = gmx(monkeypatch, capsys, *args, "--execute", *endpoints(arb_devnet, svc))
    assert code == 2, (out, err)
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err, err
    assert "Traceback" not in out + err
    assert nonce(arb_devnet) == sent


def test_unreachable_oracle_is_one_line(
    arb_devnet: Devnet, state: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = gmx(
        monkeypatch, capsys, *OPEN, "--rpc", arb_devnet.http_url, "--oracle-url", "http://127.0.0.1:9"
    )
    assert code == 2 and err.startswith("error: GMX oracle http://127.0.0.1:9/prices/tickers unreachable")
    assert err.count("\n") == 1


def test_keeper_cancel_shows_the_reason_and_retries_at_most_n_times(
    arb_devnet: Devnet, svc: GmxService, state: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    start = arb_devnet.w3.eth.block_number
    usdc_before = wallet(arb_devnet)[1]
    args = [*OPEN, "--slippage-bps", "0", "--max-attempts", "2", "--execute", *endpoints(arb_devnet, svc)]
    code, out, err = gmx(monkeypatch, capsys, *args)
    assert code == 1 and "ALERT" in err and err.count("\n") == 1
    attempts = [line for line in out.splitlines() if line.startswith("attempt ") and " cancelled: " in line]
    assert len(attempts) == 2, out
    assert all("cancelled: OrderNotFulfillableAtAcceptablePrice(price=" in line for line in attempts)
    assert "outcome: retries_exhausted" in out
    logs = arb_devnet.w3.eth.get_logs(
        {"address": D.event_emitter, "fromBlock": start + 1, "toBlock": "latest",
         "topics": [HexBytes(E.event_log_topics()["EventLog2"]), HexBytes(keccak(text="OrderCreated")),
                    None, HexBytes(bytes(12) + bytes.fromhex(SIGNER[2:]))]}
    )  # type: ignore[arg-type]  # fmt: skip
    assert len(logs) == 2
    assert wallet(arb_devnet)[1] == usdc_before  # both cancels refunded the collateral
    with Journal(state / "journal.sqlite") as j:
        assert any(e.kind == "retries_exhausted" for e in j.errors())


def test_cancel_a_pending_take_profit(
    arb_devnet: Devnet, svc: GmxService, state: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    ep = endpoints(arb_devnet, svc)
    code, out, err = gmx(monkeypatch, capsys, *OPEN, "--tp", "3500", "--execute", *ep)
    assert code == 0 and "outcome: executed" in out, err
    (tp,) = reader(arb_devnet).account_orders(SIGNER)
    key = "0x" + tp.key.hex()
    sent = nonce(arb_devnet)
    code, out, err = gmx(monkeypatch, capsys, "cancel", key, *ep)
    assert code == 0 and "simulated, not sent" in out and nonce(arb_devnet) == sent, err
    code, out, err = gmx(monkeypatch, capsys, "cancel", key, "--execute", *ep)
    assert code == 0, err
    assert reader(arb_devnet).account_orders(SIGNER) == [] and nonce(arb_devnet) == sent + 1
    code, out, err = gmx(monkeypatch, capsys, "close", "--market", "ETH", "--long", "--execute", *ep)
    assert code == 0 and "outcome: executed" in out, err
    assert reader(arb_devnet).account_positions(SIGNER) == []
    with Journal(state / "journal.sqlite") as j:
        statuses = {o.details["role"] + ":" + o.details["kind"]: o.status for o in j.orders(venue="gmx_v2")}
        assert statuses == {"main:open": "filled", "take_profit:open": "canceled", "main:close": "filled"}
        (p,) = j.positions(protocol="gmx_v2")
        assert p.status == "closed"


def test_markets_finds_the_oracle_in_the_devnet_state(
    arb_devnet: Devnet, svc: GmxService, state: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    info = {"pid": os.getpid(), "http_url": arb_devnet.http_url, "gmx_oracle_url": svc.url}
    (state / "devnet.json").write_text(json.dumps(info))
    code, out, err = gmx(monkeypatch, capsys, "markets")
    assert code == 0, err
    rows = [line for line in out.splitlines() if line.strip().startswith(("│ ETH", "│ BTC", "ETH", "BTC"))]
    assert len(rows) == 2, out
    assert all("200x" in r for r in rows) and "3,000.00" in rows[0] and "WETH/USDC" in rows[0]
