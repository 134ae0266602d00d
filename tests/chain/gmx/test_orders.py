"""Our ExchangeRouter calldata equals what the SDK builds (viem's encodeFunctionData over the SDK's ABI and
the SDK's own payload builders for take-profit / stop-loss, update and cancel), and decodes with the SDK's
input types back to the request's values."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from eth_abi import decode

from defibots.chain.gmx.abis import find_entry, input_types, selector
from defibots.chain.gmx.orders import (
    CreateOrderEncoding,
    ExchangeRouterCall,
    OrderRequest,
    OrderType,
    acceptable_price,
    cancel_order,
    cancel_orders_multicall,
    contract_price,
    create_order,
    order_multicall,
    update_order,
    update_order_multicall,
)

from .sdk import big, run_node, v21_exchange_router_abi

ACCOUNT = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
MARKET = "0x70d95587d40A2caf56bd97485aB3Eec10Bee6336"  # ETH/USD [WETH-USDC] on Arbitrum
WETH = "0x82aF49447D8a07e3bd95BD0d56f35241523fBab1"
USDC = "0xaf88d065e77c8cC2239327C5EDb3A432268e5831"
ORDER_VAULT = "0x31eF83a530Fde1B38EE9A18093A333D8Bbbc40D5"  # CONTRACTS[42161].OrderVault
UI_FEE = "0x00000000000000000000000000000000000000fe"
GWEI = 10**9
USD = 10**30
ETH_PRICE = contract_price(3_000 * USD, 18)  # 3000 USD per ETH as GMX stores it: 3000e12 per wei

INCREASE = OrderRequest(
    market=MARKET,
    initial_collateral_token=USDC,
    order_type=OrderType.MARKET_INCREASE,
    is_long=True,
    size_delta_usd=10_000 * USD,
    initial_collateral_delta_amount=2_000 * 10**6,
    acceptable_price=acceptable_price(ETH_PRICE, 30, is_long=True, is_increase=True),
    execution_fee=300_000 * GWEI,
    receiver=ACCOUNT,
    ui_fee_receiver=UI_FEE,
    referral_code=bytes.fromhex("ab" * 32),
    data_list=(bytes.fromhex("01" * 32), bytes.fromhex("02" * 32)),
)
TAKE_PROFIT = OrderRequest(
    market=MARKET,
    initial_collateral_token=USDC,
    order_type=OrderType.LIMIT_DECREASE,
    is_long=True,
    size_delta_usd=10_000 * USD,
    initial_collateral_delta_amount=0,
    acceptable_price=contract_price(3_290 * USD, 18),
    trigger_price=contract_price(3_300 * USD, 18),
    execution_fee=310_000 * GWEI,
    receiver=ACCOUNT,
    ui_fee_receiver=UI_FEE,
    auto_cancel=True,
)
STOP_LOSS = replace(
    TAKE_PROFIT,
    order_type=OrderType.STOP_LOSS_DECREASE,
    acceptable_price=contract_price(2_690 * USD, 18),
    trigger_price=contract_price(2_700 * USD, 18),
    execution_fee=320_000 * GWEI,
)


def _js_params(order: OrderRequest) -> dict[str, Any]:
    """The request as viem takes CreateOrderParams (ints as BigInt, bytes as hex)."""

    def convert(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: convert(v) for k, v in value.items()}
        if isinstance(value, list):
            return [convert(v) for v in value]
        if isinstance(value, bytes):
            return "0x" + value.hex()
        if isinstance(value, int) and not isinstance(value, bool):
            return big(value)
        return value

    params = convert(order.params())
    params["orderType"] = int(order.order_type)  # uint8: viem takes a number
    params["decreasePositionSwapType"] = int(order.decrease_position_swap_type)
    return params


def _sdk_decrease(order: OrderRequest) -> dict[str, Any]:
    """A take-profit / stop-loss as the SDK's createDecreaseEncodedPayload takes it (USD prices in 1e30)."""
    return {
        "account": order.receiver,
        "marketAddress": order.market,
        "initialCollateralAddress": order.initial_collateral_token,
        "receiveTokenAddress": order.initial_collateral_token,
        "swapPath": list(order.swap_path),
        "sizeDeltaUsd": big(order.size_delta_usd),
        "initialCollateralDeltaAmount": big(order.initial_collateral_delta_amount),
        "triggerPrice": big(order.trigger_price * 10**18),
        "acceptablePrice": big(order.acceptable_price * 10**18),
        "minOutputUsd": big(order.min_output_amount),
        "allowedSlippage": 0,
        "executionFee": big(order.execution_fee),
        "orderType": int(order.order_type),
        "decreasePositionSwapType": int(order.decrease_position_swap_type),
        "isLong": order.is_long,
        "autoCancel": order.auto_cancel,
        "indexToken": {"decimals": 18},
    }


SDK_BUILD = """
const { encodeFunctionData } = require('viem');
const abi = require(SDK_SRC + '/abis/ExchangeRouter.js').default;
const dec = require(SDK_SRC + '/modules/orders/transactions/createDecreaseOrderTxn.js');
const upd = require(SDK_SRC + '/modules/orders/transactions/updateOrderTxn.js');
const can = require(SDK_SRC + '/modules/orders/transactions/cancelOrdersTxn.js');
const enc = (functionName, args) => encodeFunctionData({ abi, functionName, args });
const sdk = { chainId: 42161, config: { settings: { uiFeeReceiverAccount: input.uiFee } } };
const o = input.increase;
const increase = [
  enc('sendWnt', [input.vault, o.numbers.executionFee]),
  enc('sendTokens',
    [o.addresses.initialCollateralToken, input.vault, o.numbers.initialCollateralDeltaAmount]),
  enc('createOrder', [o]),
];
const tpsl = dec.createDecreaseEncodedPayload({ sdk, orderVaultAddress: input.vault, ps: input.decreases });
const u = input.update;
const update = upd.createUpdateEncodedPayload({ sdk, orderKey: u.key, sizeDeltaUsd: u.sizeDeltaUsd,
  executionFee: u.executionFee, indexToken: { decimals: 18 }, acceptablePrice: u.acceptablePrice,
  triggerPrice: u.triggerPrice, minOutputAmount: u.minOutputAmount, autoCancel: u.autoCancel });
out({
  createOrder: enc('createOrder', [o]),
  multicall: enc('multicall', [[...increase, ...tpsl]]),
  update: enc('multicall', [update]),
  cancel: enc('multicall', [can.createCancelEncodedPayload(input.cancelKeys)]),
  slippage: input.slippage.map(([p, s, inc, long]) =>
    require(SDK_SRC + '/utils/trade/trade.js').applySlippageToPrice(s, p, inc, long)),
});
"""

ORDER_KEY = bytes.fromhex("5a" * 32)
UPDATE = {
    "key": "0x" + ORDER_KEY.hex(),
    "sizeDeltaUsd": big(5_000 * USD),
    "acceptablePrice": big(contract_price(3_100 * USD, 18) * 10**18),
    "triggerPrice": big(contract_price(3_120 * USD, 18) * 10**18),
    "minOutputAmount": big(0),
    "executionFee": big(50_000 * GWEI),
    "autoCancel": True,
}
SLIPPAGE_CASES = [
    (ETH_PRICE, 30, True, True),
    (ETH_PRICE, 30, True, False),
    (ETH_PRICE, 30, False, True),
    (ETH_PRICE, 30, False, False),
    (123_456_789_123, 7, True, True),
    (123_456_789_123, 7, False, True),
]


@pytest.fixture(scope="module")
def sdk_built() -> dict[str, Any]:
    payload = {
        "vault": ORDER_VAULT,
        "uiFee": UI_FEE,
        "increase": _js_params(INCREASE),
        "decreases": [_sdk_decrease(TAKE_PROFIT), _sdk_decrease(STOP_LOSS)],
        "update": UPDATE,
        "cancelKeys": ["0x" + ORDER_KEY.hex(), "0x" + "6b" * 32],
        "slippage": [[big(p), s, inc, long] for p, s, inc, long in SLIPPAGE_CASES],
    }
    built: dict[str, Any] = run_node(SDK_BUILD, payload)
    return built


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


def test_create_order_equals_viem_encoding(sdk_built: dict[str, Any]) -> None:
    assert _hex(create_order(INCREASE)) == sdk_built["createOrder"]


def test_order_multicall_with_take_profit_and_stop_loss_equals_the_sdk(sdk_built: dict[str, Any]) -> None:
    call = order_multicall(ORDER_VAULT, INCREASE, take_profit=TAKE_PROFIT, stop_loss=STOP_LOSS)
    assert _hex(call.data) == sdk_built["multicall"]
    # the transaction carries every order's execution fee, in wei
    assert call.value == (300_000 + 310_000 + 320_000) * GWEI


def test_update_and_cancel_multicalls_equal_the_sdk(sdk_built: dict[str, Any]) -> None:
    update = update_order_multicall(
        ORDER_KEY,
        5_000 * USD,
        contract_price(3_100 * USD, 18),
        contract_price(3_120 * USD, 18),
        0,
        auto_cancel=True,
        order_vault=ORDER_VAULT,
        execution_fee_top_up=50_000 * GWEI,
    )
    assert _hex(update.data) == sdk_built["update"]
    assert update.value == 50_000 * GWEI
    cancel = cancel_orders_multicall([ORDER_KEY, bytes.fromhex("6b" * 32)])
    assert cancel == ExchangeRouterCall(bytes.fromhex(sdk_built["cancel"][2:]), 0)


def test_acceptable_price_equals_the_sdks_apply_slippage(sdk_built: dict[str, Any]) -> None:
    ours = [str(acceptable_price(p, s, is_long=long, is_increase=inc)) for p, s, inc, long in SLIPPAGE_CASES]
    assert ours == sdk_built["slippage"]
    # long increase pays up to +0.3%, short increase sells down to -0.3%; decreases the other way
    assert acceptable_price(ETH_PRICE, 30, is_long=True, is_increase=True) == 3_009 * 10**12
    assert acceptable_price(ETH_PRICE, 30, is_long=False, is_increase=True) == 2_991 * 10**12
    assert acceptable_price(ETH_PRICE, 30, is_long=True, is_increase=False) == 2_991 * 10**12
    assert acceptable_price(ETH_PRICE, 30, is_long=False, is_increase=False) == 3_009 * 10**12


def _decode_call(data: bytes, contract: str, function: str) -> tuple[Any, ...]:
    entry = find_entry(contract, function)
    assert data[:4] == selector(entry)
    return tuple(decode(input_types(entry), data[4:]))


def _expected_params(order: OrderRequest, with_data_list: bool = True) -> tuple[Any, ...]:
    p = order.params()
    head = (
        tuple(p["addresses"][k] if k != "swapPath" else tuple(p["addresses"][k]) for k in p["addresses"]),
        tuple(p["numbers"].values()),
        p["orderType"],
        p["decreasePositionSwapType"],
        p["isLong"],
        p["shouldUnwrapNativeToken"],
        p["autoCancel"],
        p["referralCode"],
    )
    return (*head, tuple(p["dataList"])) if with_data_list else head


def _lower(value: Any) -> Any:
    if isinstance(value, tuple):
        return tuple(_lower(v) for v in value)
    return value.lower() if isinstance(value, str) else value


def test_create_order_decodes_with_sdk_types_to_the_request() -> None:
    (params,) = _decode_call(create_order(INCREASE), "ExchangeRouter", "createOrder")
    assert _lower(params) == _lower(_expected_params(INCREASE))
    assert params[1][0] == 10_000 * USD and params[1][4] == 300_000 * GWEI


def test_create_order_v21_decodes_with_the_wheels_abi() -> None:
    order = replace(INCREASE, data_list=())
    data = create_order(order, CreateOrderEncoding.V2_1)
    (entry,) = [e for e in v21_exchange_router_abi() if e.get("name") == "createOrder"]
    assert data[:4].hex() == "6996807b" == selector(entry).hex()
    (params,) = decode(input_types(entry), data[4:])
    assert _lower(params) == _lower(_expected_params(order, with_data_list=False))
    with pytest.raises(ValueError, match="dataList"):
        create_order(INCREASE, CreateOrderEncoding.V2_1)


def test_native_collateral_is_wrapped_with_the_fee_and_not_sent_as_tokens() -> None:
    order = replace(INCREASE, initial_collateral_token=WETH, initial_collateral_delta_amount=10**18)
    call = order_multicall(ORDER_VAULT, order, native_collateral=True)
    (calls,) = _decode_call(call.data, "ExchangeRouter", "multicall")
    assert [c[:4] for c in calls] == [
        selector(find_entry("ExchangeRouter", "sendWnt")),
        selector(find_entry("ExchangeRouter", "createOrder")),
    ]
    receiver, amount = _decode_call(calls[0], "ExchangeRouter", "sendWnt")
    assert (receiver.lower(), amount) == (ORDER_VAULT.lower(), 10**18 + 300_000 * GWEI)
    assert call.value == 10**18 + 300_000 * GWEI


def test_decrease_order_sends_only_its_fee() -> None:
    order = replace(
        STOP_LOSS, order_type=OrderType.MARKET_DECREASE, initial_collateral_delta_amount=500 * 10**6
    )
    call = order_multicall(ORDER_VAULT, order)
    (calls,) = _decode_call(call.data, "ExchangeRouter", "multicall")
    assert len(calls) == 2
    assert _decode_call(calls[0], "ExchangeRouter", "sendWnt")[1] == 320_000 * GWEI
    (params,) = _decode_call(calls[1], "ExchangeRouter", "createOrder")
    assert params[1][1] == 500 * 10**6  # collateral to withdraw
    assert call.value == 320_000 * GWEI


def test_single_calls_decode_with_sdk_types() -> None:
    assert _decode_call(cancel_order(ORDER_KEY), "ExchangeRouter", "cancelOrder") == (ORDER_KEY,)
    data = update_order(ORDER_KEY, 1, 2, 3, 4, 5, True)
    assert _decode_call(data, "ExchangeRouter", "updateOrder") == (ORDER_KEY, 1, 2, 3, 4, 5, True)


def test_bad_requests_are_refused() -> None:
    with pytest.raises(ValueError, match="take-profit"):
        order_multicall(ORDER_VAULT, INCREASE, take_profit=STOP_LOSS)
    with pytest.raises(ValueError, match="stop-loss"):
        order_multicall(ORDER_VAULT, INCREASE, stop_loss=TAKE_PROFIT)
    with pytest.raises(ValueError, match="keeper"):
        order_multicall(ORDER_VAULT, replace(STOP_LOSS, order_type=OrderType.LIQUIDATION))
    with pytest.raises(ValueError, match="unsigned"):
        replace(INCREASE, size_delta_usd=-1)
    with pytest.raises(ValueError, match="bytes32"):
        replace(INCREASE, referral_code=b"x")
    with pytest.raises(ValueError, match="order_vault"):
        update_order_multicall(ORDER_KEY, 0, 0, 0, 0, execution_fee_top_up=1)
    with pytest.raises(ValueError, match="slippage"):
        acceptable_price(ETH_PRICE, 10_001, is_long=True, is_increase=True)
