// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice WETH9's unwrap, used to pay the block builder in ETH out of WETH profit.
interface IWETH9 {
    function withdraw(uint256 wad) external;
}
