// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {RoleStore, RoleModule} from "./RoleStore.sol";
import {DataStore} from "./DataStore.sol";
import {EventEmitter} from "./EventEmitter.sol";
import {OrderVault, IERC20Min, IWNT} from "./Bank.sol";
import {PositionHandler} from "./PositionHandler.sol";
import {Keys} from "./Keys.sol";
import {MarketLogic} from "./MarketLogic.sol";
import {EventBuilder} from "./EventBuilder.sol";
import {Errors, Order, Market, Price, MarketUtils, EventUtils, OracleUtils, IBaseOrderUtils} from "./GmxTypes.sol";

/// Orders: create / update / cancel (for the ExchangeRouter, CONTROLLER-only), execute (ORDER_KEEPER) and
/// liquidations (LIQUIDATION_KEEPER).
///
/// Stand-in oracle: oracleParams.tokens[i] with providers[i] enabled in the DataStore
/// (IS_ORACLE_PROVIDER_ENABLED) and data[i] = abi.encode(uint256 minPrice, uint256 maxPrice), prices per
/// smallest unit in 1e30. The market's index, long and short token must all be priced. Real GMX verifies
/// signed oracle reports instead.
///
/// Failures: an unmet trigger (InvalidOrderPrices) reverts and the order stays; any other failure cancels
/// a market order (OrderCancelled with reasonBytes = the revert data, collateral and fee refunded) or
/// freezes a limit/stop order (OrderFrozen; a keeper may execute a frozen order again, and an update
/// unfreezes it).
///
/// Execution fee rule: the keeper gets min(executionFee, ESTIMATED_GAS_FEE_BASE_AMOUNT_V2_1 * tx.gasprice)
/// (the whole fee when that DataStore value is 0), the rest goes back to the order's account; both in
/// native ETH (WETH if the ETH transfer fails). A user's own cancel refunds the whole fee.
///
/// Auto-cancel, as GMX: a decrease order with autoCancel joins its position's AUTO_CANCEL_ORDER_LIST (at
/// most MAX_AUTO_CANCEL_ORDERS when that is set); when an execution or a liquidation closes the position,
/// every order on the list is cancelled with reason "AUTO_CANCEL" (the keeper's share of each fee paid).
contract OrderHandler is RoleModule {
    using EventBuilder for EventUtils.EventLogData;

    DataStore public immutable dataStore;
    EventEmitter public immutable eventEmitter;
    OrderVault public immutable orderVault;
    PositionHandler public immutable positionHandler;
    address public immutable wnt;

    constructor(
        RoleStore _roleStore,
        DataStore _dataStore,
        EventEmitter _eventEmitter,
        OrderVault _orderVault,
        PositionHandler _positionHandler,
        address _wnt
    ) RoleModule(_roleStore) {
        dataStore = _dataStore;
        eventEmitter = _eventEmitter;
        orderVault = _orderVault;
        positionHandler = _positionHandler;
        wnt = _wnt;
    }

    receive() external payable {}

    // ---- create / update / cancel ----

    function createOrder(address account, IBaseOrderUtils.CreateOrderParams memory params)
        external
        onlyController
        returns (bytes32 key)
    {
        uint256 t = params.orderType;
        if (t == Order.LIQUIDATION) revert Errors.OrderTypeCannotBeCreated(t);
        if (!Order.isIncrease(t) && !Order.isDecrease(t)) revert Errors.UnsupportedOrderType(t);
        if (params.addresses.swapPath.length != 0) revert Errors.SwapPathNotSupported();
        if (params.addresses.receiver == address(0)) revert Errors.EmptyReceiver();
        Market.Props memory m = MarketLogic.getMarket(dataStore, params.addresses.market);
        if (m.marketToken == address(0)) revert Errors.EmptyMarket();
        address collateral = params.addresses.initialCollateralToken;
        if (collateral != m.longToken && collateral != m.shortToken) {
            revert Errors.InvalidCollateralTokenForMarket(m.marketToken, collateral);
        }

        uint256 collateralAmount = params.numbers.initialCollateralDeltaAmount;
        bool separateFee = true;
        if (Order.isIncrease(t)) {
            collateralAmount = orderVault.recordTransferIn(collateral);
            if (collateral == wnt) {
                if (collateralAmount < params.numbers.executionFee) {
                    revert Errors.InsufficientWntAmountForExecutionFee(collateralAmount, params.numbers.executionFee);
                }
                collateralAmount -= params.numbers.executionFee;
                separateFee = false;
            }
        }
        if (separateFee) {
            uint256 wntAmount = orderVault.recordTransferIn(wnt);
            if (wntAmount < params.numbers.executionFee) {
                revert Errors.InsufficientWntAmountForExecutionFee(wntAmount, params.numbers.executionFee);
            }
            params.numbers.executionFee = wntAmount;
        }

        Order.Props memory o;
        o.addresses = Order.Addresses(
            account,
            params.addresses.receiver,
            params.addresses.cancellationReceiver,
            params.addresses.callbackContract,
            params.addresses.uiFeeReceiver,
            params.addresses.market,
            collateral,
            params.addresses.swapPath
        );
        o.numbers.orderType = params.orderType;
        o.numbers.decreasePositionSwapType = params.decreasePositionSwapType;
        o.numbers.sizeDeltaUsd = params.numbers.sizeDeltaUsd;
        o.numbers.initialCollateralDeltaAmount = collateralAmount;
        o.numbers.triggerPrice = params.numbers.triggerPrice;
        o.numbers.acceptablePrice = params.numbers.acceptablePrice;
        o.numbers.executionFee = params.numbers.executionFee;
        o.numbers.callbackGasLimit = params.numbers.callbackGasLimit;
        o.numbers.minOutputAmount = params.numbers.minOutputAmount;
        o.numbers.updatedAtTime = block.timestamp;
        o.numbers.validFromTime = params.numbers.validFromTime;
        o.flags = Order.Flags(params.isLong, params.shouldUnwrapNativeToken, false, params.autoCancel);
        o._dataList = params.dataList;

        key = Keys.orderKey(address(dataStore), dataStore.incrementUint(Keys.NONCE(), 1));
        _storeOrder(key, o);
        dataStore.addBytes32(Keys.ORDER_LIST(), key);
        dataStore.addBytes32(Keys.accountOrderListKey(account), key);
        _updateAutoCancelList(key, o);
        _emitOrderCreated(key, o);
    }

    function updateOrder(
        address account,
        bytes32 key,
        uint256 sizeDeltaUsd,
        uint256 acceptablePrice,
        uint256 triggerPrice,
        uint256 minOutputAmount,
        uint256 validFromTime,
        bool autoCancel
    ) external onlyController {
        Order.Props memory o = getOrder(key);
        if (o.addresses.account == address(0)) revert Errors.EmptyOrder();
        if (o.addresses.account != account) revert Errors.Unauthorized(account, "account for updateOrder");
        if (Order.isMarket(o.numbers.orderType)) revert Errors.OrderNotUpdatable(o.numbers.orderType);
        o.numbers.sizeDeltaUsd = sizeDeltaUsd;
        o.numbers.acceptablePrice = acceptablePrice;
        o.numbers.triggerPrice = triggerPrice;
        o.numbers.minOutputAmount = minOutputAmount;
        o.numbers.validFromTime = validFromTime;
        o.numbers.updatedAtTime = block.timestamp;
        o.numbers.executionFee += orderVault.recordTransferIn(wnt);
        o.flags.autoCancel = autoCancel;
        o.flags.isFrozen = false;
        _storeOrder(key, o);
        _updateAutoCancelList(key, o);

        EventUtils.EventLogData memory d = EventBuilder.init(1, 6, 0, 1, 1, 0, 0);
        d.addr(0, "account", account);
        d.u(0, "sizeDeltaUsd", sizeDeltaUsd);
        d.u(1, "acceptablePrice", acceptablePrice);
        d.u(2, "triggerPrice", triggerPrice);
        d.u(3, "minOutputAmount", minOutputAmount);
        d.u(4, "updatedAtTime", block.timestamp);
        d.u(5, "validFromTime", validFromTime);
        d.b(0, "autoCancel", autoCancel);
        d.b32(0, "key", key);
        eventEmitter.emitEventLog2("OrderUpdated", key, _topic(account), d);
    }

    /// A user's cancel (checked by the ExchangeRouter): collateral and the whole execution fee back.
    function cancelOrder(bytes32 key) external onlyController {
        Order.Props memory o = getOrder(key);
        if (o.addresses.account == address(0)) revert Errors.EmptyOrder();
        _cancel(key, o, "USER_INITIATED_CANCEL", "", address(0));
    }

    // ---- execution ----

    function executeOrder(bytes32 key, OracleUtils.SetPricesParams calldata oracleParams)
        external
        onlyRole(keccak256(abi.encode("ORDER_KEEPER")), "ORDER_KEEPER")
    {
        Order.Props memory o = getOrder(key);
        if (o.addresses.account == address(0)) revert Errors.EmptyOrder();
        if (block.timestamp < o.numbers.validFromTime) {
            revert Errors.OrderValidFromTimeNotReached(o.numbers.validFromTime, block.timestamp);
        }
        MarketUtils.MarketPrices memory prices = marketPrices(o.addresses.market, oracleParams);
        validateTriggerPrice(o.numbers.orderType, o.flags.isLong, o.numbers.triggerPrice, prices.indexTokenPrice);
        try positionHandler.executeOrder(key, o, prices) {
            _removeOrder(key, o);
            EventUtils.EventLogData memory d = EventBuilder.init(1, 1, 0, 0, 1, 0, 0);
            d.addr(0, "account", o.addresses.account);
            d.u(0, "secondaryOrderType", 0);
            d.b32(0, "key", key);
            eventEmitter.emitEventLog2("OrderExecuted", key, _topic(o.addresses.account), d);
            _payExecutionFee(o.numbers.executionFee, msg.sender, o.addresses.account);
            if (Order.isDecrease(o.numbers.orderType)) _clearAutoCancelOrdersIfClosed(_positionKey(o));
        } catch (bytes memory reason) {
            if (Order.isMarket(o.numbers.orderType)) {
                _cancel(key, o, reasonString(reason), reason, msg.sender);
            } else {
                _freeze(key, o, reason);
            }
        }
    }

    function executeLiquidation(
        address account,
        address market,
        address collateralToken,
        bool isLong,
        OracleUtils.SetPricesParams calldata oracleParams
    ) external onlyRole(keccak256(abi.encode("LIQUIDATION_KEEPER")), "LIQUIDATION_KEEPER") {
        MarketUtils.MarketPrices memory prices = marketPrices(market, oracleParams);
        Order.Props memory o;
        o.addresses.account = account;
        o.addresses.receiver = account;
        o.addresses.market = market;
        o.addresses.initialCollateralToken = collateralToken;
        o.addresses.swapPath = new address[](0);
        o.numbers.orderType = uint8(Order.LIQUIDATION);
        o.numbers.updatedAtTime = block.timestamp;
        o.flags.isLong = isLong;
        o._dataList = new bytes32[](0);
        bytes32 key = Keys.orderKey(address(dataStore), dataStore.incrementUint(Keys.NONCE(), 1));
        _emitOrderCreated(key, o);
        positionHandler.liquidate(key, o, prices);
        EventUtils.EventLogData memory d = EventBuilder.init(1, 1, 0, 0, 1, 0, 0);
        d.addr(0, "account", account);
        d.u(0, "secondaryOrderType", 0);
        d.b32(0, "key", key);
        eventEmitter.emitEventLog2("OrderExecuted", key, _topic(account), d);
        _clearAutoCancelOrdersIfClosed(_positionKey(o));
    }

    /// The market's index / long / short prices from the stand-in oracle params.
    function marketPrices(address market, OracleUtils.SetPricesParams calldata op)
        public
        view
        returns (MarketUtils.MarketPrices memory prices)
    {
        if (op.tokens.length != op.providers.length || op.tokens.length != op.data.length) {
            revert Errors.InvalidOracleSetPricesProvidersParam(op.tokens.length, op.providers.length);
        }
        for (uint256 i = 0; i < op.providers.length; i++) {
            if (!dataStore.getBool(Keys.isOracleProviderEnabledKey(op.providers[i]))) {
                revert Errors.InvalidOracleProvider(op.providers[i]);
            }
        }
        Market.Props memory m = MarketLogic.getMarket(dataStore, market);
        if (m.marketToken == address(0)) revert Errors.EmptyMarket();
        prices.indexTokenPrice = _price(op, m.indexToken);
        prices.longTokenPrice = _price(op, m.longToken);
        prices.shortTokenPrice = _price(op, m.shortToken);
    }

    function _price(OracleUtils.SetPricesParams calldata op, address token) internal pure returns (Price.Props memory p) {
        for (uint256 i = 0; i < op.tokens.length; i++) {
            if (op.tokens[i] == token) {
                (p.min, p.max) = abi.decode(op.data[i], (uint256, uint256));
                if (p.min == 0 || p.max < p.min) revert Errors.EmptyPrimaryPrice(token);
                return p;
            }
        }
        revert Errors.EmptyPrimaryPrice(token);
    }

    // ---- trigger prices (GMX's rules; a failed check reverts InvalidOrderPrices and the order stays) ----

    function validateTriggerPrice(uint256 t, bool isLong, uint256 triggerPrice, Price.Props memory p) public pure {
        bool ok = true;
        if (t == Order.LIMIT_INCREASE) ok = isLong ? p.max <= triggerPrice : p.min >= triggerPrice;
        else if (t == Order.STOP_INCREASE) ok = isLong ? p.min >= triggerPrice : p.max <= triggerPrice;
        else if (t == Order.LIMIT_DECREASE) ok = isLong ? p.min >= triggerPrice : p.max <= triggerPrice;
        else if (t == Order.STOP_LOSS_DECREASE) ok = isLong ? p.min <= triggerPrice : p.max >= triggerPrice;
        if (!ok) revert Errors.InvalidOrderPrices(p.min, p.max, triggerPrice, t);
    }

    // ---- internals ----

    function _cancel(bytes32 key, Order.Props memory o, string memory reason, bytes memory reasonBytes, address keeper)
        internal
    {
        _removeOrder(key, o);
        if (Order.isIncrease(o.numbers.orderType)) {
            address to = o.addresses.cancellationReceiver != address(0) ? o.addresses.cancellationReceiver : o.addresses.account;
            orderVault.transferOut(o.addresses.initialCollateralToken, to, o.numbers.initialCollateralDeltaAmount);
        }
        EventUtils.EventLogData memory d = EventBuilder.init(1, 0, 0, 0, 1, 1, 1);
        d.addr(0, "account", o.addresses.account);
        d.b32(0, "key", key);
        d.raw(0, "reasonBytes", reasonBytes);
        d.str(0, "reason", reason);
        eventEmitter.emitEventLog2("OrderCancelled", key, _topic(o.addresses.account), d);
        if (keeper == address(0)) _payExecutionFee(o.numbers.executionFee, o.addresses.account, o.addresses.account);
        else _payExecutionFee(o.numbers.executionFee, keeper, o.addresses.account);
    }

    function _freeze(bytes32 key, Order.Props memory o, bytes memory reasonBytes) internal {
        uint256 fee = o.numbers.executionFee;
        o.flags.isFrozen = true;
        o.numbers.executionFee = 0;
        _storeOrder(key, o);
        EventUtils.EventLogData memory d = EventBuilder.init(1, 0, 0, 0, 1, 1, 1);
        d.addr(0, "account", o.addresses.account);
        d.b32(0, "key", key);
        d.raw(0, "reasonBytes", reasonBytes);
        d.str(0, "reason", reasonString(reasonBytes));
        eventEmitter.emitEventLog2("OrderFrozen", key, _topic(o.addresses.account), d);
        _payExecutionFee(fee, msg.sender, o.addresses.account);
    }

    function _payExecutionFee(uint256 fee, address keeper, address refundReceiver) internal {
        if (fee == 0) return;
        uint256 baseGas = dataStore.getUint(Keys.ESTIMATED_GAS_FEE_BASE_AMOUNT_V2_1());
        uint256 keeperFee = fee;
        if (baseGas != 0 && baseGas * tx.gasprice < fee) keeperFee = baseGas * tx.gasprice;
        orderVault.transferOut(wnt, address(this), fee);
        IWNT(wnt).withdraw(fee);
        _sendNative(keeper, keeperFee);
        _sendNative(refundReceiver, fee - keeperFee);
    }

    function _sendNative(address to, uint256 amount) internal {
        if (amount == 0) return;
        (bool ok,) = to.call{value: amount, gas: 50_000}("");
        if (!ok) {
            IWNT(wnt).deposit{value: amount}();
            IERC20Min(wnt).transfer(to, amount);
        }
    }

    /// The revert reason as text, as GMX's ErrorUtils.getRevertMessage: Error(string)'s message, else ""
    /// (a custom error is only in reasonBytes; clients decode it from there).
    function reasonString(bytes memory reason) public pure returns (string memory) {
        if (reason.length < 68 || bytes4(reason) != 0x08c379a0) return "";
        bytes memory body = new bytes(reason.length - 4);
        for (uint256 i = 0; i < body.length; i++) body[i] = reason[i + 4];
        return abi.decode(body, (string));
    }

    function getOrder(bytes32 key) public view returns (Order.Props memory o) {
        bytes memory raw = dataStore.getBytes(key);
        if (raw.length != 0) o = abi.decode(raw, (Order.Props));
    }

    function _storeOrder(bytes32 key, Order.Props memory o) internal {
        dataStore.setBytes(key, abi.encode(o));
    }

    function _removeOrder(bytes32 key, Order.Props memory o) internal {
        dataStore.removeBytes(key);
        dataStore.removeBytes32(Keys.ORDER_LIST(), key);
        dataStore.removeBytes32(Keys.accountOrderListKey(o.addresses.account), key);
        if (Order.isDecrease(o.numbers.orderType)) {
            dataStore.removeBytes32(Keys.autoCancelOrderListKey(_positionKey(o)), key);
        }
    }

    function _positionKey(Order.Props memory o) internal pure returns (bytes32) {
        return Keys.positionKey(o.addresses.account, o.addresses.market, o.addresses.initialCollateralToken, o.flags.isLong);
    }

    /// Keeps the position's auto-cancel list in step with the order's flag (decrease orders only).
    function _updateAutoCancelList(bytes32 key, Order.Props memory o) internal {
        if (!Order.isDecrease(o.numbers.orderType)) return;
        bytes32 list = Keys.autoCancelOrderListKey(_positionKey(o));
        if (!o.flags.autoCancel) {
            dataStore.removeBytes32(list, key);
            return;
        }
        if (dataStore.containsBytes32(list, key)) return;
        uint256 max = dataStore.getUint(Keys.MAX_AUTO_CANCEL_ORDERS());
        uint256 count = dataStore.getBytes32Count(list);
        if (max != 0 && count >= max) revert Errors.MaxAutoCancelOrdersExceeded(count, max);
        dataStore.addBytes32(list, key);
    }

    function _clearAutoCancelOrdersIfClosed(bytes32 positionKey) internal {
        if (dataStore.getBytes(positionKey).length != 0) return;
        bytes32 list = Keys.autoCancelOrderListKey(positionKey);
        bytes32[] memory keys = dataStore.getBytes32ValuesAt(list, 0, dataStore.getBytes32Count(list));
        for (uint256 i = 0; i < keys.length; i++) _cancel(keys[i], getOrder(keys[i]), "AUTO_CANCEL", "", msg.sender);
    }

    function _topic(address a) internal pure returns (bytes32) {
        return bytes32(uint256(uint160(a)));
    }

    function _emitOrderCreated(bytes32 key, Order.Props memory o) internal {
        EventUtils.EventLogData memory d = EventBuilder.init(7, 11, 0, 4, 1, 0, 0);
        d.addr(0, "account", o.addresses.account);
        d.addr(1, "receiver", o.addresses.receiver);
        d.addr(2, "cancellationReceiver", o.addresses.cancellationReceiver);
        d.addr(3, "callbackContract", o.addresses.callbackContract);
        d.addr(4, "uiFeeReceiver", o.addresses.uiFeeReceiver);
        d.addr(5, "market", o.addresses.market);
        d.addr(6, "initialCollateralToken", o.addresses.initialCollateralToken);
        d.addrArray("swapPath", o.addresses.swapPath);
        d.u(0, "orderType", o.numbers.orderType);
        d.u(1, "decreasePositionSwapType", o.numbers.decreasePositionSwapType);
        d.u(2, "sizeDeltaUsd", o.numbers.sizeDeltaUsd);
        d.u(3, "initialCollateralDeltaAmount", o.numbers.initialCollateralDeltaAmount);
        d.u(4, "triggerPrice", o.numbers.triggerPrice);
        d.u(5, "acceptablePrice", o.numbers.acceptablePrice);
        d.u(6, "executionFee", o.numbers.executionFee);
        d.u(7, "callbackGasLimit", o.numbers.callbackGasLimit);
        d.u(8, "minOutputAmount", o.numbers.minOutputAmount);
        d.u(9, "updatedAtTime", o.numbers.updatedAtTime);
        d.u(10, "validFromTime", o.numbers.validFromTime);
        d.b(0, "isLong", o.flags.isLong);
        d.b(1, "shouldUnwrapNativeToken", o.flags.shouldUnwrapNativeToken);
        d.b(2, "isFrozen", o.flags.isFrozen);
        d.b(3, "autoCancel", o.flags.autoCancel);
        d.b32(0, "key", key);
        eventEmitter.emitEventLog2("OrderCreated", key, _topic(o.addresses.account), d);
    }
}
