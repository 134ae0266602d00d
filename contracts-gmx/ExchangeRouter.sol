// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {RoleStore} from "./RoleStore.sol";
import {DataStore} from "./DataStore.sol";
import {Router} from "./Router.sol";
import {OrderHandler} from "./OrderHandler.sol";
import {IERC20Min, IWNT} from "./Bank.sol";
import {Errors, Order, IBaseOrderUtils} from "./GmxTypes.sol";

/// The user entry point: multicall([sendWnt, sendTokens, createOrder]) as the SDK builds it.
/// Needs ROUTER_PLUGIN (Router.pluginTransfer) and CONTROLLER (OrderHandler's create/update/cancel).
contract ExchangeRouter {
    Router public immutable router;
    DataStore public immutable dataStore;
    OrderHandler public immutable orderHandler;
    address public immutable wnt;

    constructor(Router _router, DataStore _dataStore, OrderHandler _orderHandler, address _wnt) {
        router = _router;
        dataStore = _dataStore;
        orderHandler = _orderHandler;
        wnt = _wnt;
    }

    /// delegatecalls each item to this contract (msg.sender and msg.value carry over; sendWnt can only
    /// wrap ETH that came with the call, since the router holds none between transactions).
    function multicall(bytes[] calldata data) external payable returns (bytes[] memory results) {
        results = new bytes[](data.length);
        for (uint256 i = 0; i < data.length; i++) {
            (bool ok, bytes memory result) = address(this).delegatecall(data[i]);
            if (!ok) {
                assembly {
                    revert(add(result, 32), mload(result))
                }
            }
            results[i] = result;
        }
    }

    function sendWnt(address receiver, uint256 amount) external payable {
        if (receiver == address(0)) revert Errors.EmptyReceiver();
        IWNT(wnt).deposit{value: amount}();
        require(IERC20Min(wnt).transfer(receiver, amount), "ExchangeRouter: WNT transfer failed");
    }

    function sendTokens(address token, address receiver, uint256 amount) external payable {
        if (receiver == address(0)) revert Errors.EmptyReceiver();
        router.pluginTransfer(token, msg.sender, receiver, amount);
    }

    /// v2.2 encoding (selector 0xf59c48eb).
    function createOrder(IBaseOrderUtils.CreateOrderParams calldata params) external payable returns (bytes32) {
        return orderHandler.createOrder(msg.sender, params);
    }

    /// v2.1 encoding (selector 0x6996807b): no dataList.
    function createOrder(IBaseOrderUtils.CreateOrderParamsV21 calldata p) external payable returns (bytes32) {
        IBaseOrderUtils.CreateOrderParams memory params = IBaseOrderUtils.CreateOrderParams(
            p.addresses,
            p.numbers,
            p.orderType,
            p.decreasePositionSwapType,
            p.isLong,
            p.shouldUnwrapNativeToken,
            p.autoCancel,
            p.referralCode,
            new bytes32[](0)
        );
        return orderHandler.createOrder(msg.sender, params);
    }

    function updateOrder(
        bytes32 key,
        uint256 sizeDeltaUsd,
        uint256 acceptablePrice,
        uint256 triggerPrice,
        uint256 minOutputAmount,
        uint256 validFromTime,
        bool autoCancel
    ) external payable {
        orderHandler.updateOrder(
            msg.sender, key, sizeDeltaUsd, acceptablePrice, triggerPrice, minOutputAmount, validFromTime, autoCancel
        );
    }

    function cancelOrder(bytes32 key) external payable {
        Order.Props memory o = orderHandler.getOrder(key);
        if (o.addresses.account == address(0)) revert Errors.EmptyOrder();
        if (o.addresses.account != msg.sender) revert Errors.Unauthorized(msg.sender, "account for cancelOrder");
        orderHandler.cancelOrder(key);
    }
}
