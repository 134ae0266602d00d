// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {RoleStore, RoleModule} from "./RoleStore.sol";

interface IERC20Min {
    function transfer(address to, uint256 amount) external returns (bool);
    function transferFrom(address from, address to, uint256 amount) external returns (bool);
    function balanceOf(address account) external view returns (uint256);
    function approve(address spender, uint256 amount) external returns (bool);
}

interface IWNT {
    function deposit() external payable;
    function withdraw(uint256 amount) external;
}

/// A token holder that only controllers can move tokens out of, with GMX StrictBank's recorded balances:
/// recordTransferIn(token) returns what arrived since the last record.
contract Bank is RoleModule {
    mapping(address => uint256) public tokenBalances;

    constructor(RoleStore _roleStore) RoleModule(_roleStore) {}

    receive() external payable {}

    function recordTransferIn(address token) external onlyController returns (uint256) {
        uint256 prev = tokenBalances[token];
        uint256 next = IERC20Min(token).balanceOf(address(this));
        tokenBalances[token] = next;
        return next - prev;
    }

    function syncTokenBalance(address token) external onlyController returns (uint256) {
        uint256 next = IERC20Min(token).balanceOf(address(this));
        tokenBalances[token] = next;
        return next;
    }

    function transferOut(address token, address receiver, uint256 amount) external onlyController {
        if (amount == 0) return;
        require(IERC20Min(token).transfer(receiver, amount), "Bank: transfer failed");
        tokenBalances[token] = IERC20Min(token).balanceOf(address(this));
    }
}

/// Holds the execution fee (WNT) and the collateral sent with orders until they execute or cancel.
contract OrderVault is Bank {
    constructor(RoleStore _roleStore) Bank(_roleStore) {}
}

/// A market's token (GM) address: it holds the market's pool and the positions' collateral.
/// The stand-in has no deposits/withdrawals of GM; pools are seeded by the admin (Config.depositToPool).
contract MarketToken is Bank {
    constructor(RoleStore _roleStore) Bank(_roleStore) {}
}
