"""Anvil's dev accounts: keys derived from Foundry's public test mnemonic, for local chains only."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

DEV_MNEMONIC = "test test test test test test test test test test test junk"
"""The mnemonic anvil derives its funded accounts from (everyone knows these keys)."""


def dev_accounts(count: int = 10) -> list[LocalAccount]:
    """The first `count` accounts anvil funds at start (m/44'/60'/0'/0/i of DEV_MNEMONIC)."""
    from eth_account import Account

    Account.enable_unaudited_hdwallet_features()
    return [Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}") for i in range(count)]


def dev_account(index: int = 0) -> LocalAccount:
    """Anvil's dev account `index`."""
    return dev_accounts(index + 1)[index]
