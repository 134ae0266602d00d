"""Leveraged Aave loops, one step at a time: plan on the exact models, simulate the real transaction, and
only then (with --execute) send it and journal it.

The loop's contract is the Aave account: one AaveLoop per (chain, owner), remembered in the state dir's
`aave_loops.json` once deployed. Before the first open, the plan simulates the deployment too, so shadow
mode works on a fresh chain.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from web3 import HTTPProvider, Web3
from web3.types import TxReceipt

from defibots.chain.aave_addresses import aave_v3_ethereum
from defibots.chain.pool_discovery import discover_pools
from defibots.chain.pool_loader import load_pools
from defibots.chain.rpc import JsonRpc
from defibots.errors import UserError
from defibots.execution.aave_loop import AaveLoopClient, StepSimulation
from defibots.journal import Journal, Position, PositionSnapshot, Receipt, Send, StrategyPnl
from defibots.paths import state_dir
from defibots.protocols.leverage_loop import (
    Holdings,
    LoopMarket,
    LoopStep,
    check_target_health_factor,
    leverage,
    plan_adjust,
    plan_close,
    plan_open,
)

STRATEGY = "aave_loop"
REGISTRY = "aave_loops.json"
TRANSFER_TOPIC = keccak(text="Transfer(address,address,uint256)")


@dataclass(frozen=True)
class Planned:
    step: LoopStep
    market: LoopMarket
    before: Holdings
    simulation: StepSimulation
    wallet_before: tuple[int, int]
    """The owner's collateral and debt-token balances before the step."""

    @property
    def returned(self) -> tuple[int, int]:
        """What the step moves into (+) or out of (-) the owner's wallet, per the simulation."""
        sim = self.simulation
        return sim.owner_collateral - self.wallet_before[0], sim.owner_debt - self.wallet_before[1]

    @property
    def leverage_after(self) -> Decimal:
        return leverage(self.market, self.simulation.holdings)


@dataclass(frozen=True)
class Executed:
    planned: Planned
    receipts: list[TxReceipt]
    holdings: Holdings
    health_factor: int
    block_number: int
    timestamp: int


def pool_flow(logs: list[Any], token: str, holder: str, pool: str) -> int:
    """`holder`'s net `token` received from (+) or paid to (-) `pool` within one receipt's Transfer logs."""
    token, pool = token.lower(), pool.lower()
    flow = 0
    for entry in logs:
        topics = [bytes(t) for t in entry["topics"]]
        if str(entry["address"]).lower() != token or len(topics) != 3 or topics[0] != TRANSFER_TOPIC:
            continue
        sender, recipient = ("0x" + t[12:].hex() for t in topics[1:])
        amount = int.from_bytes(bytes(entry["data"]), "big")
        if sender == pool and recipient == holder.lower():
            flow += amount
        elif sender == holder.lower() and recipient == pool:
            flow -= amount
    return flow


def _registry(chain_id: int) -> tuple[Path, dict[str, dict[str, str]]]:
    path = state_dir() / REGISTRY
    data: dict[str, dict[str, str]] = json.loads(path.read_text()) if path.is_file() else {}
    return path, data


class LoopOperator:
    """One owner's loop on one chain: plan, simulate, execute, journal."""

    def __init__(
        self, rpc_url: str, signer: LocalAccount, journal_path: Path, expected_chain_id: int | None = None
    ) -> None:
        self.chain_id = self.chain_id_of(rpc_url)
        self.w3 = Web3(HTTPProvider(rpc_url, request_kwargs={"timeout": 30}))
        self.rpc = JsonRpc(rpc_url)
        if expected_chain_id is not None and self.chain_id != expected_chain_id:
            raise UserError(f"RPC serves chain {self.chain_id}, expected {expected_chain_id}")
        self.signer = signer
        self.journal_path = journal_path
        market = aave_v3_ethereum()
        if not self.w3.eth.get_code(market.pool):
            raise UserError(f"no Aave Pool at {market.pool} on chain {self.chain_id}")
        _, known = _registry(self.chain_id)
        address = known.get(str(self.chain_id), {}).get(signer.address)
        self.client = (
            AaveLoopClient(self.w3, address, signer, market)
            if address and self.w3.eth.get_code(Web3.to_checksum_address(address))
            else AaveLoopClient.undeployed(self.w3, signer, market)
        )

    @staticmethod
    def chain_id_of(rpc_url: str) -> int:
        """The served chain id (one error line when the node cannot be reached)."""
        return int(JsonRpc(rpc_url).call("eth_chainId"), 16)

    @property
    def deployed(self) -> bool:
        return not self.client.deploy_first

    def _markets(self, collateral: str, debt: str) -> list[LoopMarket]:
        c, d = self.client.asset(collateral), self.client.asset(debt)
        refs = discover_pools(self.rpc, [c.address, d.address])
        if not refs:
            raise UserError(f"no Uniswap pool between {c.symbol} and {d.symbol} to swap through")
        pools = load_pools(self.rpc, refs)
        return [self.client.loop_market(collateral, debt, pool) for pool in pools.values()]

    def _best(self, candidates: list[tuple[LoopStep, LoopMarket]]) -> tuple[LoopStep, LoopMarket]:
        """The pool whose swap needs the least input for what the step must buy."""
        return min(candidates, key=lambda c: c[0].swap_in)

    def plan_open(
        self,
        collateral: str,
        debt: str,
        deposit: Decimal,
        target: Decimal,
        min_hf: Decimal,
        slippage_bps: int,
        timestamp: int | None = None,
    ) -> Planned:
        check_target_health_factor(min_hf)
        markets = self._markets(collateral, debt)
        units = int(deposit * Decimal(10) ** markets[0].collateral.decimals)
        if units <= 0:
            raise UserError("the deposit must be positive")
        step, market = self._best([(plan_open(m, units, target, min_hf, slippage_bps), m) for m in markets])
        return self._simulate(step, market, timestamp)

    def plan_adjust(
        self,
        collateral: str,
        debt: str,
        target: Decimal,
        min_hf: Decimal,
        slippage_bps: int,
        timestamp: int | None = None,
    ) -> Planned:
        check_target_health_factor(min_hf)
        self._need_position()
        markets = self._markets(collateral, debt)
        holdings = self.client.holdings(markets[0])
        steps = [(plan_adjust(m, holdings, target, min_hf, slippage_bps), m) for m in markets]
        step, market = self._best(steps)
        return self._simulate(step, market, timestamp)

    def plan_close(
        self, collateral: str, debt: str, slippage_bps: int, timestamp: int | None = None
    ) -> Planned:
        self._need_position()
        markets = self._markets(collateral, debt)
        holdings = self.client.holdings(markets[0])
        step, market = self._best([(plan_close(m, holdings, slippage_bps), m) for m in markets])
        return self._simulate(step, market, timestamp)

    def _need_position(self) -> None:
        if not self.deployed:
            raise UserError(
                f"no Aave loop for {self.signer.address} on chain {self.chain_id}: open one first"
            )

    def _simulate(self, step: LoopStep, market: LoopMarket, timestamp: int | None = None) -> Planned:
        """Simulate in a block at `timestamp` (default: one second after the latest block)."""
        before = Holdings(0, 0) if not self.deployed else self.client.holdings(market)
        if timestamp is None:
            timestamp = int(self.w3.eth.get_block("latest")["timestamp"]) + 1
        wallet = (self.client.wallet(market.collateral.address), self.client.wallet(market.debt.address))
        simulation = self.client.simulate(market, step, timestamp)
        if not simulation.ok:
            raise UserError(f"the {step.kind} simulation reverted: {simulation.error}")
        return Planned(step, market, before, simulation, wallet)

    def prepare(self, planned: Planned) -> list[TxReceipt]:
        """Send the deployment and the approval a step needs (they were simulated with it)."""
        deploying = not self.deployed
        receipts = self.client.send(self.client.preparation(planned.step), "preparation")
        if deploying:
            self._remember()
        return receipts

    def execute(self, planned: Planned) -> Executed:
        """Send the simulated step, then journal each transaction and the position after it.

        A step that still needs preparation is re-simulated after it: what is sent alone was simulated alone.
        """
        prepared = self.prepare(planned)
        if prepared:
            planned = self._simulate(planned.step, planned.market)
        step_call = [(self.client.address, self.client.step_call(planned.step))]
        receipts = prepared + self.client.send(step_call, planned.step.kind)
        last = receipts[-1]
        block = int(last["blockNumber"])
        holdings = self.client.holdings(planned.market, block)
        account = self.client.account(block)
        timestamp = int(self.w3.eth.get_block(block)["timestamp"])
        done = Executed(planned, receipts, holdings, account.health_factor, block, timestamp)
        self._journal(done)
        return done

    def _remember(self) -> None:
        path, data = _registry(self.chain_id)
        data.setdefault(str(self.chain_id), {})[self.signer.address] = self.client.address
        path.write_text(json.dumps(data, indent=2))

    def _journal(self, done: Executed) -> None:
        step, market = done.planned.step, done.planned.market
        c, d = market.collateral, market.debt
        ref = f"{step.kind}:{self.client.address}"
        with Journal(self.journal_path) as journal:

            def pnl(symbol: str, decimals: int, amount: int, kind: str, at: str = ref) -> None:
                entry = StrategyPnl(
                    self.chain_id, STRATEGY, symbol, decimals, amount, kind, done.block_number, at
                )
                journal.record_strategy_pnl(entry)

            for r in done.receipts:
                tx, block = r["transactionHash"].to_0x_hex(), int(r["blockNumber"])
                send_id = journal.record_send(Send(self.chain_id, block, "public_tx", tx))
                gas, price = int(r["gasUsed"]), int(r["effectiveGasPrice"])
                journal.record_receipt(
                    Receipt(self.chain_id, block, tx, int(r["status"]), gas, price, send_id)
                )
                pnl("ETH", 18, -gas * price, "gas", f"send:{send_id}")
            flash_token = c if step.kind in ("open", "boost") else d
            premium = step.min_out - step.flash_amount
            pnl(flash_token.symbol, flash_token.decimals, -premium, "flash_premium")
            if step.kind in ("open", "close"):
                for asset, amount in zip((c, d), done.planned.returned, strict=True):
                    if amount:
                        pnl(asset.symbol, asset.decimals, amount, "deposit" if amount < 0 else "returned")
            position_id = self._position(journal, done)
            previous = journal.position_history(position_id, limit=1)
            held_before = (previous[0].collateral, -previous[0].debt) if previous else (0, 0)
            held_after = (done.holdings.collateral, -done.holdings.debt)
            logs = list(done.receipts[-1]["logs"])
            for i, asset in enumerate((c, d)):
                swap = pool_flow(logs, asset.address, self.client.address, market.pool.address)
                pnl(asset.symbol, asset.decimals, swap, "swap")
                # what moved between the loop and Aave, and what Aave's indexes added on top of it
                from_aave = done.planned.returned[i] - swap
                paid = premium if asset is flash_token else 0
                interest = held_after[i] - held_before[i] + from_aave + paid
                if interest:
                    pnl(asset.symbol, asset.decimals, interest, "interest")
            status = "closed" if step.kind == "close" else "open"
            h = done.holdings
            journal.record_position_snapshot(
                PositionSnapshot(
                    position_id, self.chain_id, done.block_number, h.collateral, h.collateral, h.debt,
                    c.price, status, done.health_factor,
                )
            )  # fmt: skip

    def _position(self, journal: Journal, done: Executed) -> int:
        c, d = done.planned.market.collateral, done.planned.market.debt
        key = self.client.address
        for p in journal.positions(chain_id=self.chain_id, status="open", protocol="aave_v3"):
            if p.key == key and p.id is not None:
                return p.id
        h, deposit = done.holdings, done.planned.step.deposit
        return journal.record_position(
            Position(
                self.chain_id, done.block_number, "aave_v3", c.address, "loop", key, h.collateral, c.address,
                deposit, c.price, d.address, h.debt, strategy=STRATEGY,
                details={"collateral": c.symbol, "debt": d.symbol},
            )
        )  # fmt: skip
