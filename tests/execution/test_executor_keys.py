"""Signer loading: keystore (env password or prompt), env var key, devnet default; errors never leak keys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_account import Account

from defibots.errors import UserError
from defibots.execution import keys
from defibots.execution.keys import (
    PASSWORD_ENV,
    load_explicit_signer,
    load_key_env,
    load_keystore,
    load_signer,
)

KEY = "0x" + "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
ADDRESS = Account.from_key(KEY).address
ANVIL_0 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"


def write_keystore(tmp_path: Path, password: str) -> Path:
    path = tmp_path / "deployer.json"
    path.write_text(json.dumps(Account.encrypt(KEY, password, kdf="pbkdf2", iterations=1024)))
    return path


def test_keystore_with_password_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_keystore(tmp_path, "correct horse")
    monkeypatch.setenv(PASSWORD_ENV, "correct horse")
    assert load_keystore(path).address == ADDRESS


def test_keystore_with_prompted_password(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_keystore(tmp_path, "correct horse")
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    monkeypatch.setattr(keys.sys.stdin, "isatty", lambda: True)
    monkeypatch.setattr(keys.getpass, "getpass", lambda prompt: "correct horse")
    assert load_keystore(path).address == ADDRESS


def test_wrong_password_is_one_clear_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_keystore(tmp_path, "correct horse")
    monkeypatch.setenv(PASSWORD_ENV, "battery staple")
    with pytest.raises(UserError, match=r"^wrong keystore password for .*deployer\.json$"):
        load_keystore(path)


def test_no_password_and_no_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_keystore(tmp_path, "pw")
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    monkeypatch.setattr(keys.sys.stdin, "isatty", lambda: False)
    with pytest.raises(UserError, match=PASSWORD_ENV):
        load_keystore(path)


def test_unreadable_keystores(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not found"):
        load_keystore(tmp_path / "missing.json")
    junk = tmp_path / "junk.json"
    junk.write_text("{not json")
    with pytest.raises(UserError, match="cannot read keystore"):
        load_keystore(junk)
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps({"address": ADDRESS}))
    with pytest.raises(UserError, match="not an encrypted keystore"):
        load_keystore(plain, "pw")


def test_key_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_KEY", KEY)
    assert load_key_env("BOT_KEY").address == ADDRESS
    monkeypatch.delenv("BOT_KEY")
    with pytest.raises(UserError, match=r"^funds key: environment variable BOT_KEY is not set$"):
        load_key_env("BOT_KEY", purpose="funds key")
    secret_looking = "0x1234zz"
    monkeypatch.setenv("BOT_KEY", secret_looking)
    with pytest.raises(UserError, match="not hold a valid private key") as info:
        load_key_env("BOT_KEY")
    assert secret_looking not in str(info.value)


def test_signer_choice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_signer(31337).address == ANVIL_0
    with pytest.raises(UserError, match="--keystore PATH or --key-env VAR"):
        load_signer(1)
    with pytest.raises(UserError, match="not both"):
        load_signer(31337, keystore=tmp_path / "k.json", key_env="BOT_KEY")
    monkeypatch.setenv("BOT_KEY", KEY)
    assert load_signer(1, key_env="BOT_KEY").address == ADDRESS


def test_explicit_signer_is_none_only_when_nothing_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`bundle` signs only with a key the user named: no devnet default, unlike load_signer."""
    assert load_explicit_signer(None, None) is None
    monkeypatch.setenv(PASSWORD_ENV, "pw")
    assert load_explicit_signer(write_keystore(tmp_path, "pw"), None) == load_keystore(
        tmp_path / "deployer.json"
    )
    with pytest.raises(UserError, match="not both"):
        load_explicit_signer(tmp_path / "deployer.json", "BOT_KEY")


def test_key_flags_replace_the_config_choice_as_a_whole(tmp_path: Path) -> None:
    flag, config = tmp_path / "flag.json", tmp_path / "config.json"
    assert keys.key_choice(flag, None, None, "CONFIG_KEY") == (flag, None)
    assert keys.key_choice(None, "FLAG_KEY", config, None) == (None, "FLAG_KEY")
    assert keys.key_choice(None, None, config, "CONFIG_KEY") == (config, "CONFIG_KEY")
