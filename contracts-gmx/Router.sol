// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {RoleStore, RoleModule} from "./RoleStore.sol";
import {IERC20Min} from "./Bank.sol";

/// The SyntheticsRouter: users approve this contract; only ROUTER_PLUGIN contracts (the ExchangeRouter)
/// can move their tokens.
contract Router is RoleModule {
    constructor(RoleStore _roleStore) RoleModule(_roleStore) {}

    function pluginTransfer(address token, address account, address receiver, uint256 amount)
        external
        onlyRole(keccak256(abi.encode("ROUTER_PLUGIN")), "ROUTER_PLUGIN")
    {
        require(IERC20Min(token).transferFrom(account, receiver, amount), "Router: transferFrom failed");
    }
}
