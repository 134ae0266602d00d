"""Pure protocol models: exact integer math that matches the contracts to the wei, no web3, no I/O."""

from __future__ import annotations


class ContractRevert(Exception):
    """The modelled contract call would revert.

    `reason` is the revert string the contract uses ('' for a bare `require`, a division by zero or
    an `invalid` opcode), so a model failure can be compared one-to-one with an eth_call failure.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"revert {reason!r}" + (f": {detail}" if detail else ""))


__all__ = ["ContractRevert"]
