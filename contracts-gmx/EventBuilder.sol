// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {EventUtils} from "./GmxTypes.sol";

/// Builds EventLogData with fixed item counts: init(...) then set items by index.
library EventBuilder {
    function init(uint256 nAddress, uint256 nUint, uint256 nInt, uint256 nBool, uint256 nBytes32, uint256 nBytes, uint256 nString)
        internal
        pure
        returns (EventUtils.EventLogData memory d)
    {
        d.addressItems.items = new EventUtils.AddressKeyValue[](nAddress);
        d.addressItems.arrayItems = new EventUtils.AddressArrayKeyValue[](0);
        d.uintItems.items = new EventUtils.UintKeyValue[](nUint);
        d.uintItems.arrayItems = new EventUtils.UintArrayKeyValue[](0);
        d.intItems.items = new EventUtils.IntKeyValue[](nInt);
        d.intItems.arrayItems = new EventUtils.IntArrayKeyValue[](0);
        d.boolItems.items = new EventUtils.BoolKeyValue[](nBool);
        d.boolItems.arrayItems = new EventUtils.BoolArrayKeyValue[](0);
        d.bytes32Items.items = new EventUtils.Bytes32KeyValue[](nBytes32);
        d.bytes32Items.arrayItems = new EventUtils.Bytes32ArrayKeyValue[](0);
        d.bytesItems.items = new EventUtils.BytesKeyValue[](nBytes);
        d.bytesItems.arrayItems = new EventUtils.BytesArrayKeyValue[](0);
        d.stringItems.items = new EventUtils.StringKeyValue[](nString);
        d.stringItems.arrayItems = new EventUtils.StringArrayKeyValue[](0);
    }

    function addr(EventUtils.EventLogData memory d, uint256 i, string memory key, address value) internal pure {
        d.addressItems.items[i] = EventUtils.AddressKeyValue(key, value);
    }

    function addrArray(EventUtils.EventLogData memory d, string memory key, address[] memory value) internal pure {
        d.addressItems.arrayItems = new EventUtils.AddressArrayKeyValue[](1);
        d.addressItems.arrayItems[0] = EventUtils.AddressArrayKeyValue(key, value);
    }

    function u(EventUtils.EventLogData memory d, uint256 i, string memory key, uint256 value) internal pure {
        d.uintItems.items[i] = EventUtils.UintKeyValue(key, value);
    }

    function s(EventUtils.EventLogData memory d, uint256 i, string memory key, int256 value) internal pure {
        d.intItems.items[i] = EventUtils.IntKeyValue(key, value);
    }

    function b(EventUtils.EventLogData memory d, uint256 i, string memory key, bool value) internal pure {
        d.boolItems.items[i] = EventUtils.BoolKeyValue(key, value);
    }

    function b32(EventUtils.EventLogData memory d, uint256 i, string memory key, bytes32 value) internal pure {
        d.bytes32Items.items[i] = EventUtils.Bytes32KeyValue(key, value);
    }

    function raw(EventUtils.EventLogData memory d, uint256 i, string memory key, bytes memory value) internal pure {
        d.bytesItems.items[i] = EventUtils.BytesKeyValue(key, value);
    }

    function str(EventUtils.EventLogData memory d, uint256 i, string memory key, string memory value) internal pure {
        d.stringItems.items[i] = EventUtils.StringKeyValue(key, value);
    }
}
