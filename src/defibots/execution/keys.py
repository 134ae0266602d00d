"""Where a signing key comes from: an encrypted keystore, an environment variable, or (devnet only) anvil's
first dev account. Keys are never printed or logged; errors name the source, never the secret."""

from __future__ import annotations

import getpass
import json
import os
import sys
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount

from defibots.chain.addresses import ARBITRUM_DEVNET, DEVNET
from defibots.errors import UserError
from defibots.foundry.accounts import dev_account

PASSWORD_ENV = "DEFIBOTS_KEYSTORE_PASSWORD"


def load_keystore(path: Path, password: str | None = None) -> LocalAccount:
    """Decrypt an eth-account (Web3 Secret Storage) keystore file.

    The password comes from the argument, else DEFIBOTS_KEYSTORE_PASSWORD, else an interactive prompt.
    """
    try:
        keystore: Any = json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"keystore {path} not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"cannot read keystore {path}: {type(exc).__name__}") from None
    if not isinstance(keystore, dict) or "crypto" not in {k.lower() for k in keystore}:
        raise UserError(f"{path} is not an encrypted keystore (no 'crypto' section)")
    if password is None:
        password = os.environ.get(PASSWORD_ENV)
    if password is None:
        if not sys.stdin.isatty():
            raise UserError(f"keystore {path} needs a password: set {PASSWORD_ENV} or run interactively")
        password = getpass.getpass(f"password for {path}: ")
    try:
        key = Account.decrypt(keystore, password)
    except ValueError as exc:
        if "MAC mismatch" in str(exc):
            raise UserError(f"wrong keystore password for {path}") from None
        raise UserError(f"cannot decrypt keystore {path}: {exc}") from None
    account: LocalAccount = Account.from_key(key)
    return account


def load_key_env(variable: str, purpose: str = "signing key") -> LocalAccount:
    """A hex private key held in an environment variable: the one loader for signer, funds and relay keys.

    `purpose` only labels errors ("funds key: environment variable X is not set"); the value never shows.
    """
    value = os.environ.get(variable, "").strip()
    if not value:
        raise UserError(f"{purpose}: environment variable {variable} is not set")
    try:
        account: LocalAccount = Account.from_key(value)
    except Exception:  # eth-keys raises assorted types for malformed keys; none may carry the value out
        raise UserError(
            f"{purpose}: environment variable {variable} does not hold a valid private key"
        ) from None
    return account


def key_choice(
    keystore: Path | None, key_env: str | None, config_keystore: Path | None, config_key_env: str | None
) -> tuple[Path | None, str | None]:
    """Flags replace the config's key choice as a whole: `--keystore` under a config with key_env is fine."""
    if keystore is not None or key_env is not None:
        return keystore, key_env
    return config_keystore, config_key_env


def load_explicit_signer(
    keystore: Path | None, key_env: str | None, password: str | None = None, purpose: str = "signing key"
) -> LocalAccount | None:
    """The key a user named (keystore or env var), or None when they named neither."""
    if keystore is not None and key_env is not None:
        raise UserError("give either --keystore or --key-env, not both")
    if keystore is not None:
        return load_keystore(keystore, password)
    if key_env is not None:
        return load_key_env(key_env, purpose)
    return None


def load_signer(
    chain_id: int, keystore: Path | None = None, key_env: str | None = None, password: str | None = None
) -> LocalAccount:
    """The signer for a command: --keystore or --key-env; on a devnet (31337, 31338) anvil account 0 by
    default."""
    explicit = load_explicit_signer(keystore, key_env, password)
    if explicit is not None:
        return explicit
    if chain_id in (DEVNET, ARBITRUM_DEVNET):
        return dev_account(0)
    raise UserError(
        f"chain {chain_id} is not a devnet: pass --keystore PATH or --key-env VAR to choose a signer"
    )
