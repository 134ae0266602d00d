"""The Arbitrum replica looks like Arbitrum One to a bot: tokens and Uniswap V3 at Arbitrum's addresses (as
GMX's SDK and Uniswap's deployment list give them), under a chain id that is not Arbitrum's; real swaps
agree with the watcher's pool models;
a fork of it sees the same state. (The GMX stand-in on it: test_gmx_standin.py.)"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from defibots.chain import addresses as A
from defibots.chain.calldata import calldata
from defibots.devnet import arbitrum as arb
from defibots.devnet import gmx_standin
from defibots.devnet import replica as rep
from defibots.devnet.exchange import ExchangeThread, LocalExchange, MarketSpec
from defibots.devnet.node import Devnet, DevnetOptions
from defibots.errors import UserError
from defibots.foundry.anvil import AnvilNode, free_port, rpc_call
from defibots.jobs.arb_watch import open_market
from defibots.paths import forge_artifact, npm_artifact

pytestmark = pytest.mark.devnet

BOOK = A.ARBITRUM_BOOK
WETH, USDC, WBTC = (BOOK.token(s).address for s in ("WETH", "USDC", "WBTC"))
# Arbitrum One's own pools for these tokens (arbiscan): CREATE2 from the same factory and init code hash.
ARBITRUM_WETH_USDC_500 = "0xC6962004f452bE9203591991D15f6b388e09E8D0"
ARBITRUM_WBTC_WETH_500 = "0x2f5e87C9312fa29aed5c179E456625D79015299c"
CLI = [sys.executable, "-m", "defibots.cli.main"]


def npm_contract(w3: Web3, name: str, address: str) -> Any:
    abi = json.loads(npm_artifact(rep.ARTIFACTS[name]).read_text())["abi"]
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=abi)


def token(w3: Web3, address: str) -> Any:
    abi = json.loads(forge_artifact("ReplicaToken.sol", "ReplicaToken").read_text())["abi"]
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=abi)


def balance(node: Devnet, token_address: str, who: str) -> int:
    data = calldata("balanceOf(address)", who)
    return int(node.rpc("eth_call", {"to": token_address, "data": data}, "latest"), 16)


def transact(w3: Web3, call: Any, sender: str) -> None:
    receipt = w3.eth.wait_for_transaction_receipt(call.transact({"from": sender}), poll_latency=0.005)
    assert receipt["status"] == 1


def test_chain_id_is_not_arbitrums(arbitrum: Devnet) -> None:
    assert arbitrum.chain_id == A.ARBITRUM_DEVNET == 31338
    assert arbitrum.chain_id != A.ARBITRUM
    assert arbitrum.describe()["chain"] == "arbitrum"
    assert arb.replica_present(arbitrum.http_url)
    assert A.address_book(A.ARBITRUM_DEVNET) is A.address_book(A.ARBITRUM) is BOOK
    assert A.address_book(A.DEVNET) is A.address_book(A.MAINNET) is A.MAINNET_BOOK


def test_tokens_at_arbitrum_addresses(arbitrum: Devnet) -> None:
    w3 = arbitrum.w3
    for tok in BOOK.tokens.values():
        assert len(w3.eth.get_code(tok.address)) > 100
        erc20 = token(w3, tok.address).functions
        assert (erc20.symbol().call(), erc20.name().call(), erc20.decimals().call()) == (
            tok.symbol,
            tok.name,
            tok.decimals,
        )
    assert (BOOK.token("USDC").decimals, BOOK.token("WBTC").decimals) == (6, 8)
    for tok in A.TOKENS.values():  # mainnet's token addresses are empty on this chain
        assert w3.eth.get_code(tok.address) == b""


def test_book_agrees_with_gmx_sdk_and_uniswap() -> None:
    """The addresses come from GMX's own SDK (pinned npm) for tokens, and V3 sits where mainnet's does."""
    sdk = {(str(t["address"]).lower(), int(str(t["decimals"]))) for t in gmx_standin.sdk_tokens()}
    for tok in BOOK.tokens.values():
        assert (tok.address.lower(), tok.decimals) in sdk
    assert gmx_standin.sdk_contracts()["NATIVE_TOKEN"] == WETH
    for field in ("v3_factory", "v3_swap_router", "v3_swap_router02", "v3_quoter_v2", "v3_position_manager"):
        assert getattr(BOOK, field) == getattr(A.MAINNET_BOOK, field)
    pools = {(p.token0, p.token1, p.fee): p.address for p in arb.seeded_pools()}
    assert pools[("WETH", "USDC", 500)] == ARBITRUM_WETH_USDC_500
    assert pools[("WBTC", "WETH", 500)] == ARBITRUM_WBTC_WETH_500


def test_uniswap_v3_is_wired_as_on_arbitrum(arbitrum: Devnet) -> None:
    w3 = arbitrum.w3
    factory = npm_contract(w3, "V3Factory", BOOK.v3_factory).functions
    assert factory.owner().call() == A.ARBITRUM_UNISWAP_V3_FACTORY_OWNER
    assert factory.feeAmountTickSpacing(100).call() == 1
    for pool in arb.seeded_pools():
        t0, t1 = BOOK.token(pool.token0).address, BOOK.token(pool.token1).address
        assert factory.getPool(t0, t1, pool.fee).call() == pool.address
    r02 = npm_contract(w3, "SwapRouter02", BOOK.v3_swap_router02).functions
    assert (r02.factory().call(), r02.factoryV2().call(), r02.WETH9().call()) == (
        BOOK.v3_factory,
        arb.SWAP_ROUTER02_FACTORY_V2,
        WETH,
    )
    assert r02.positionManager().call() == BOOK.v3_position_manager
    for name, address in (("SwapRouter", BOOK.v3_swap_router), ("QuoterV2", BOOK.v3_quoter_v2),
                          ("NPM", BOOK.v3_position_manager)):  # fmt: skip
        c = npm_contract(w3, name, address).functions
        assert (c.factory().call(), c.WETH9().call()) == (BOOK.v3_factory, WETH)


def test_swap_router_swap_equals_quoter_and_the_watchers_model(arb_devnet: Devnet) -> None:
    """A real exactInputSingle on the seeded WETH/USDC 0.05% pool pays what QuoterV2 quotes and what the
    arbitrage watcher's model of that pool (loaded through the arbitrum address book) predicts."""
    node, trader = arb_devnet, arb_devnet.accounts[1].address
    market = open_market(
        node.http_url, None, ("WETH", "USDC", "WBTC"), A.ARBITRUM_DEVNET, book=A.address_book
    )
    assert {r.address for r in market.pool_refs} == {p.address for p in arb.seeded_pools()}
    model = market.pools.pools[ARBITRUM_WETH_USDC_500]
    amount_in = 25 * 10**18
    while (predicted := model.swap_exact_in(WETH, amount_in)).ticks_crossed < 3:  # cross seeded positions
        amount_in *= 2
    quoter = npm_contract(node.w3, "QuoterV2", BOOK.v3_quoter_v2).functions
    quoted = quoter.quoteExactInputSingle((WETH, USDC, amount_in, 500, 0)).call()[0]
    assert quoted == predicted.amount_out > amount_in * 2_800 // 10**12  # ~$3000 a WETH, less fee, impact

    transact(node.w3, token(node.w3, WETH).functions.approve(BOOK.v3_swap_router, 2**256 - 1), trader)
    before = balance(node, USDC, trader)
    router = npm_contract(node.w3, "SwapRouter", BOOK.v3_swap_router).functions
    transact(node.w3, router.exactInputSingle((WETH, USDC, 500, trader, 2**40, amount_in, quoted, 0)), trader)
    assert balance(node, USDC, trader) - before == quoted


def test_swap_router02_swap_on_wbtc_usdc(arb_devnet: Devnet) -> None:
    node, trader = arb_devnet, arb_devnet.accounts[2].address
    amount_in = 2 * 10**8  # 2 WBTC
    quoter = npm_contract(node.w3, "QuoterV2", BOOK.v3_quoter_v2).functions
    quoted = quoter.quoteExactInputSingle((WBTC, USDC, amount_in, 3000, 0)).call()[0]
    assert 100_000 * 10**6 < quoted < 120_000 * 10**6
    transact(node.w3, token(node.w3, WBTC).functions.approve(BOOK.v3_swap_router02, 2**256 - 1), trader)
    before = balance(node, USDC, trader)
    r02 = npm_contract(node.w3, "SwapRouter02", BOOK.v3_swap_router02).functions
    transact(node.w3, r02.exactInputSingle((WBTC, USDC, 3000, trader, amount_in, quoted, 0)), trader)
    assert balance(node, USDC, trader) - before == quoted


def test_dev_accounts_are_funded(arbitrum: Devnet) -> None:
    for account in arbitrum.accounts:
        assert balance(arbitrum, WETH, account.address) == rep.DEV_ACCOUNT_WETH * 10**18
        assert balance(arbitrum, USDC, account.address) == rep.DEV_ACCOUNT_FUNDING["USDC"] * 10**6
        assert balance(arbitrum, WBTC, account.address) == rep.DEV_ACCOUNT_FUNDING["WBTC"] * 10**8


def test_fork_sees_the_replica_and_leaves_it_unchanged(arb_devnet: Devnet) -> None:
    node, trader = arb_devnet, arb_devnet.accounts[3].address
    slot0 = {"to": ARBITRUM_WETH_USDC_500, "data": calldata("slot0()")}
    before_slot0, before_usdc = node.rpc("eth_call", slot0, "latest"), balance(node, USDC, trader)
    block = node.block_number()
    with Devnet.start(DevnetOptions(chain="arbitrum", fork_url=node.http_url)) as fork:
        assert fork.chain_id == A.ARBITRUM_DEVNET
        assert arb.replica_present(fork.http_url)
        assert fork.rpc("eth_call", slot0, "latest") == before_slot0
        assert balance(fork, USDC, trader) == before_usdc
        w3 = fork.w3
        transact(w3, token(w3, WETH).functions.approve(BOOK.v3_swap_router, 2**256 - 1), trader)
        router = npm_contract(w3, "SwapRouter", BOOK.v3_swap_router).functions
        transact(w3, router.exactInputSingle((WETH, USDC, 500, trader, 2**40, 10**18, 1, 0)), trader)
        assert balance(fork, USDC, trader) > before_usdc
        assert fork.rpc("eth_call", slot0, "latest") != before_slot0
    assert node.rpc("eth_call", slot0, "latest") == before_slot0
    assert balance(node, USDC, trader) == before_usdc
    assert node.block_number() == block


def test_fork_of_another_chain_is_refused() -> None:
    with (
        AnvilNode() as other,
        pytest.raises(UserError, match=r"forks an RPC of chain 42161 or 31338, .* 31337$"),
    ):
        Devnet.start(DevnetOptions(chain="arbitrum", fork_url=other.http_url))


def test_cli_up_arbitrum_detach_and_down(arbitrum: Devnet, tmp_path: Path) -> None:
    shutil.copy(arb.cache_path(), tmp_path / arb.cache_path().name)
    env = dict(os.environ, DEFIBOTS_STATE_DIR=str(tmp_path))

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*CLI, "devnet", *args], capture_output=True, text=True, env=env, timeout=120)

    bad = run("up", "--detach", "--chain", "optimism")
    assert bad.returncode != 0 and "unknown devnet chain 'optimism'" in bad.stderr
    assert "Traceback" not in bad.stderr
    port = free_port()
    venue = LocalExchange(
        None, [MarketSpec("ETH/USDT", Decimal(3100)), MarketSpec("BTC/USDT", Decimal(61000))]
    )
    exchange = ExchangeThread(venue).start()
    up = run("up", "--detach", "--port", str(port), "--chain", "arbitrum", "--exchange-url", exchange.url)
    try:
        assert up.returncode == 0, up.stderr
        assert "arbitrum replica (restored from cache)" in up.stdout and "chain id  31338" in up.stdout
        assert rpc_call(f"http://127.0.0.1:{port}", "eth_chainId") == hex(A.ARBITRUM_DEVNET)
        state = json.loads((tmp_path / "devnet.json").read_text())

        def weth_min() -> int:
            with urllib.request.urlopen(state["gmx_oracle_url"] + "/prices/tickers", timeout=5) as reply:
                return next(
                    int(t["minPrice"]) for t in json.loads(reply.read()) if t["tokenSymbol"] == "WETH"
                )

        # the keeper's oracle follows the exchange: its mid less half the 2-bps spread
        for _ in range(100):
            if weth_min() != 3000 * 10**12 * 9_999 // 10_000:
                break
            time.sleep(0.1)
        assert weth_min() == 3100 * 10**12 * 9_999 // 10_000
    finally:
        down = run("down")
        exchange.stop()
    assert down.returncode == 0 and "stopped" in down.stdout
    with pytest.raises(ProcessLookupError):  # the keeper went down with the devnet
        os.kill(state["gmx_keeper_pid"], 0)


def test_cli_up_on_a_fork_of_the_replica_runs_its_gmx_keeper(arbitrum: Devnet, tmp_path: Path) -> None:
    """`--fork-url` works as for mainnet: a fork of the replica (one anvil forking another, as a fork of
    Arbitrum would be) has the stand-in, so its keeper starts too."""
    env = dict(os.environ, DEFIBOTS_STATE_DIR=str(tmp_path))

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*CLI, "devnet", *args], capture_output=True, text=True, env=env, timeout=120)

    up = run(
        "up", "--detach", "--port", str(free_port()), "--chain", "arbitrum", "--fork-url", arbitrum.http_url
    )
    try:
        assert up.returncode == 0, up.stderr
        state = json.loads((tmp_path / "devnet.json").read_text())
        assert state["mode"] == "fork" and state["chain_id"] == A.ARBITRUM_DEVNET
        with urllib.request.urlopen(state["gmx_oracle_url"] + "/markets", timeout=5) as reply:
            markets = json.loads(reply.read())["markets"]
        assert {m["marketToken"] for m in markets} == {
            m.market_token for m in gmx_standin.deployment().markets.markets
        }
    finally:
        assert run("down").returncode == 0
