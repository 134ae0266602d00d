"""The mainnet replica looks like mainnet to a bot: addresses, metadata, and prices the contracts agree on."""

from __future__ import annotations

import json
from typing import Any

import pytest
from web3 import Web3

from defibots.chain import addresses as A
from defibots.chain.pool_address import v2_pair_address, v3_pool_address
from defibots.devnet import replica as rep
from defibots.devnet.node import Devnet
from defibots.paths import npm_artifact

MAINNET_WETH_USDC_V2 = "0xB4e16d0168e52d35CaCD2c6185b44281Ec28C9Dc"
MAINNET_WETH_USDC_V3_500 = "0x88e6A0c2dDD26FEEb64F039a2c41296FcB3f5640"
MAINNET_WETH_USDC_V3_3000 = "0x8ad599c3A0ff1De082011EFDDc58f1908eb6e6D8"

ERC20_ABI = json.loads(
    '[{"name":"name","type":"function","inputs":[],"outputs":[{"type":"string"}],"stateMutability":"view"},'
    '{"name":"symbol","type":"function","inputs":[],"outputs":[{"type":"string"}],"stateMutability":"view"},'
    '{"name":"decimals","type":"function","inputs":[],"outputs":[{"type":"uint8"}],"stateMutability":"view"},'
    '{"name":"balanceOf","type":"function","inputs":[{"type":"address"}],"outputs":[{"type":"uint256"}],'
    '"stateMutability":"view"},'
    '{"name":"approve","type":"function","inputs":[{"type":"address"},{"type":"uint256"}],"outputs":[],'
    '"stateMutability":"nonpayable"}]'
)


def abi(name: str) -> Any:
    data = json.loads(npm_artifact(rep.ARTIFACTS[name]).read_text())
    return data["abi"]


def contract(w3: Web3, name: str, address: str) -> Any:
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=abi(name))


def test_token_metadata_is_mainnets(replica: Devnet) -> None:
    for token in A.TOKENS.values():
        erc20 = replica.w3.eth.contract(address=token.address, abi=ERC20_ABI)
        assert erc20.functions.symbol().call() == token.symbol
        assert erc20.functions.name().call() == token.name
        assert erc20.functions.decimals().call() == token.decimals


def test_factories_return_create2_addresses(replica: Devnet) -> None:
    v2 = contract(replica.w3, "V2Factory", A.UNISWAP_V2_FACTORY)
    v3 = contract(replica.w3, "V3Factory", A.UNISWAP_V3_FACTORY)
    pools = rep.seeded_pools()
    assert len(pools) == 18
    for pool in pools:
        t0, t1 = A.TOKENS[pool.token0].address, A.TOKENS[pool.token1].address
        if pool.protocol == "v2":
            assert v2.functions.getPair(t0, t1).call() == v2_pair_address(t0, t1) == pool.address
        else:
            assert (
                v3.functions.getPool(t0, t1, pool.fee).call()
                == v3_pool_address(t0, t1, pool.fee)
                == pool.address
            )
    weth, usdc = A.TOKENS["WETH"].address, A.TOKENS["USDC"].address
    assert v2.functions.getPair(weth, usdc).call() == MAINNET_WETH_USDC_V2
    assert v3.functions.getPool(weth, usdc, 500).call() == MAINNET_WETH_USDC_V3_500
    assert v3.functions.getPool(weth, usdc, 3000).call() == MAINNET_WETH_USDC_V3_3000
    assert v3.functions.owner().call() == A.UNISWAP_V3_FACTORY_OWNER
    assert v3.functions.feeAmountTickSpacing(100).call() == 1


def transact(w3: Web3, call: Any, sender: str) -> None:
    """Send and wait: automine answers eth_sendTransaction before the block is mined."""
    receipt = w3.eth.wait_for_transaction_receipt(call.transact({"from": sender}), poll_latency=0.005)
    assert receipt["status"] == 1


def _approve_all(w3: Web3, owner: str, spender: str) -> None:
    for token in A.TOKENS.values():
        erc20 = w3.eth.contract(address=token.address, abi=ERC20_ABI)
        if token.symbol == "USDT":
            transact(w3, erc20.functions.approve(spender, 0), owner)
        transact(w3, erc20.functions.approve(spender, 2**256 - 1), owner)


def _balance(w3: Web3, token: str, who: str) -> int:
    return int(
        w3.eth.contract(address=A.TOKENS[token].address, abi=ERC20_ABI).functions.balanceOf(who).call()
    )


@pytest.mark.parametrize("pool", [p for p in rep.seeded_pools() if p.protocol == "v2"], ids=str)
def test_v2_get_amounts_out_equals_executed_swap(devnet: Devnet, pool: rep.SeededPool) -> None:
    w3, trader = devnet.w3, devnet.accounts[1].address
    router = contract(w3, "V2Router02", A.UNISWAP_V2_ROUTER02)
    _approve_all(w3, trader, A.UNISWAP_V2_ROUTER02)
    for token_in, token_out in ((pool.token0, pool.token1), (pool.token1, pool.token0)):
        amount_in = 12_345 * 10 ** A.TOKENS[token_in].decimals // max(1, int(rep.USD_PRICE[token_in]))
        path = [A.TOKENS[token_in].address, A.TOKENS[token_out].address]
        quoted = router.functions.getAmountsOut(amount_in, path).call()[-1]
        before = _balance(w3, token_out, trader)
        transact(
            w3, router.functions.swapExactTokensForTokens(amount_in, quoted, path, trader, 2**40), trader
        )
        assert _balance(w3, token_out, trader) - before == quoted > 0


@pytest.mark.parametrize("pool", [p for p in rep.seeded_pools() if p.protocol == "v3"], ids=str)
def test_quoter_v2_equals_executed_v3_swap_crossing_ticks(devnet: Devnet, pool: rep.SeededPool) -> None:
    w3, trader = devnet.w3, devnet.accounts[2].address
    quoter = contract(w3, "QuoterV2", A.UNISWAP_V3_QUOTER_V2)
    router = contract(w3, "SwapRouter", A.UNISWAP_V3_SWAP_ROUTER)
    _approve_all(w3, trader, A.UNISWAP_V3_SWAP_ROUTER)
    for token_in, token_out in ((pool.token0, pool.token1), (pool.token1, pool.token0)):
        tin, tout = A.TOKENS[token_in].address, A.TOKENS[token_out].address
        amount_in = 1_000 * 10 ** A.TOKENS[token_in].decimals // max(1, int(rep.USD_PRICE[token_in]))
        while True:  # grow the swap until it crosses at least 3 initialized ticks
            out, _, crossed, _ = quoter.functions.quoteExactInputSingle(
                (tin, tout, amount_in, pool.fee, 0)
            ).call()
            if crossed >= 3:
                break
            amount_in *= 2
            assert amount_in < 10**40, "pool has too few initialized ticks near the price"
        before = _balance(w3, token_out, trader)
        params = (tin, tout, pool.fee, trader, 2**40, amount_in, out, 0)
        transact(w3, router.functions.exactInputSingle(params), trader)
        assert _balance(w3, token_out, trader) - before == out > 0


def test_dev_accounts_are_funded(replica: Devnet) -> None:
    for account in replica.accounts:
        assert replica.w3.eth.get_balance(account.address) > 5_000 * 10**18
        for symbol, amount in dict(rep.DEV_ACCOUNT_FUNDING, WETH=rep.DEV_ACCOUNT_WETH).items():
            assert _balance(replica.w3, symbol, account.address) == amount * 10 ** A.TOKENS[symbol].decimals
