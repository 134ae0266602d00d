"""Where every command's endpoints come from, in one order: the flag, then the config, then what this
checkout runs.

- RPC: `--rpc`, else `rpc_url` (defibots.toml / DEFIBOTS_RPC_URL), else the running devnet
  (.defibots/devnet.json, only while its process lives). A ws(s):// URL is used as the same host over http(s).
- Websocket: `--ws`, else `ws_url`, else the devnet's websocket, but only when the RPC is that devnet.
- Relays: `--relay` (repeatable), else `relay_urls`, else the running `defibots devnet relay`
  (.defibots/relay.json, only while its process lives).
- GMX oracle keeper: `--oracle-url`, else `gmx.oracle_url`, else the running devnet's "gmx_oracle_url",
  else GMX's own https://arbitrum-api.gmxinfra.io.

One module so that `bundle`, `watch arb`, `watch backrun` and `deploy` never pick different nodes or relays
from the same flags and settings.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from defibots.config import Settings
from defibots.errors import UserError

RELAY_STATE_FILE = "relay.json"

Source = Literal["flag", "config", "devnet", "default"]


@dataclass(frozen=True)
class Endpoint:
    """A resolved URL and which step of the order gave it (a configured websocket must answer)."""

    url: str
    source: Source


def running_devnet() -> dict[str, Any] | None:
    """The devnet this checkout started, if its process is still alive (a stale devnet.json is ignored)."""
    from defibots.devnet.node import pid_alive, read_state

    info = read_state()
    if info and isinstance(info.get("pid"), int) and pid_alive(info["pid"]) and info.get("http_url"):
        return info
    return None


def running_local_relay() -> str | None:
    """The URL of the `defibots devnet relay` this checkout runs, if its process is still alive."""
    from defibots.devnet.node import pid_alive
    from defibots.paths import state_dir

    try:
        info = json.loads((state_dir() / RELAY_STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    if isinstance(info, dict) and isinstance(info.get("pid"), int) and pid_alive(info["pid"]):
        return str(info["url"])
    return None


def running_gmx_oracle() -> str | None:
    """The GMX oracle keeper URL the running devnet recorded (`devnet up --chain arbitrum`), if any."""
    devnet = running_devnet()
    url = devnet.get("gmx_oracle_url") if devnet else None
    return str(url) if url else None


def resolve_gmx_oracle(flag: str | None, settings: Settings) -> Endpoint:
    """The GMX oracle keeper: --oracle-url, else gmx.oracle_url, else the devnet's, else GMX's."""
    from defibots.chain.gmx.deployment import DEFAULT_ORACLE_URL

    if flag:
        endpoint = Endpoint(flag, "flag")
    elif settings.gmx.oracle_url:
        endpoint = Endpoint(settings.gmx.oracle_url, "config")
    else:
        local = running_gmx_oracle()
        endpoint = Endpoint(local, "devnet") if local else Endpoint(DEFAULT_ORACLE_URL, "default")
    if not endpoint.url.startswith(("http://", "https://")):
        raise UserError(f"GMX oracle URL {endpoint.url!r} is not http(s)")
    return endpoint


def resolve_rpc(flag: str | None, settings: Settings) -> str:
    """The HTTP RPC URL: --rpc, else rpc_url, else the running devnet."""
    devnet = running_devnet()
    url = flag or settings.rpc_url or (str(devnet["http_url"]) if devnet else None)
    if not url:
        raise UserError("no RPC: pass --rpc, set rpc_url in defibots.toml, or start `defibots devnet up`")
    if url.startswith(("ws://", "wss://")):
        url = "http" + url.removeprefix("ws")
    if not url.startswith(("http://", "https://")):
        raise UserError(f"RPC {url!r} is not an http(s) or ws(s) URL")
    return url


def resolve_ws(flag: str | None, settings: Settings, rpc_url: str) -> Endpoint | None:
    """The websocket URL: --ws, else ws_url, else the devnet's own when `rpc_url` is that devnet."""
    if flag:
        return Endpoint(flag, "flag")
    if settings.ws_url:
        return Endpoint(settings.ws_url, "config")
    devnet = running_devnet()
    if devnet and devnet.get("ws_url") and devnet["http_url"] == rpc_url:
        return Endpoint(str(devnet["ws_url"]), "devnet")
    return None


def resolve_relays(flags: Sequence[str] | None, settings: Settings) -> list[str]:
    """The relay URLs: --relay, else relay_urls, else the running local relay; each must be http(s)."""
    urls = list(flags or []) or list(settings.relay_urls)
    if not urls:
        local = running_local_relay()
        urls = [local] if local else []
    if not urls:
        raise UserError("no relay: pass --relay URL, set relay_urls, or run `defibots devnet relay`")
    for url in urls:
        if not url.startswith(("http://", "https://")):
            raise UserError(f"relay URL {url!r} is not http(s)")
    return urls


def chain_id_of(url: str) -> int:
    """The chain the RPC serves (an unreachable RPC is a UserError naming the URL)."""
    from defibots.chain.rpc import JsonRpc

    return int(JsonRpc(url).call("eth_chainId"), 16)


def executor_address(chain_id: int, explicit: str | None) -> str:
    """--executor, else what `deploy executor` recorded for this chain."""
    from defibots.paths import project_root

    if explicit:
        return explicit
    path = project_root() / "deployments" / f"{chain_id}.json"
    try:
        record = json.loads(path.read_text())["contracts"]["Executor"]
        return str(record["address"])
    except (OSError, KeyError, TypeError, json.JSONDecodeError):
        raise UserError(
            f"no executor recorded for chain {chain_id} in {path}; deploy one or pass --executor"
        ) from None
