// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Errors} from "./GmxTypes.sol";

/// Roles as GMX names them (keccak256(abi.encode("CONTROLLER")) ...). The deployer is the admin that grants
/// them; the stand-in has no timelock.
contract RoleStore {
    address public admin;
    mapping(address => mapping(bytes32 => bool)) private roles;

    constructor() {
        admin = msg.sender;
    }

    function hasRole(address account, bytes32 roleKey) external view returns (bool) {
        return roles[account][roleKey];
    }

    function grantRole(address account, bytes32 roleKey) external {
        if (msg.sender != admin) revert Errors.Unauthorized(msg.sender, "ROLE_ADMIN");
        roles[account][roleKey] = true;
    }

    function revokeRole(address account, bytes32 roleKey) external {
        if (msg.sender != admin) revert Errors.Unauthorized(msg.sender, "ROLE_ADMIN");
        roles[account][roleKey] = false;
    }
}

abstract contract RoleModule {
    RoleStore public immutable roleStore;

    constructor(RoleStore _roleStore) {
        roleStore = _roleStore;
    }

    modifier onlyRole(bytes32 roleKey, string memory roleName) {
        if (!roleStore.hasRole(msg.sender, roleKey)) revert Errors.Unauthorized(msg.sender, roleName);
        _;
    }

    modifier onlyController() {
        if (!roleStore.hasRole(msg.sender, keccak256(abi.encode("CONTROLLER")))) {
            revert Errors.Unauthorized(msg.sender, "CONTROLLER");
        }
        _;
    }
}
