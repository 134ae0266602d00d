// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {RoleStore, RoleModule} from "./RoleStore.sol";

/// GMX's key-value store (the getters and setters the SDK's DataStore ABI has, with the same selectors),
/// controller-only setters. Stand-in extension: getBytes/setBytes/removeBytes hold the abi-encoded
/// Order.Props and Position.Props (GMX spreads them over per-field keys); read them through the Reader.
contract DataStore is RoleModule {
    mapping(bytes32 => uint256) public uintValues;
    mapping(bytes32 => int256) public intValues;
    mapping(bytes32 => address) public addressValues;
    mapping(bytes32 => bool) public boolValues;
    mapping(bytes32 => string) public stringValues;
    mapping(bytes32 => bytes32) public bytes32Values;
    mapping(bytes32 => bytes) internal bytesValues;

    mapping(bytes32 => bytes32[]) internal bytes32Sets;
    mapping(bytes32 => mapping(bytes32 => uint256)) internal bytes32SetIndex; // 1-based
    mapping(bytes32 => address[]) internal addressSets;
    mapping(bytes32 => mapping(address => uint256)) internal addressSetIndex; // 1-based

    constructor(RoleStore _roleStore) RoleModule(_roleStore) {}

    // uint
    function getUint(bytes32 key) external view returns (uint256) { return uintValues[key]; }

    function setUint(bytes32 key, uint256 value) external onlyController returns (uint256) {
        uintValues[key] = value;
        return value;
    }

    function removeUint(bytes32 key) external onlyController { delete uintValues[key]; }

    function applyDeltaToUint(bytes32 key, int256 value, string memory errorMessage)
        external
        onlyController
        returns (uint256)
    {
        int256 next = int256(uintValues[key]) + value;
        require(next >= 0, errorMessage);
        uintValues[key] = uint256(next);
        return uint256(next);
    }

    function incrementUint(bytes32 key, uint256 value) external onlyController returns (uint256) {
        uintValues[key] += value;
        return uintValues[key];
    }

    function decrementUint(bytes32 key, uint256 value) external onlyController returns (uint256) {
        uintValues[key] -= value;
        return uintValues[key];
    }

    // int
    function getInt(bytes32 key) external view returns (int256) { return intValues[key]; }

    function setInt(bytes32 key, int256 value) external onlyController returns (int256) {
        intValues[key] = value;
        return value;
    }

    function removeInt(bytes32 key) external onlyController { delete intValues[key]; }

    function applyDeltaToInt(bytes32 key, int256 value) external onlyController returns (int256) {
        intValues[key] += value;
        return intValues[key];
    }

    function incrementInt(bytes32 key, int256 value) external onlyController returns (int256) {
        intValues[key] += value;
        return intValues[key];
    }

    // address, bool, string, bytes32
    function getAddress(bytes32 key) external view returns (address) { return addressValues[key]; }

    function setAddress(bytes32 key, address value) external onlyController returns (address) {
        addressValues[key] = value;
        return value;
    }

    function removeAddress(bytes32 key) external onlyController { delete addressValues[key]; }

    function getBool(bytes32 key) external view returns (bool) { return boolValues[key]; }

    function setBool(bytes32 key, bool value) external onlyController returns (bool) {
        boolValues[key] = value;
        return value;
    }

    function removeBool(bytes32 key) external onlyController { delete boolValues[key]; }

    function getString(bytes32 key) external view returns (string memory) { return stringValues[key]; }

    function setString(bytes32 key, string memory value) external onlyController returns (string memory) {
        stringValues[key] = value;
        return value;
    }

    function getBytes32(bytes32 key) external view returns (bytes32) { return bytes32Values[key]; }

    function setBytes32(bytes32 key, bytes32 value) external onlyController returns (bytes32) {
        bytes32Values[key] = value;
        return value;
    }

    function removeBytes32(bytes32 key) external onlyController { delete bytes32Values[key]; }

    // stand-in extension: encoded records
    function getBytes(bytes32 key) external view returns (bytes memory) { return bytesValues[key]; }

    function setBytes(bytes32 key, bytes memory value) external onlyController { bytesValues[key] = value; }

    function removeBytes(bytes32 key) external onlyController { delete bytesValues[key]; }

    // bytes32 sets
    function containsBytes32(bytes32 setKey, bytes32 value) external view returns (bool) {
        return bytes32SetIndex[setKey][value] != 0;
    }

    function getBytes32Count(bytes32 setKey) external view returns (uint256) { return bytes32Sets[setKey].length; }

    function getBytes32ValuesAt(bytes32 setKey, uint256 start, uint256 end) external view returns (bytes32[] memory) {
        bytes32[] storage set = bytes32Sets[setKey];
        if (end > set.length) end = set.length;
        if (start >= end) return new bytes32[](0);
        bytes32[] memory out = new bytes32[](end - start);
        for (uint256 i = start; i < end; i++) out[i - start] = set[i];
        return out;
    }

    function addBytes32(bytes32 setKey, bytes32 value) external onlyController {
        if (bytes32SetIndex[setKey][value] != 0) return;
        bytes32Sets[setKey].push(value);
        bytes32SetIndex[setKey][value] = bytes32Sets[setKey].length;
    }

    function removeBytes32(bytes32 setKey, bytes32 value) external onlyController {
        uint256 idx = bytes32SetIndex[setKey][value];
        if (idx == 0) return;
        bytes32[] storage set = bytes32Sets[setKey];
        bytes32 last = set[set.length - 1];
        set[idx - 1] = last;
        bytes32SetIndex[setKey][last] = idx;
        set.pop();
        delete bytes32SetIndex[setKey][value];
    }

    // address sets
    function containsAddress(bytes32 setKey, address value) external view returns (bool) {
        return addressSetIndex[setKey][value] != 0;
    }

    function getAddressCount(bytes32 setKey) external view returns (uint256) { return addressSets[setKey].length; }

    function getAddressValuesAt(bytes32 setKey, uint256 start, uint256 end) external view returns (address[] memory) {
        address[] storage set = addressSets[setKey];
        if (end > set.length) end = set.length;
        if (start >= end) return new address[](0);
        address[] memory out = new address[](end - start);
        for (uint256 i = start; i < end; i++) out[i - start] = set[i];
        return out;
    }

    function addAddress(bytes32 setKey, address value) external onlyController {
        if (addressSetIndex[setKey][value] != 0) return;
        addressSets[setKey].push(value);
        addressSetIndex[setKey][value] = addressSets[setKey].length;
    }

    function removeAddress(bytes32 setKey, address value) external onlyController {
        uint256 idx = addressSetIndex[setKey][value];
        if (idx == 0) return;
        address[] storage set = addressSets[setKey];
        address last = set[set.length - 1];
        set[idx - 1] = last;
        addressSetIndex[setKey][last] = idx;
        set.pop();
        delete addressSetIndex[setKey][value];
    }
}
