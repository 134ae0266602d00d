"""A pending router swap, decoded from the mempool and predicted on the exact models, equals the pool
state after its block is mined, to the wei, for every router function the decoder knows."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from defibots.chain import addresses as A
from defibots.chain.calldata import calldata
from defibots.chain.pool_address import v2_pair_address, v3_pool_address
from defibots.chain.pool_loader import load_v2_pairs, load_v3_pools, v2_from_snapshot, v3_from_snapshot
from defibots.chain.router_calls import RouterCallDecoder, RouterKind
from defibots.chain.rpc import JsonRpc
from defibots.devnet.node import Devnet
from defibots.devnet.noise import MarketNoise
from defibots.devnet.replica import seeded_pools
from defibots.protocols.uniswap_router import PoolModel, RouterHop, predict

WETH, USDC, USDT, DAI = (A.TOKENS[s].address for s in ("WETH", "USDC", "USDT", "DAI"))
R2, V3, R02 = A.UNISWAP_V2_ROUTER02, A.UNISWAP_V3_SWAP_ROUTER, A.UNISWAP_V3_SWAP_ROUTER02
DL = 2**40
ETH = 10**18


def v3_path(*parts: str | int) -> bytes:
    out = b""
    for part in parts:
        out += bytes.fromhex(part[2:]) if isinstance(part, str) else part.to_bytes(3, "big")
    return out


V2_IN = "swapExactTokensForTokens(uint256,uint256,address[],address,uint256)"
V2_OUT = "swapTokensForExactTokens(uint256,uint256,address[],address,uint256)"
V2_ETH_IN = "swapExactETHForTokens(uint256,address[],address,uint256)"
V2_ETH_OUT = "swapETHForExactTokens(uint256,address[],address,uint256)"
V2_IN_ETH = "swapExactTokensForETH(uint256,uint256,address[],address,uint256)"
V2_OUT_ETH = "swapTokensForExactETH(uint256,uint256,address[],address,uint256)"
V2_FOT = "swapExactTokensForTokensSupportingFeeOnTransferTokens(uint256,uint256,address[],address,uint256)"
V2_FOT_ETH_IN = "swapExactETHForTokensSupportingFeeOnTransferTokens(uint256,address[],address,uint256)"
V2_FOT_ETH_OUT = (
    "swapExactTokensForETHSupportingFeeOnTransferTokens(uint256,uint256,address[],address,uint256)"
)
V3_IN1 = "exactInputSingle((address,address,uint24,address,uint256,uint256,uint256,uint160))"
V3_IN = "exactInput((bytes,address,uint256,uint256,uint256))"
V3_OUT1 = "exactOutputSingle((address,address,uint24,address,uint256,uint256,uint256,uint160))"
V3_OUT = "exactOutput((bytes,address,uint256,uint256,uint256))"
R02_IN1 = "exactInputSingle((address,address,uint24,address,uint256,uint256,uint160))"
R02_IN = "exactInput((bytes,address,uint256,uint256))"
R02_OUT1 = "exactOutputSingle((address,address,uint24,address,uint256,uint256,uint160))"
R02_OUT = "exactOutput((bytes,address,uint256,uint256))"
R02_V2_IN = "swapExactTokensForTokens(uint256,uint256,address[],address)"
R02_V2_OUT = "swapTokensForExactTokens(uint256,uint256,address[],address)"


def raw(data: str) -> bytes:
    return bytes.fromhex(data[2:])


def cases(me: str) -> list[tuple[str, str, str, int]]:
    """(name, router, calldata, value)."""
    usdc, dai = 10**6, 10**18
    r02_in = calldata(R02_IN1, (WETH, USDC, 500, me, 3 * ETH, 0, 0))
    r02_v2 = calldata(R02_V2_IN, 5_000 * usdc, 0, [USDC, WETH], me)
    v3_a = calldata(V3_IN1, (USDT, WETH, 500, me, DL, 30_000 * usdc, 0, 0))
    v3_b = calldata(V3_IN1, (WETH, USDC, 500, me, DL, 2 * ETH, 0, 0))
    return [
        ("v2 in", R2, calldata(V2_IN, 40 * ETH, 0, [WETH, USDC, USDT], me, DL), 0),
        ("v2 out", R2, calldata(V2_OUT, 50_000 * usdc, 30 * ETH, [WETH, DAI, USDC], me, DL), 0),
        ("v2 eth in", R2, calldata(V2_ETH_IN, 0, [WETH, USDC], me, DL), 7 * ETH),
        ("v2 eth out", R2, calldata(V2_ETH_OUT, 9_000 * usdc, [WETH, USDC], me, DL), 10 * ETH),
        ("v2 in for eth", R2, calldata(V2_IN_ETH, 20_000 * usdc, 0, [USDC, WETH], me, DL), 0),
        ("v2 out eth", R2, calldata(V2_OUT_ETH, 2 * ETH, 10_000 * usdc, [USDT, WETH], me, DL), 0),
        ("v2 fot", R2, calldata(V2_FOT, 10_000 * usdc, 0, [USDC, DAI], me, DL), 0),
        ("v2 fot eth in", R2, calldata(V2_FOT_ETH_IN, 0, [WETH, USDT], me, DL), 4 * ETH),
        ("v2 fot eth out", R2, calldata(V2_FOT_ETH_OUT, 15_000 * dai, 0, [DAI, WETH], me, DL), 0),
        ("v3 exactInputSingle", V3, calldata(V3_IN1, (WETH, USDC, 500, me, DL, 25 * ETH, 0, 0)), 0),
        ("v3 exactInput", V3, calldata(V3_IN, (v3_path(USDC, 500, WETH, 3000, USDT), me, DL, 60_000 * usdc, 0)), 0),
        ("v3 exactOutputSingle", V3, calldata(V3_OUT1, (USDC, WETH, 3000, me, DL, 6 * ETH, 40_000 * usdc, 0)), 0),
        ("v3 exactOutput", V3,
         calldata(V3_OUT, (v3_path(DAI, 500, WETH, 500, USDC), me, DL, 30_000 * dai, 40_000 * usdc)), 0),
        ("v3 multicall", V3, calldata("multicall(bytes[])", [raw(v3_a), raw(v3_b)]), 0),
        ("r02 exactInputSingle", R02, r02_in, 0),
        ("r02 exactInput", R02, calldata(R02_IN, (v3_path(WETH, 3000, DAI, 100, USDC), me, 8 * ETH, 0)), 0),
        ("r02 exactOutputSingle", R02,
         calldata(R02_OUT1, (USDT, USDC, 100, me, 250_000 * usdc, 300_000 * usdc, 0)), 0),
        ("r02 exactOutput", R02,
         calldata(R02_OUT, (v3_path(WETH, 500, USDT, 100, USDC), me, 3 * ETH, 15_000 * usdc)), 0),
        ("r02 swapExactTokensForTokens", R02, r02_v2, 0),
        ("r02 swapTokensForExactTokens", R02, calldata(R02_V2_OUT, 4 * ETH, 20_000 * usdc, [USDC, WETH], me), 0),
        ("r02 multicall", R02, calldata("multicall(bytes[])", [raw(r02_in), raw(r02_v2)]), 0),
        ("r02 multicall deadline", R02, calldata("multicall(uint256,bytes[])", DL, [raw(r02_v2)]), 0),
        ("r02 multicall blockhash", R02, "", 0),  # filled in the test: needs the parent block hash
    ]  # fmt: skip


def load(rpc: JsonRpc) -> dict[str, PoolModel]:
    pools = seeded_pools()
    v3 = [p for p in pools if p.protocol == "v3"]
    out: dict[str, PoolModel] = {
        s.address: v3_from_snapshot(s)
        for s in load_v3_pools(rpc, [p.address for p in v3], [A.V3_FEE_TICK_SPACING[p.fee] for p in v3])
    }
    out.update(
        {
            s.address: v2_from_snapshot(s)
            for s in load_v2_pairs(rpc, [p.address for p in pools if p.protocol == "v2"])
        }
    )
    return out


@pytest.fixture
def mempool_devnet(devnet: Devnet) -> Iterator[Devnet]:
    trader = devnet.accounts[5]
    MarketNoise(devnet.http_url, [trader], seed=1).approve_routers()
    devnet.rpc("evm_mine")
    devnet.rpc("evm_setAutomine", False)
    try:
        yield devnet
    finally:
        devnet.rpc("evm_setAutomine", True)


@pytest.mark.parametrize(
    "case", range(len(cases(A.TOKENS["WETH"].address))), ids=lambda i: cases(A.TOKENS["WETH"].address)[i][0]
)
def test_pending_swap_prediction_equals_mined_state(mempool_devnet: Devnet, case: int) -> None:
    devnet = mempool_devnet
    trader = devnet.accounts[5]
    rpc = JsonRpc(devnet.http_url)
    name, router, data, value = cases(trader.address)[case]
    if name == "r02 multicall blockhash":
        parent = rpc.call("eth_getBlockByNumber", "latest", False)["hash"]
        inner = calldata(
            "swapExactTokensForTokens(uint256,uint256,address[],address)",
            10**9,
            0,
            [USDC, WETH],
            trader.address,
        )
        data = (
            "0x"
            + (
                bytes.fromhex(
                    calldata(
                        "multicall(bytes32,bytes[])", bytes.fromhex(parent[2:]), [bytes.fromhex(inner[2:])]
                    )[2:]
                )
            ).hex()
        )
    noise = MarketNoise(devnet.http_url, [trader], seed=2)
    tx_hash = (
        noise.send(trader, router, data, gas=900_000)
        if not value
        else _send_with_value(noise, trader, router, data, value)
    )
    pending = rpc.call("eth_getTransactionByHash", tx_hash)
    assert pending["blockNumber"] is None
    swap = RouterCallDecoder().decode_transaction(pending)
    assert swap is not None, name
    before = load(rpc)

    def resolve(hop: RouterHop) -> PoolModel | None:
        if hop.protocol == "v2":
            return before.get(v2_pair_address(hop.token_in, hop.token_out))
        assert hop.fee is not None
        return before.get(v3_pool_address(hop.token_in, hop.token_out, hop.fee))

    prediction = predict(
        swap.legs, resolve, v2_output_from_balance=swap.router_kind is RouterKind.V3_SWAP_ROUTER02
    )
    assert not prediction.reverted, (name, prediction.revert_reason)
    devnet.rpc("evm_mine")
    receipt = rpc.call("eth_getTransactionReceipt", tx_hash)
    assert receipt["status"] == "0x1", name
    after = load(rpc)
    assert prediction.states, name
    for address, model in after.items():
        predicted = prediction.states.get(address, before[address])
        if hasattr(model, "reserve0"):
            assert (predicted.reserve0, predicted.reserve1) == (model.reserve0, model.reserve1), (
                name,
                address,
            )  # type: ignore[union-attr]
        else:
            assert (predicted.sqrt_price_x96, predicted.tick, predicted.liquidity) == (  # type: ignore[union-attr]
                model.sqrt_price_x96, model.tick, model.liquidity  # type: ignore[union-attr]
            ), (name, address)  # fmt: skip


def _send_with_value(noise: MarketNoise, trader: object, router: str, data: str, value: int) -> str:
    from eth_account.signers.local import LocalAccount

    assert isinstance(trader, LocalAccount)
    base_fee = int(noise.rpc.call("eth_getBlockByNumber", "latest", False)["baseFeePerGas"], 16)
    tx = {
        "chainId": noise.chain_id, "nonce": noise._nonce(trader.address), "to": router, "data": data,
        "value": value, "gas": 900_000, "maxPriorityFeePerGas": 10**9, "maxFeePerGas": 2 * base_fee + 10**9,
        "type": 2,
    }  # fmt: skip
    signed = trader.sign_transaction(tx)
    return str(noise.rpc.call("eth_sendRawTransaction", "0x" + signed.raw_transaction.hex()))
