// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Vm, MockERC20, MockWETH} from "./Mocks.sol";
import {RoleStore} from "../RoleStore.sol";
import {DataStore} from "../DataStore.sol";
import {EventEmitter} from "../EventEmitter.sol";
import {Router} from "../Router.sol";
import {OrderVault} from "../Bank.sol";
import {PositionEvents} from "../PositionEvents.sol";
import {PositionHandler} from "../PositionHandler.sol";
import {OrderHandler} from "../OrderHandler.sol";
import {ExchangeRouter} from "../ExchangeRouter.sol";
import {Reader} from "../Reader.sol";
import {Config} from "../Config.sol";
import {Keys} from "../Keys.sol";
import {
    Errors, Order, Position, Price, MarketUtils, OracleUtils, IBaseOrderUtils, ReaderPositionUtils, EventUtils, Market
} from "../GmxTypes.sol";

contract GmxStandInTest {
    Vm constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));
    address constant KEEPER = address(0xCAFE);
    address constant PROVIDER = address(0xBEEF);
    address constant USER = address(0xA11CE);
    address constant OTHER = address(0xB0B);
    uint256 constant FEE = 0.01 ether;
    uint256 constant ETH_3000 = 3000e12; // $3000 per 1e18 wei, per-unit price in 1e30
    uint256 constant USDC_1 = 1e24;

    RoleStore roles;
    DataStore ds;
    EventEmitter emitter;
    Router router;
    OrderVault vault;
    PositionHandler positionHandler;
    OrderHandler orderHandler;
    ExchangeRouter exchangeRouter;
    Reader reader;
    Config config;
    MockWETH weth;
    MockERC20 usdc;
    address market;

    function setUp() public {
        weth = new MockWETH();
        usdc = new MockERC20("USDC", 6);
        roles = new RoleStore();
        ds = new DataStore(roles);
        emitter = new EventEmitter(roles);
        router = new Router(roles);
        vault = new OrderVault(roles);
        PositionEvents events = new PositionEvents(roles, emitter);
        positionHandler = new PositionHandler(roles, ds, emitter, vault, events);
        orderHandler = new OrderHandler(roles, ds, emitter, vault, positionHandler, address(weth));
        exchangeRouter = new ExchangeRouter(router, ds, orderHandler, address(weth));
        reader = new Reader();
        config = new Config(roles, ds);
        bytes32 controller = Keys.CONTROLLER();
        roles.grantRole(address(this), controller);
        roles.grantRole(address(config), controller);
        roles.grantRole(address(events), controller);
        roles.grantRole(address(positionHandler), controller);
        roles.grantRole(address(orderHandler), controller);
        roles.grantRole(address(exchangeRouter), controller);
        roles.grantRole(address(exchangeRouter), Keys.ROUTER_PLUGIN());
        roles.grantRole(KEEPER, Keys.ORDER_KEEPER());
        roles.grantRole(KEEPER, Keys.LIQUIDATION_KEEPER());
        config.setOracleProvider(PROVIDER, true);

        market = config.createMarket(address(weth), address(weth), address(usdc));
        _set(Keys.positionFeeFactorKey(market, true), 5e26); // 0.05%
        _set(Keys.positionFeeFactorKey(market, false), 7e26); // 0.07%
        _set(Keys.positionImpactFactorKey(market, true), 5e20);
        _set(Keys.positionImpactFactorKey(market, false), 1e21);
        _set(Keys.positionImpactExponentFactorKey(market, true), 2e30);
        _set(Keys.positionImpactExponentFactorKey(market, false), 2e30);
        _set(Keys.maxPositionImpactFactorKey(market, true), 5e27);
        _set(Keys.maxPositionImpactFactorKey(market, false), 5e27);
        _set(Keys.maxPositionImpactFactorForLiquidationsKey(market), 1e28);
        _set(Keys.minCollateralFactorKey(market), 1e28); // 1%: 100x
        _set(Keys.minCollateralFactorForLiquidationKey(market), 5e27);
        _set(Keys.MIN_COLLATERAL_USD(), 1e30);
        _set(Keys.maxOpenInterestKey(market, true), 1e37);
        _set(Keys.maxOpenInterestKey(market, false), 1e37);
        _set(Keys.reserveFactorKey(market, true), 1e30);
        _set(Keys.reserveFactorKey(market, false), 1e30);
        _set(Keys.maxPnlFactorKey(Keys.MAX_PNL_FACTOR_FOR_TRADERS(), market, true), 9e29);
        _set(Keys.maxPnlFactorKey(Keys.MAX_PNL_FACTOR_FOR_TRADERS(), market, false), 9e29);
        _set(Keys.positionImpactPoolAmountKey(market), 1e18);
        weth.mint(address(this), 1000e18);
        usdc.mint(address(this), 3_000_000e6);
        weth.approve(address(config), type(uint256).max);
        usdc.approve(address(config), type(uint256).max);
        config.depositToPool(market, address(weth), 1000e18);
        config.depositToPool(market, address(usdc), 3_000_000e6);

        usdc.mint(USER, 10_000e6);
        vm.deal(USER, 1 ether);
        vm.prank(USER);
        usdc.approve(address(router), type(uint256).max);
    }

    function _set(bytes32 key, uint256 value) internal {
        ds.setUint(key, value);
    }

    function _params(uint256 orderType, bool isLong, uint256 size, uint256 acceptable, uint256 trigger, uint256 collateral)
        internal
        view
        returns (IBaseOrderUtils.CreateOrderParams memory p)
    {
        p.addresses.receiver = USER;
        p.addresses.market = market;
        p.addresses.initialCollateralToken = address(usdc);
        p.addresses.swapPath = new address[](0);
        p.numbers.sizeDeltaUsd = size;
        p.numbers.initialCollateralDeltaAmount = collateral;
        p.numbers.acceptablePrice = acceptable;
        p.numbers.triggerPrice = trigger;
        p.numbers.executionFee = FEE;
        p.orderType = uint8(orderType);
        p.isLong = isLong;
        p.dataList = new bytes32[](0);
    }

    function _create(IBaseOrderUtils.CreateOrderParams memory p, uint256 collateralSent) internal returns (bytes32) {
        bytes[] memory calls = new bytes[](collateralSent == 0 ? 2 : 3);
        calls[0] = abi.encodeCall(ExchangeRouter.sendWnt, (address(vault), FEE));
        uint256 i = 1;
        if (collateralSent != 0) {
            calls[i++] = abi.encodeCall(ExchangeRouter.sendTokens, (address(usdc), address(vault), collateralSent));
        }
        calls[i] = abi.encodeWithSelector(bytes4(0xf59c48eb), p);
        vm.prank(USER);
        bytes[] memory results = exchangeRouter.multicall{value: FEE}(calls);
        return abi.decode(results[i], (bytes32));
    }

    function _oracle(uint256 ethPrice) internal view returns (OracleUtils.SetPricesParams memory op) {
        op.tokens = new address[](2);
        op.providers = new address[](2);
        op.data = new bytes[](2);
        op.tokens[0] = address(weth);
        op.tokens[1] = address(usdc);
        op.providers[0] = PROVIDER;
        op.providers[1] = PROVIDER;
        op.data[0] = abi.encode(ethPrice, ethPrice);
        op.data[1] = abi.encode(USDC_1, USDC_1);
    }

    function _prices(uint256 ethPrice) internal pure returns (MarketUtils.MarketPrices memory m) {
        m.indexTokenPrice = Price.Props(ethPrice, ethPrice);
        m.longTokenPrice = Price.Props(ethPrice, ethPrice);
        m.shortTokenPrice = Price.Props(USDC_1, USDC_1);
    }

    function _openLong(uint256 collateral) internal returns (bytes32 positionKey) {
        bytes32 key = _create(_params(Order.MARKET_INCREASE, true, 10_000e30, 3100e12, 0, 0), collateral);
        vm.prank(KEEPER);
        orderHandler.executeOrder(key, _oracle(ETH_3000));
        positionKey = Keys.positionKey(USER, market, address(usdc), true);
    }

    function _eq(uint256 a, uint256 b, string memory what) internal pure {
        if (a != b) revert(string(abi.encodePacked(what, " mismatch")));
    }

    // ---- tests ----

    function test_selectors() public pure {
        _eq(uint32(ExchangeRouter.multicall.selector), 0xac9650d8, "multicall");
        _eq(uint32(ExchangeRouter.sendWnt.selector), 0x7d39aaf1, "sendWnt");
        _eq(uint32(ExchangeRouter.sendTokens.selector), 0xe6d66ac8, "sendTokens");
        _eq(uint32(ExchangeRouter.cancelOrder.selector), 0x7489ec23, "cancelOrder");
        _eq(uint32(ExchangeRouter.updateOrder.selector), 0xdd5baad2, "updateOrder");
        _eq(uint32(OrderHandler.executeOrder.selector), 0x7ebc83f7, "executeOrder");
        _eq(uint32(Reader.getPositionInfo.selector), 0x0815bce1, "getPositionInfo");
        _eq(uint32(Reader.getAccountPositions.selector), 0x77cfb162, "getAccountPositions");
        _eq(uint32(Reader.getAccountOrders.selector), 0x42a6f8d3, "getAccountOrders");
        _eq(uint32(Reader.getMarkets.selector), 0xce3264bf, "getMarkets");
        _eq(uint32(Router.pluginTransfer.selector), 0x1b827878, "pluginTransfer");
        _eq(uint256(EventEmitter.EventLog1.selector), 0x137a44067c8961cd7e1d876f4754a5a3a75989b4552f1843fc69c3b372def160, "EventLog1");
        _eq(uint256(EventEmitter.EventLog2.selector), 0x468a25a7ba624ceea6e540ad6f49171b52495b648417ae91bca21676d8a24dc5, "EventLog2");
    }

    function test_marketIncreaseThenReader() public {
        bytes32 pk = _openLong(1000e6);
        Position.Props[] memory ps = reader.getAccountPositions(ds, USER, 0, 10);
        _eq(ps.length, 1, "positions");
        Position.Props memory p = ps[0];
        _eq(p.numbers.sizeInUsd, 10_000e30, "size");
        _eq(p.numbers.sizeInTokens, 10_000e30 / ETH_3000, "tokens");
        // fee: 10k * 0.07% (balance not improved) = $7 = 7e6 USDC
        _eq(p.numbers.collateralAmount, 993e6, "collateral");
        // impact: (1e34^2 / 1e30) * 1e21 / 1e30 = 1e29 ($0.1), kept as index tokens rounded up
        require(p.numbers.pendingImpactAmount == -int256((uint256(1e29) + ETH_3000 - 1) / ETH_3000), "pending impact");
        _eq(usdc.balanceOf(USER), 9_000e6, "user usdc");
        _eq(ds.getUint(Keys.openInterestKey(market, address(usdc), true)), 10_000e30, "oi");
        _eq(ds.getUint(Keys.poolAmountKey(market, address(usdc))), 3_000_000e6 + 7e6, "pool");
        ReaderPositionUtils.PositionInfo memory info =
            reader.getPositionInfo(ds, address(0), pk, _prices(ETH_3000), 0, address(0), true);
        _eq(info.fees.positionFeeAmount, 5e6, "closing fee (improves balance)");
        require(info.basePnlUsd == int256(p.numbers.sizeInTokens * ETH_3000) - 10_000e30, "pnl");
        require(reader.getAccountOrders(ds, USER, 0, 10).length == 0, "order removed");
    }

    function test_decreaseWithProfit() public {
        _openLong(1000e6);
        bytes32 key = _create(_params(Order.MARKET_DECREASE, true, 10_000e30, 3200e12, 0, 0), 0);
        uint256 before = usdc.balanceOf(USER);
        vm.prank(KEEPER);
        orderHandler.executeOrder(key, _oracle(3300e12));
        uint256 received = usdc.balanceOf(USER) - before;
        // collateral 993 + PnL ~1000 - close fee 5 - impact cents
        require(received > 1987e6 && received < 1988e6, "payout");
        require(reader.getAccountPositions(ds, USER, 0, 10).length == 0, "closed");
        _eq(ds.getUint(Keys.openInterestKey(market, address(usdc), true)), 0, "oi");
    }

    function test_cancelledMarketOrderHasReason() public {
        bytes32 key = _create(_params(Order.MARKET_INCREASE, true, 10_000e30, 2900e12, 0, 0), 1000e6);
        vm.recordLogs();
        vm.prank(KEEPER);
        orderHandler.executeOrder(key, _oracle(ETH_3000));
        Vm.Log[] memory logs = vm.getRecordedLogs();
        bytes memory reasonBytes;
        string memory reason;
        for (uint256 i = 0; i < logs.length; i++) {
            if (logs[i].topics[0] != EventEmitter.EventLog2.selector) continue;
            if (logs[i].topics[1] != keccak256(bytes("OrderCancelled"))) continue;
            (, , EventUtils.EventLogData memory d) = abi.decode(logs[i].data, (address, string, EventUtils.EventLogData));
            reasonBytes = d.bytesItems.items[0].value;
            reason = d.stringItems.items[0].value;
        }
        (bytes4 sel, uint256 price, uint256 acceptable) = _decodeReason(reasonBytes);
        require(sel == Errors.OrderNotFulfillableAtAcceptablePrice.selector, "selector");
        _eq(acceptable, 2900e12, "acceptable");
        require(price > ETH_3000, "execution price includes the negative impact");
        require(bytes(reason).length == 0, "a custom error leaves reason empty, as GMX's getRevertMessage");
        _eq(usdc.balanceOf(USER), 10_000e6, "collateral refunded");
        // ESTIMATED_GAS_FEE_BASE_AMOUNT_V2_1 unset: the keeper keeps the whole execution fee
        _eq(KEEPER.balance, FEE, "keeper fee");
        _eq(USER.balance, 1 ether - FEE, "no refund");
    }

    function _decodeReason(bytes memory r) internal pure returns (bytes4 sel, uint256 a, uint256 b) {
        sel = bytes4(r);
        bytes memory body = new bytes(r.length - 4);
        for (uint256 i = 0; i < body.length; i++) body[i] = r[i + 4];
        (a, b) = abi.decode(body, (uint256, uint256));
    }

    function test_userCancelRefundsAndOnlyAccount() public {
        bytes32 key = _create(_params(Order.LIMIT_INCREASE, true, 10_000e30, 3100e12, 2900e12, 0), 1000e6);
        _eq(usdc.balanceOf(USER), 9_000e6, "sent");
        vm.prank(OTHER);
        vm.expectRevert(abi.encodeWithSelector(Errors.Unauthorized.selector, OTHER, "account for cancelOrder"));
        exchangeRouter.cancelOrder(key);
        vm.prank(USER);
        exchangeRouter.cancelOrder(key);
        _eq(usdc.balanceOf(USER), 10_000e6, "collateral back");
        _eq(USER.balance, 1 ether, "fee back");
    }

    function test_accessControl() public {
        bytes32 key = _create(_params(Order.MARKET_INCREASE, true, 10_000e30, 3100e12, 0, 0), 1000e6);
        OracleUtils.SetPricesParams memory op = _oracle(ETH_3000);
        vm.prank(OTHER);
        vm.expectRevert(abi.encodeWithSelector(Errors.Unauthorized.selector, OTHER, "ORDER_KEEPER"));
        orderHandler.executeOrder(key, op);
        vm.prank(OTHER);
        vm.expectRevert(abi.encodeWithSelector(Errors.Unauthorized.selector, OTHER, "ROUTER_PLUGIN"));
        router.pluginTransfer(address(usdc), USER, OTHER, 1);
        op.providers[0] = OTHER;
        vm.prank(KEEPER);
        vm.expectRevert(abi.encodeWithSelector(Errors.InvalidOracleProvider.selector, OTHER));
        orderHandler.executeOrder(key, op);
    }

    function test_limitIncreaseTrigger() public {
        bytes32 key = _create(_params(Order.LIMIT_INCREASE, true, 10_000e30, 3000e12, 2900e12, 0), 1000e6);
        vm.prank(KEEPER);
        vm.expectRevert(
            abi.encodeWithSelector(Errors.InvalidOrderPrices.selector, ETH_3000, ETH_3000, 2900e12, Order.LIMIT_INCREASE)
        );
        orderHandler.executeOrder(key, _oracle(ETH_3000));
        vm.prank(KEEPER);
        orderHandler.executeOrder(key, _oracle(2900e12));
        _eq(reader.getAccountPositions(ds, USER, 0, 10).length, 1, "opened");
    }

    function test_takeProfitAndStopLossTriggers() public {
        _openLong(1000e6);
        bytes32 tp = _create(_params(Order.LIMIT_DECREASE, true, 5_000e30, 3200e12, 3300e12, 0), 0);
        bytes32 sl = _create(_params(Order.STOP_LOSS_DECREASE, true, 5_000e30, 2600e12, 2700e12, 0), 0);
        vm.prank(KEEPER);
        vm.expectRevert(
            abi.encodeWithSelector(Errors.InvalidOrderPrices.selector, 3200e12, 3200e12, 3300e12, Order.LIMIT_DECREASE)
        );
        orderHandler.executeOrder(tp, _oracle(3200e12));
        vm.prank(KEEPER);
        vm.expectRevert(
            abi.encodeWithSelector(Errors.InvalidOrderPrices.selector, 3200e12, 3200e12, 2700e12, Order.STOP_LOSS_DECREASE)
        );
        orderHandler.executeOrder(sl, _oracle(3200e12));
        vm.prank(KEEPER);
        orderHandler.executeOrder(tp, _oracle(3300e12));
        vm.prank(KEEPER);
        orderHandler.executeOrder(sl, _oracle(2700e12));
        _eq(reader.getAccountPositions(ds, USER, 0, 10).length, 0, "both halves closed");
    }

    function test_borrowingAccrues() public {
        _set(Keys.borrowingFactorKey(market, true), 1e22);
        bytes32 pk = _openLong(1000e6);
        vm.warp(block.timestamp + 3600);
        ReaderPositionUtils.PositionInfo memory info =
            reader.getPositionInfo(ds, address(0), pk, _prices(ETH_3000), 0, address(0), true);
        // rate = 1e22 * (reserved / pool) with reserved = tokens * max price, pool = 1000 ETH at min
        uint256 tokens = 10_000e30 / ETH_3000;
        uint256 rate = (tokens * ETH_3000) * 1e30 / (1000e18 * ETH_3000) * 1e22 / 1e30;
        _eq(info.fees.borrowing.borrowingFeeUsd, 10_000e30 * (rate * 3600) / 1e30, "borrowing fee");
    }

    function test_liquidation() public {
        bytes32 pk = _openLong(200e6);
        OracleUtils.SetPricesParams memory op = _oracle(ETH_3000);
        vm.prank(KEEPER);
        (bool ok, bytes memory err) = address(orderHandler).call(
            abi.encodeCall(OrderHandler.executeLiquidation, (USER, market, address(usdc), true, op))
        );
        require(!ok && bytes4(err) == Errors.PositionShouldNotBeLiquidated.selector, "healthy position kept");
        vm.prank(KEEPER);
        orderHandler.executeLiquidation(USER, market, address(usdc), true, _oracle(2950e12));
        require(reader.getPosition(ds, pk).numbers.sizeInUsd == 0, "liquidated");
        uint256 bal = usdc.balanceOf(USER);
        require(bal > 9_800e6 && bal < 9_800e6 + 30e6, "only the remaining collateral comes back");
    }
}
