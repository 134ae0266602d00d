// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {RoleStore, RoleModule} from "./RoleStore.sol";
import {EventUtils} from "./GmxTypes.sol";

/// GMX's EventEmitter: EventLog1 / EventLog2 with the eventName, its hash as an indexed topic, and typed
/// key/value lists (topic0s equal the SDK's: 0x137a4406...f160 and 0x468a25a7...4dc5).
contract EventEmitter is RoleModule {
    event EventLog1(
        address msgSender,
        string eventName,
        string indexed eventNameHash,
        bytes32 indexed topic1,
        EventUtils.EventLogData eventData
    );

    event EventLog2(
        address msgSender,
        string eventName,
        string indexed eventNameHash,
        bytes32 indexed topic1,
        bytes32 indexed topic2,
        EventUtils.EventLogData eventData
    );

    constructor(RoleStore _roleStore) RoleModule(_roleStore) {}

    function emitEventLog1(string memory eventName, bytes32 topic1, EventUtils.EventLogData memory eventData)
        external
        onlyController
    {
        emit EventLog1(msg.sender, eventName, eventName, topic1, eventData);
    }

    function emitEventLog2(
        string memory eventName,
        bytes32 topic1,
        bytes32 topic2,
        EventUtils.EventLogData memory eventData
    ) external onlyController {
        emit EventLog2(msg.sender, eventName, eventName, topic1, topic2, eventData);
    }
}
