// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IWETH9} from "./interfaces/IWETH9.sol";
import {Guarded} from "./Guarded.sol";
import {IERC20Balance, IV2Router, IV3Router02} from "./AaveLoop.sol";

/// The two Aave v3 Pool calls a liquidation makes.
interface IAaveLiquidationPool {
    function flashLoanSimple(address receiver, address asset, uint256 amount, bytes calldata params, uint16 referral)
        external;
    function liquidationCall(address collateral, address debt, address user, uint256 debtToCover, bool receiveAToken)
        external;
}

interface IERC20Allowance {
    function allowance(address owner, address spender) external view returns (uint256);
}

/// @title Liquidator: one Aave v3 liquidation per transaction, funded by an Aave flash loan.
/// @notice Flash-borrows the debt asset, repays `debtToCover` of the user's debt through liquidationCall, sells
///         all the collateral seized for the debt asset in one Uniswap swap and repays the loan. Reverts unless
///         the debt-asset balance grew by minProfit (plus the builder payment when that is paid out of WETH
///         profit). Only the owner and allow-listed callers liquidate; only the owner moves funds out. There is no
///         arbitrary-call path and no approval outlives a call.
/// @dev Amounts are measured, never assumed: Aave may cover less than `debtToCover` (close factor, or not enough
///      collateral), so the debt covered is what the Pool pulled (the exact approval minus what is left of it)
///      and the collateral seized is the balance delta. With collateral == debt there is no swap and the swap
///      output reported is the collateral seized.
///
/// Builder payment goes to block.coinbase in ETH. When the debt asset is WETH it is unwrapped out of the profit
/// and counted against it (balanceAfter >= balanceBefore + minProfit + payment); otherwise the wei come from this
/// contract's ETH balance (fund it beforehand).
///
/// Addresses are mainnet's (also the devnet replica's). No immutables, so the deployed code equals the artifact's
/// deployedBytecode and a deployment can be checked by code hash.
contract Liquidator is Guarded {
    /// One liquidation. `swapFee` 0 sells through the Uniswap V2 router, any other value is the V3 fee tier
    /// sold into through SwapRouter02. `minProfit` is in the debt asset, `builderPayment` in wei.
    struct Liquidation {
        address collateral;
        address debt;
        address user;
        uint256 debtToCover;
        uint24 swapFee;
        uint256 minSwapOut;
        uint256 minProfit;
        uint256 builderPayment;
    }

    address private constant POOL = 0x87870Bca3F3fD6335C3F4ce8392D69350B4fA4E2;
    address private constant V2_ROUTER = 0x7a250d5630B4cF539739dF2C5dAcb4c659F2488D;
    address private constant V3_ROUTER02 = 0x68b3465833fb72A70ecDF485E0e4C7bD8665Fc45;
    address private constant WETH = 0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2;

    /// Transient storage: the "liquidate is running" flag, then what the flash callback measured for the event.
    uint256 private constant RUNNING_SLOT = 0;
    uint256 private constant DEBT_COVERED_SLOT = 1;
    uint256 private constant SEIZED_SLOT = 2;
    uint256 private constant SWAP_OUT_SLOT = 3;
    uint256 private constant PREMIUM_SLOT = 4;

    event Liquidated(
        address indexed user,
        address indexed collateral,
        address indexed debt,
        uint256 debtCovered,
        uint256 collateralSeized,
        uint256 swapOut,
        uint256 premium,
        uint256 profit
    );
    error AlreadyRunning();
    error BadFlashCallback();
    error InsufficientProfit(uint256 balanceAfter, uint256 required);
    error TokenCallFailed(address token);

    constructor(address owner_, address[] memory callers) Guarded(owner_, callers) {}

    /// WETH unwrapped for the builder, and ETH the owner funds builder payments with.
    receive() external payable {}

    // ---------------------------------------------------------------- liquidate

    /// @notice Liquidates `l.user`; returns the net profit in the debt asset (after a WETH-paid builder payment).
    ///         Reverts InsufficientProfit(balanceAfter, required) when it does not pay; Aave's own errors (healthy
    ///         user, dust left) bubble up.
    function liquidate(Liquidation calldata l) external onlyCaller returns (uint256 profit) {
        if (_tload(RUNNING_SLOT) != 0) revert AlreadyRunning();
        _tstore(RUNNING_SLOT, 1);

        uint256 balanceBefore = _balanceOf(l.debt);
        IAaveLiquidationPool(POOL).flashLoanSimple(address(this), l.debt, l.debtToCover, abi.encode(l), 0);
        uint256 balanceAfter = _balanceOf(l.debt);

        uint256 payment = l.builderPayment;
        uint256 fromProfit = l.debt == WETH ? payment : 0;
        uint256 required = balanceBefore + l.minProfit + fromProfit;
        if (balanceAfter < required) revert InsufficientProfit(balanceAfter, required);
        profit = balanceAfter - balanceBefore - fromProfit;
        if (payment != 0) {
            if (fromProfit != 0) IWETH9(WETH).withdraw(payment);
            (bool ok,) = block.coinbase.call{value: payment}("");
            if (!ok) revert PaymentFailed();
        }

        emit Liquidated(
            l.user,
            l.collateral,
            l.debt,
            _tload(DEBT_COVERED_SLOT),
            _tload(SEIZED_SLOT),
            _tload(SWAP_OUT_SLOT),
            _tload(PREMIUM_SLOT),
            profit
        );
        _tstore(RUNNING_SLOT, 0);
    }

    /// @notice Aave's flash-loan callback: only the Pool, only for a loan liquidate started. Liquidates, sells the
    ///         collateral seized and approves exactly amount + premium for the Pool to pull back.
    function executeOperation(address asset, uint256 amount, uint256 premium, address initiator, bytes calldata params)
        external
        returns (bool)
    {
        if (msg.sender != POOL || initiator != address(this) || _tload(RUNNING_SLOT) == 0) revert BadFlashCallback();
        _tstore(PREMIUM_SLOT, premium);
        _liquidateAndSell(abi.decode(params, (Liquidation)), amount);
        _approve(asset, POOL, amount + premium);
        return true;
    }

    // ----------------------------------------------------------------- internal

    /// liquidationCall with the `amount` just flash-borrowed, then the sale of everything it seized; records the
    /// measured amounts for the event.
    function _liquidateAndSell(Liquidation memory l, uint256 amount) private {
        uint256 collateralBefore = _balanceOf(l.collateral);
        _approve(l.debt, POOL, amount);
        IAaveLiquidationPool(POOL).liquidationCall(l.collateral, l.debt, l.user, amount, false);
        // The Pool pulls what it covers out of the exact approval; what is left must not stand.
        uint256 leftover = IERC20Allowance(l.debt).allowance(address(this), POOL);
        if (leftover != 0) _approve(l.debt, POOL, 0); // USDT cannot move one non-zero allowance to another
        uint256 debtCovered = amount - leftover;
        // With collateral == debt the seized amount arrives net of the debt just paid.
        uint256 seized = _balanceOf(l.collateral)
            + (l.collateral == l.debt ? debtCovered : 0) - collateralBefore;
        _tstore(DEBT_COVERED_SLOT, debtCovered);
        _tstore(SEIZED_SLOT, seized);
        _tstore(SWAP_OUT_SLOT, l.collateral == l.debt ? seized : _swap(l, seized));
    }

    /// Sells `amountIn` collateral for the debt asset; the router takes exactly the approval it gets.
    function _swap(Liquidation memory l, uint256 amountIn) private returns (uint256 out) {
        if (l.swapFee == 0) {
            _approve(l.collateral, V2_ROUTER, amountIn);
            address[] memory path = new address[](2);
            (path[0], path[1]) = (l.collateral, l.debt);
            IV2Router router = IV2Router(V2_ROUTER);
            return router.swapExactTokensForTokens(amountIn, l.minSwapOut, path, address(this), block.timestamp)[1];
        }
        _approve(l.collateral, V3_ROUTER02, amountIn);
        IV3Router02.ExactInputSingleParams memory p = IV3Router02.ExactInputSingleParams(
            l.collateral, l.debt, l.swapFee, address(this), amountIn, l.minSwapOut, 0
        );
        out = IV3Router02(V3_ROUTER02).exactInputSingle(p);
        // A V3 exact-input swap stops short when the pool runs out of liquidity: never leave the rest approved.
        _approve(l.collateral, V3_ROUTER02, 0);
    }

    /// Every approval starts from zero (none outlives a call), so one approve suffices, USDT included.
    function _approve(address token, address spender, uint256 amount) private {
        _call(token, abi.encodeWithSelector(0x095ea7b3, spender, amount));
    }

    function _transfer(address token, address to, uint256 amount) internal override {
        _call(token, abi.encodeWithSelector(0xa9059cbb, to, amount));
    }

    function _balanceOf(address token) internal view override returns (uint256) {
        return IERC20Balance(token).balanceOf(address(this));
    }

    /// A token call that accepts no return data (USDT) and reverts on false or failure.
    function _call(address token, bytes memory data) private {
        (bool ok, bytes memory ret) = token.call(data);
        if (!ok || (ret.length > 0 && !abi.decode(ret, (bool)))) revert TokenCallFailed(token);
    }

    function _tload(uint256 slot) private view returns (uint256 value) {
        assembly ("memory-safe") {
            value := tload(slot)
        }
    }

    function _tstore(uint256 slot, uint256 value) private {
        assembly ("memory-safe") {
            tstore(slot, value)
        }
    }
}
