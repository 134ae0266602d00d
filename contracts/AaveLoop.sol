// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// Minimal views of the outside contracts the loop calls (Aave v3 Pool, Uniswap routers, ERC-20).
interface IAavePool {
    function flashLoanSimple(address receiver, address asset, uint256 amount, bytes calldata params, uint16 referral)
        external;
    function supply(address asset, uint256 amount, address onBehalfOf, uint16 referral) external;
    function borrow(address asset, uint256 amount, uint256 rateMode, uint16 referral, address onBehalfOf) external;
    function repay(address asset, uint256 amount, uint256 rateMode, address onBehalfOf) external returns (uint256);
    function withdraw(address asset, uint256 amount, address to) external returns (uint256);
    function setUserEMode(uint8 categoryId) external;
    function getUserAccountData(address user)
        external
        view
        returns (uint256, uint256, uint256, uint256, uint256, uint256 healthFactor);
}

interface IV3Router02 {
    struct ExactInputSingleParams {
        address tokenIn;
        address tokenOut;
        uint24 fee;
        address recipient;
        uint256 amountIn;
        uint256 amountOutMinimum;
        uint160 sqrtPriceLimitX96;
    }

    function exactInputSingle(ExactInputSingleParams calldata params) external payable returns (uint256 amountOut);
}

interface IV2Router {
    function swapExactTokensForTokens(
        uint256 amountIn,
        uint256 amountOutMin,
        address[] calldata path,
        address to,
        uint256 deadline
    ) external returns (uint256[] memory amounts);
}

interface IERC20Balance {
    function balanceOf(address owner) external view returns (uint256);
}

/// @title AaveLoop
/// @notice One leveraged Aave v3 position, held by this contract for its owner, opened, adjusted and closed in
///         one transaction each through an Aave flash loan and one Uniswap swap.
/// @dev Boost (open, lever up): flash-borrow collateral, supply it, borrow the debt asset, swap it to collateral
///      and repay the flash loan from that. Repay (lever down, close): flash-borrow the debt asset, repay debt,
///      withdraw collateral, swap it to the debt asset and repay the flash loan. Every step has a minimum swap
///      output and, while debt remains, a minimum health factor. Only the owner deposits, withdraws and closes;
///      allowed callers (a rebalancing bot's key) may only boost and repay, which never move funds out.
contract AaveLoop {
    /// Swap leg: `fee` 0 is the V2 router, any other value a V3 fee tier through SwapRouter02.
    struct Swap {
        uint24 fee;
        uint256 amountIn;
        uint256 minOut;
    }

    struct Step {
        address collateral;
        address debt;
        /// Amount flash-borrowed: collateral for a boost, the debt asset for a repay.
        uint256 flashAmount;
        /// Boost: debt borrowed. Repay: collateral withdrawn (type(uint256).max: all of it).
        uint256 amount;
        Swap swap;
        /// Health factor (wad) the position must have after the step while it still has debt.
        uint256 minHealthFactor;
    }

    address public immutable owner;
    IAavePool public immutable pool;
    IV2Router public immutable v2Router;
    IV3Router02 public immutable v3Router;
    mapping(address => bool) public allowed;

    uint8 private constant BOOST = 1;
    uint8 private constant REPAY = 2;
    uint8 private constant CLOSE = 3;
    uint256 private constant VARIABLE = 2;
    bool private inFlash;

    event Boosted(address indexed collateral, address indexed debt, uint256 flash, uint256 borrowed, uint256 bought);
    event Repaid(address indexed collateral, address indexed debt, uint256 flash, uint256 withdrawn, uint256 sold);
    event Closed(address indexed collateral, address indexed debt, uint256 collateralOut, uint256 debtOut);
    event AllowedSet(address indexed caller, bool allowed);

    error NotOwner();
    error NotAllowed();
    error BadFlashCallback();
    error SwapShort(uint256 received, uint256 needed);
    error HealthFactorTooLow(uint256 healthFactor, uint256 minimum);
    error TokenCallFailed(address token);

    constructor(address pool_, address v2Router_, address v3Router_) {
        owner = msg.sender;
        pool = IAavePool(pool_);
        v2Router = IV2Router(v2Router_);
        v3Router = IV3Router02(v3Router_);
    }

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner();
        _;
    }

    modifier onlyAllowed() {
        if (msg.sender != owner && !allowed[msg.sender]) revert NotAllowed();
        _;
    }

    function setAllowed(address caller, bool isAllowed) external onlyOwner {
        allowed[caller] = isAllowed;
        emit AllowedSet(caller, isAllowed);
    }

    function setEMode(uint8 categoryId) external onlyOwner {
        pool.setUserEMode(categoryId);
    }

    /// Supply `deposit` of the owner's collateral (pulled with transferFrom), then boost.
    function open(uint256 deposit, Step calldata step) external onlyOwner {
        if (deposit > 0) {
            _call(step.collateral, abi.encodeWithSelector(0x23b872dd, msg.sender, address(this), deposit));
            _approve(step.collateral, address(pool), deposit);
            pool.supply(step.collateral, deposit, address(this), 0);
        }
        _flash(BOOST, step.collateral, step);
    }

    function boost(Step calldata step) external onlyAllowed {
        _flash(BOOST, step.collateral, step);
    }

    function repay(Step calldata step) external onlyAllowed {
        _flash(REPAY, step.debt, step);
    }

    /// Repay all debt, withdraw all collateral, and send everything left to the owner.
    function close(Step calldata step) external onlyOwner {
        _flash(CLOSE, step.debt, step);
        uint256 collateralOut = _sweep(step.collateral);
        uint256 debtOut = _sweep(step.debt);
        emit Closed(step.collateral, step.debt, collateralOut, debtOut);
    }

    function withdraw(address asset, uint256 amount) external onlyOwner {
        pool.withdraw(asset, amount, owner);
        _checkHealth(1e18);
    }

    function sweep(address token) external onlyOwner returns (uint256) {
        return _sweep(token);
    }

    /// Aave's flash-loan callback: only the Pool, only for a loan this contract started.
    function executeOperation(address asset, uint256 amount, uint256 premium, address initiator, bytes calldata params)
        external
        returns (bool)
    {
        if (msg.sender != address(pool) || initiator != address(this) || !inFlash) revert BadFlashCallback();
        (uint8 kind, Step memory step) = abi.decode(params, (uint8, Step));
        uint256 owed = amount + premium;
        if (kind == BOOST) {
            _approve(asset, address(pool), amount);
            pool.supply(asset, amount, address(this), 0);
            pool.borrow(step.debt, step.amount, VARIABLE, 0, address(this));
            uint256 bought = _swap(step.debt, asset, step.swap);
            if (bought < owed) revert SwapShort(bought, owed);
            if (bought > owed) {
                _approve(asset, address(pool), bought - owed);
                pool.supply(asset, bought - owed, address(this), 0);
            }
            emit Boosted(asset, step.debt, amount, step.amount, bought);
        } else {
            _approve(asset, address(pool), amount);
            pool.repay(asset, kind == CLOSE ? type(uint256).max : amount, VARIABLE, address(this));
            uint256 withdrawn = pool.withdraw(step.collateral, step.amount, address(this));
            uint256 sold = _swap(step.collateral, asset, step.swap);
            uint256 held = IERC20Balance(asset).balanceOf(address(this));
            if (held < owed) revert SwapShort(held, owed);
            if (kind == REPAY && held > owed) {
                _approve(asset, address(pool), held - owed);
                pool.repay(asset, held - owed, VARIABLE, address(this));
            }
            emit Repaid(step.collateral, asset, amount, withdrawn, sold);
        }
        _approve(asset, address(pool), owed);
        return true;
    }

    function _flash(uint8 kind, address asset, Step calldata step) internal {
        inFlash = true;
        pool.flashLoanSimple(address(this), asset, step.flashAmount, abi.encode(kind, step), 0);
        inFlash = false;
        _checkHealth(step.minHealthFactor);
    }

    function _checkHealth(uint256 minimum) internal view {
        (,,,,, uint256 healthFactor) = pool.getUserAccountData(address(this));
        if (healthFactor < minimum) revert HealthFactorTooLow(healthFactor, minimum);
    }

    function _swap(address tokenIn, address tokenOut, Swap memory s) internal returns (uint256 out) {
        if (s.fee == 0) {
            _approve(tokenIn, address(v2Router), s.amountIn);
            address[] memory path = new address[](2);
            (path[0], path[1]) = (tokenIn, tokenOut);
            uint256[] memory amounts = v2Router.swapExactTokensForTokens(
                s.amountIn, s.minOut, path, address(this), block.timestamp
            );
            return amounts[1];
        }
        _approve(tokenIn, address(v3Router), s.amountIn);
        return v3Router.exactInputSingle(
            IV3Router02.ExactInputSingleParams(tokenIn, tokenOut, s.fee, address(this), s.amountIn, s.minOut, 0)
        );
    }

    function _sweep(address token) internal returns (uint256 amount) {
        amount = IERC20Balance(token).balanceOf(address(this));
        if (amount > 0) _call(token, abi.encodeWithSelector(0xa9059cbb, owner, amount));
    }

    /// approve(0) first: USDT refuses to change a non-zero allowance to another non-zero one.
    function _approve(address token, address spender, uint256 amount) internal {
        _call(token, abi.encodeWithSelector(0x095ea7b3, spender, 0));
        _call(token, abi.encodeWithSelector(0x095ea7b3, spender, amount));
    }

    /// A token call that accepts no return data (USDT) and reverts on false or failure.
    function _call(address token, bytes memory data) internal {
        (bool ok, bytes memory ret) = token.call(data);
        if (!ok || (ret.length > 0 && !abi.decode(ret, (bool)))) revert TokenCallFailed(token);
    }
}
