"""Settings: file + env, validated; bad values are one clear UserError line naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from defibots.config import load_settings
from defibots.errors import UserError


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DEFIBOTS_CONFIG", raising=False)
    for name in ("DEFIBOTS_RPC_URL", "DEFIBOTS_CHAIN_ID", "DEFIBOTS_ARB__MIN_PROFIT_WEI"):
        monkeypatch.delenv(name, raising=False)


def test_file_then_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "bot.toml"
    config.write_text('rpc_url = "http://127.0.0.1:9999"\nchain_id = 1\n[arb]\nmin_profit_wei = 5\n')
    settings = load_settings(config)
    assert settings.rpc_url == "http://127.0.0.1:9999"
    assert (settings.chain_id, settings.arb.min_profit_wei) == (1, 5)
    monkeypatch.setenv("DEFIBOTS_ARB__MIN_PROFIT_WEI", "7")
    monkeypatch.setenv("DEFIBOTS_CHAIN_ID", "31337")
    settings = load_settings(config)
    assert (settings.chain_id, settings.arb.min_profit_wei) == (31337, 7)


def test_example_config_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    example = Path(__file__).resolve().parents[1] / "defibots.example.toml"
    settings = load_settings(example)
    assert settings.arb.base_token == "WETH" and settings.cex.symbols == ["ETH/USDT"]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("chain_id = -1\n", "chain_id"),
        ('rpc_url = "localhost:8545"\n', "rpc_url"),
        ("[arb]\nbuilder_share_bps = 20000\n", "arb.builder_share_bps"),
        ("[arb]\nmax_hops = 9\n", "arb.max_hops"),
        ("unknown_key = 1\n", "unknown_key"),
        ("rpc_url = \n", "cannot read config"),
    ],
)
def test_bad_values_name_the_field(tmp_path: Path, text: str, needle: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(text)
    with pytest.raises(UserError) as err:
        load_settings(config)
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not found"):
        load_settings(tmp_path / "nope.toml")


def test_chain_sections_and_the_single_chain_shorthand(tmp_path: Path) -> None:
    config = tmp_path / "bot.toml"
    config.write_text('rpc_url = "http://127.0.0.1:9999"\nchain_id = 1\nrelay_urls = ["http://r"]\n')
    (default,) = load_settings(config).chain_sections().items()
    assert default[0] == "default"
    assert (default[1].rpc_url, default[1].chain_id, default[1].relay_urls) == (
        "http://127.0.0.1:9999",
        1,
        ["http://r"],
    )
    config.write_text(
        '[chains.mainnet]\nrpc_url = "http://a:1"\nws_url = "ws://a:2"\nchain_id = 1\n'
        '[chains.arbitrum]\nrpc_url = "http://b:1"\nchain_id = 42161\naddress_book = "mainnet"\n'
        'relay_urls = ["http://relay"]\n'
    )
    chains = load_settings(config).chain_sections()
    assert list(chains) == ["mainnet", "arbitrum"]
    assert (chains["mainnet"].ws_url, chains["mainnet"].chain_id) == ("ws://a:2", 1)
    assert (chains["arbitrum"].address_book, chains["arbitrum"].relay_urls) == ("mainnet", ["http://relay"])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[chains.main]\nrpc_url = "ftp://x"\n',
            "invalid config value chains.main.rpc_url: Value error, must start with http(s):// or ws(s)://",
        ),
        (
            "[chains.main]\nchain_id = 0\n",
            "invalid config value chains.main.chain_id: Input should be greater than 0",
        ),
        ("[chains.main]\nrpc = 1\n", "invalid config value chains.main.rpc: Extra inputs are not permitted"),
        (
            '[chains.Main]\nrpc_url = "http://a"\n',
            "invalid config value chains: Value error, chain name 'Main' must be lowercase letters, "
            "digits, '_' or '-'",
        ),
        (
            "[chains.a]\nchain_id = 5\n[chains.b]\nchain_id = 5\n",
            "invalid config value chains: Value error, two chains name the same chain_id",
        ),
    ],
)
def test_bad_chain_sections_are_one_line(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "bot.toml"
    config.write_text(text)
    with pytest.raises(UserError) as err:
        load_settings(config)
    assert str(err.value) == message
