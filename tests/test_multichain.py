"""Several chains in one process: amm_arb on two devnets with different chain ids (the replica, and a
second replica restored under another id), one event loop, one journal; every row carries its own chain
and `history --chain-id` shows each chain's records apart."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from defibots.chain.addresses import DEVNET, MAINNET_BOOK, TOKENS, UNISWAP_V2_ROUTER02, address_book
from defibots.chain.calldata import calldata
from defibots.config import ArbSettings
from defibots.devnet.node import Devnet, DevnetOptions
from defibots.devnet.noise import MarketNoise
from defibots.errors import UserError
from defibots.execution.executor_client import ExecutorClient
from defibots.jobs.runner import JobConfig, StrategyJob, run_jobs
from defibots.journal import Journal
from defibots.strategies.registry import discover

CLI = [sys.executable, "-m", "defibots.cli.main"]
SECOND_CHAIN = 31339  # neither the mainnet replica's id nor the Arbitrum replica's (31338)
WETH, USDC = TOKENS["WETH"].address, TOKENS["USDC"].address


@pytest.fixture(scope="module")
def second() -> Iterator[Devnet]:
    """The replica again, under another chain id (its state cache does not depend on the id)."""
    with Devnet.start(DevnetOptions(chain_id=SECOND_CHAIN)) as node:
        yield node


def swap_weth_into_v2(devnet: Devnet, weth: int) -> int:
    """`weth` WETH into the V2 WETH/USDC pair through the router, mined: a standing imbalance; its block."""
    trader = devnet.accounts[2]
    noise = MarketNoise(devnet.http_url, [trader], seed=1)
    noise.approve_routers()
    data = calldata("swapExactTokensForTokens(uint256,uint256,address[],address,uint256)",
                    weth, 0, [WETH, USDC], trader.address, 2**40)  # fmt: skip
    (receipt,) = noise.wait_mined([noise.send(trader, UNISWAP_V2_ROUTER02, data)])
    assert receipt["status"] == "0x1"
    return int(receipt["blockNumber"], 16)


def deploy_executor(devnet: Devnet) -> str:
    searcher = devnet.accounts[0]
    client, _ = ExecutorClient.deploy(devnet.w3, searcher, searcher.address)
    return client.address


def cli(tmp: Path, *args: str, config: str = "", **env_vars: str) -> subprocess.CompletedProcess[str]:
    (tmp / "defibots.toml").write_text(config)
    env = dict(os.environ, DEFIBOTS_STATE_DIR=str(tmp / "state"), COLUMNS="200", **env_vars)
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, cwd=tmp, timeout=120)


def test_address_books_per_chain() -> None:
    assert address_book(1) is address_book(DEVNET) is address_book(name="mainnet") is MAINNET_BOOK
    assert MAINNET_BOOK.token("usdc") is TOKENS["USDC"]
    with pytest.raises(UserError, match=r"^no address book for chain 31339: set address_book"):
        address_book(SECOND_CHAIN)
    with pytest.raises(UserError, match=r"^unknown address book 'optimism' \(known: mainnet, arbitrum\)$"):
        address_book(SECOND_CHAIN, "optimism")


def test_amm_arb_on_two_chains_in_one_loop_and_one_journal(
    devnet: Devnet, second: Devnet, tmp_path: Path
) -> None:
    assert (devnet.chain_id, second.chain_id) == (DEVNET, SECOND_CHAIN)
    spec = discover().get("amm_arb")
    settings = spec.parse_settings({"tokens": ["WETH", "USDC", "USDT"], "max_hops": 2})
    assert isinstance(settings, ArbSettings)
    journal_path = tmp_path / "journal.sqlite"
    blocks, jobs = {}, []
    for node, weth, book in ((devnet, 300, None), (second, 120, "mainnet")):
        executor = deploy_executor(node)
        blocks[node.chain_id] = swap_weth_into_v2(node, weth * 10**18)
        config = JobConfig(
            rpc_url=node.http_url, ws_url=None, journal_path=journal_path, expected_chain_id=node.chain_id,
            executor=executor, address_book=book,
        )  # fmt: skip
        jobs.append(StrategyJob(spec, settings, config, node.accounts[0]))
    asyncio.run(run_jobs(jobs, 3))
    assert all(job.engine.stats().events_total > 0 for job in jobs)
    with Journal(journal_path) as journal:
        opportunities, simulations = journal.opportunities(), journal.simulations()
        assert journal.sends() == []  # shadow: simulated, never sent
    assert sorted(o.chain_id for o in opportunities) == [DEVNET, SECOND_CHAIN]
    assert sorted(s.chain_id for s in simulations) == [DEVNET, SECOND_CHAIN]
    profits = {}
    for sim in simulations:
        (opp,) = [o for o in opportunities if o.chain_id == sim.chain_id]
        assert sim.success and sim.block_number == opp.block_number == blocks[sim.chain_id]
        assert sim.profit == int(opp.details["gross_profit"]) > 0
        profits[sim.chain_id] = sim.profit
    assert profits[DEVNET] > profits[SECOND_CHAIN]  # the bigger swap left the bigger imbalance

    for chain_id in (DEVNET, SECOND_CHAIN):
        result = cli(tmp_path, "history", "--journal", str(journal_path), "--chain-id", str(chain_id))
        assert result.returncode == 0, result.stderr
        assert f"recorded on chain {chain_id}: 1 opportunities, 1 simulations, 0 sends" in result.stdout
    result = cli(tmp_path, "history", "--journal", str(journal_path))
    assert "recorded: 2 opportunities, 2 simulations, 0 sends" in result.stdout
    result = cli(tmp_path, "history", "--journal", str(journal_path), "--chain-id", "1")
    assert result.returncode == 0 and "recorded" not in result.stdout


def test_run_chain_flag_runs_each_configured_chain(devnet: Devnet, second: Devnet, tmp_path: Path) -> None:
    executors = {node.chain_id: deploy_executor(node) for node in (devnet, second)}
    blocks = {node.chain_id: swap_weth_into_v2(node, 200 * 10**18) for node in (devnet, second)}
    config = (
        '[strategies.amm_arb]\ntokens = ["WETH", "USDC", "USDT"]\nmax_hops = 2\n'
        f'[chains.replica]\nrpc_url = "{devnet.http_url}"\nchain_id = {DEVNET}\n'
        f'executor = "{executors[DEVNET]}"\n'
        f'[chains.other]\nrpc_url = "{second.http_url}"\nchain_id = {SECOND_CHAIN}\n'
        f'address_book = "mainnet"\nexecutor = "{executors[SECOND_CHAIN]}"\n'
    )
    # 31339 is not the devnet's id, so the signer is named (anvil's first key, from the environment).
    key = {"SEARCHER_KEY": second.accounts[0].key.hex()}
    run = ("run", "amm_arb", "--shadow", "--duration", "3", "--key-env", "SEARCHER_KEY")
    result = cli(tmp_path, *run, "--chain", "other", config=config, **key)
    assert result.returncode == 0, result.stderr
    assert f"running amm_arb on chain {SECOND_CHAIN} (other)" in result.stdout
    assert f"chain {DEVNET}" not in result.stdout
    result = cli(tmp_path, *run, config=config, **key)
    assert result.returncode == 0, result.stderr
    assert f"running amm_arb on chain {DEVNET} (replica)" in result.stdout
    assert "done (replica): " in result.stdout and "done (other): " in result.stdout
    with Journal(tmp_path / "state" / "journal.sqlite") as journal:
        sims = journal.simulations()
    # `--chain other` alone, then both: two on the other chain, one on the replica, each at its swap.
    assert sorted(s.chain_id for s in sims) == [DEVNET, SECOND_CHAIN, SECOND_CHAIN]
    assert all(s.success and s.block_number == blocks[s.chain_id] for s in sims)


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0, result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_bad_chain_choices_are_one_error_line(devnet: Devnet, second: Devnet, tmp_path: Path) -> None:
    two = f'[chains.a]\nrpc_url = "{devnet.http_url}"\n[chains.b]\nrpc_url = "{second.http_url}"\n'
    assert error_line(cli(tmp_path, "run", "pool_imbalance", "--chain", "c", config=two)) == (
        "error: unknown chain 'c' (configured: a, b)"
    )
    assert error_line(cli(tmp_path, "run", "pool_imbalance", "--rpc", devnet.http_url, config=two)) == (
        "error: --rpc names one chain's endpoint; with several chains set it per [chains.NAME]"
    )
    assert error_line(cli(tmp_path, "run", "pool_imbalance", "--chain", "b", config=two)) == (
        "error: no address book for chain 31339: set address_book in its [chains.NAME] section "
        "(known: mainnet, arbitrum)"
    )
    same = f'[chains.a]\nrpc_url = "{devnet.http_url}"\n[chains.b]\nrpc_url = "{devnet.http_url}"\n'
    assert error_line(cli(tmp_path, "run", "pool_imbalance", config=same)) == (
        "error: chains a, b resolve to the same RPC; set rpc_url in each [chains.NAME]"
    )
    wrong = f'[chains.a]\nrpc_url = "{second.http_url}"\nchain_id = 31337\n'
    assert error_line(cli(tmp_path, "run", "pool_imbalance", config=wrong)) == (
        f"error: RPC {second.http_url} serves chain 31339, but the config expects 31337"
    )
