"""Where the project's toolchain and state live, resolved once from the source tree or the CWD."""

from __future__ import annotations

import os
from pathlib import Path

from defibots.errors import ToolchainError


def project_root() -> Path:
    """The checkout holding node_modules and out/: DEFIBOTS_ROOT, else the nearest parent that has both."""
    env = os.environ.get("DEFIBOTS_ROOT")
    if env:
        return Path(env).resolve()
    for start in (Path.cwd(), Path(__file__).resolve().parent):
        for candidate in (start, *start.parents):
            if (candidate / "package.json").is_file() and (candidate / "foundry.toml").is_file():
                return candidate
    return Path.cwd()


def state_dir() -> Path:
    """Per-checkout runtime state (devnet pid file, replica cache, journal)."""
    path = Path(os.environ.get("DEFIBOTS_STATE_DIR", project_root() / ".defibots"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def foundry_binary(tool: str) -> Path:
    """anvil / forge / cast from the pinned npm packages."""
    path = project_root() / "node_modules" / "@foundry-rs" / f"{tool}-linux-amd64" / "bin" / tool
    if not path.is_file():
        raise ToolchainError(f"{tool} not found at {path}; run `make setup` first")
    return path


def npm_artifact(relative: str) -> Path:
    """A compiled protocol artifact shipped in node_modules, by path below node_modules."""
    path = project_root() / "node_modules" / relative
    if not path.is_file():
        raise ToolchainError(f"artifact {relative} missing; run `make setup` first")
    return path


def forge_artifact(source: str, contract: str) -> Path:
    """A contract built by forge into out/."""
    path = project_root() / "out" / source / f"{contract}.json"
    if not path.is_file():
        raise ToolchainError(f"build output {path} missing; run `make setup` (forge build) first")
    return path
