// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title Guarded: who may run a fund-holding bot contract and who may take funds out of it.
/// @notice The owner (two-step transfer, so a typo cannot lock the funds away) sets the allow-listed callers (a
///         bot's hot keys) and alone withdraws. Executor and Liquidator share it; storage slots 0-2 are its own.
/// @dev Token moves go through the contract's `_transfer` / `_balanceOf`, so each keeps its own token-call style.
abstract contract Guarded {
    address public owner;
    address public pendingOwner;
    mapping(address caller => bool allowed) public isCaller;

    event OwnershipTransferStarted(address indexed owner, address indexed pendingOwner);
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);
    event CallerSet(address indexed caller, bool allowed);
    /// token is address(0) for ETH.
    event Withdrawn(address indexed token, address indexed to, uint256 amount);

    error Unauthorized();
    error ZeroAddress();
    error PaymentFailed();

    constructor(address owner_, address[] memory callers) {
        if (owner_ == address(0)) revert ZeroAddress();
        owner = owner_;
        emit OwnershipTransferred(address(0), owner_);
        for (uint256 i = 0; i < callers.length; ++i) {
            _setCaller(callers[i], true);
        }
    }

    modifier onlyOwner() {
        if (msg.sender != owner) revert Unauthorized();
        _;
    }

    /// Allow-listed callers (the bot's hot key) first: one cold SLOAD on the hot path.
    modifier onlyCaller() {
        if (!isCaller[msg.sender] && msg.sender != owner) revert Unauthorized();
        _;
    }

    function setCaller(address caller, bool allowed) external onlyOwner {
        _setCaller(caller, allowed);
    }

    function transferOwnership(address newOwner) external onlyOwner {
        if (newOwner == address(0)) revert ZeroAddress();
        pendingOwner = newOwner;
        emit OwnershipTransferStarted(msg.sender, newOwner);
    }

    function acceptOwnership() external {
        address next = pendingOwner;
        if (msg.sender != next || next == address(0)) revert Unauthorized();
        emit OwnershipTransferred(owner, msg.sender);
        owner = msg.sender;
        pendingOwner = address(0);
    }

    /// @notice Sends `amount` of an ERC-20 (type(uint256).max: the whole balance) to `to`.
    function withdrawToken(address token, address to, uint256 amount) external onlyOwner {
        if (to == address(0)) revert ZeroAddress();
        if (amount == type(uint256).max) amount = _balanceOf(token);
        _transfer(token, to, amount);
        emit Withdrawn(token, to, amount);
    }

    /// @notice Sends `amount` wei (type(uint256).max: all of it) to `to`.
    function withdrawEth(address payable to, uint256 amount) external onlyOwner {
        if (to == address(0)) revert ZeroAddress();
        if (amount == type(uint256).max) amount = address(this).balance;
        (bool ok,) = to.call{value: amount}("");
        if (!ok) revert PaymentFailed();
        emit Withdrawn(address(0), to, amount);
    }

    /// An ERC-20 transfer that accepts tokens returning nothing (USDT) and reverts on failure.
    function _transfer(address token, address to, uint256 amount) internal virtual;

    /// This contract's balance of `token`.
    function _balanceOf(address token) internal view virtual returns (uint256);

    function _setCaller(address caller, bool allowed) private {
        if (caller == address(0)) revert ZeroAddress();
        isCaller[caller] = allowed;
        emit CallerSet(caller, allowed);
    }
}
