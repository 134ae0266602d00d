"""Where a venue's API key and secret come from, and how they stay out of every log line.

The rule is execution/keys.py's: credentials come only from environment variables or an encrypted file
(Web3 Secret Storage v3: scrypt + AES-128-CTR + keccak MAC, so the same password handling applies), and
errors name the source, never the value. ccxt's exception texts can carry a signed URL (`signature=`,
`apiKey=`, `timestamp=`) or a header echo: `scrub` removes those and any registered secret before a text
reaches a log, an error or the journal.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import logging
import os
import re
import secrets as token
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_keyfile.keyfile import decode_keyfile_json, encrypt_aes_ctr
from eth_utils import keccak

from defibots.errors import UserError

PASSWORD_ENV = "DEFIBOTS_KEYSTORE_PASSWORD"
REDACTED = "<redacted>"
# query or form fields, JSON fields and headers that carry credentials or what proves them
_SIGNED_FIELD = re.compile(
    r"""(?ix)
    (["']?(?:signature|sign|apiKey|api_key|secret|X-MBX-APIKEY|X-BAPI-API-KEY|X-BAPI-SIGN|listenKey)["']?
    \s*[=:]\s*["']?)([^&"'\s,}]+)
    """
)


@dataclass(frozen=True)
class ApiCredentials:
    """A venue's API key and secret; `repr` never shows them."""

    api_key: str = field(repr=False)
    secret: str = field(repr=False)

    def __post_init__(self) -> None:
        register_secret(self.api_key)
        register_secret(self.secret)


_known: set[str] = set()


def register_secret(value: str) -> None:
    """Remember a value `scrub` must remove wherever it appears (short values would scrub noise)."""
    if len(value) >= 8:
        _known.add(value)


def scrub(text: str, extra: tuple[str, ...] = ()) -> str:
    """`text` without signed-URL parameters, credential headers and any known secret."""
    cleaned = _SIGNED_FIELD.sub(lambda m: m.group(1) + REDACTED, text)
    for value in sorted({*_known, *(v for v in extra if len(v) >= 8)}, key=len, reverse=True):
        cleaned = cleaned.replace(value, REDACTED)
    return cleaned


class ScrubFilter(logging.Filter):
    """Rewrites each record through `scrub` (ccxt's debug log prints request headers and signed URLs)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = scrub(record.getMessage())
        record.args = ()
        return True


def scrubbed_logger(name: str = "defibots.cex.ccxt") -> logging.Logger:
    """A logger whose records are scrubbed before any handler sees them: give it to a ccxt client as
    `exchange.logger`."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, ScrubFilter) for f in logger.filters):
        logger.addFilter(ScrubFilter())
    return logger


def credentials_from_env(key_var: str, secret_var: str) -> ApiCredentials:
    """The API key and secret held in two environment variables."""
    values = []
    for variable in (key_var, secret_var):
        value = os.environ.get(variable, "").strip()
        if not value:
            raise UserError(f"CEX credentials: environment variable {variable} is not set")
        values.append(value)
    return ApiCredentials(values[0], values[1])


def encrypt_credentials(
    credentials: ApiCredentials, password: str, work_factor: int = 2**18
) -> dict[str, Any]:
    """The keystore JSON (v3) holding `{"api_key", "secret"}`, to be saved as a file with json.dumps."""
    plaintext = json.dumps({"api_key": credentials.api_key, "secret": credentials.secret}).encode()
    salt = token.token_bytes(16)
    derived = hashlib.scrypt(password.encode(), salt=salt, n=work_factor, r=8, p=1, dklen=32, maxmem=2**30)
    iv = token.token_bytes(16)
    ciphertext = encrypt_aes_ctr(plaintext, derived[:16], int.from_bytes(iv, "big"))
    return {
        "version": 3,
        "crypto": {
            "cipher": "aes-128-ctr",
            "cipherparams": {"iv": iv.hex()},
            "ciphertext": ciphertext.hex(),
            "kdf": "scrypt",
            "kdfparams": {"dklen": 32, "n": work_factor, "r": 8, "p": 1, "salt": salt.hex()},
            "mac": keccak(derived[16:32] + ciphertext).hex(),
        },
    }


def credentials_from_file(path: Path, password: str | None = None) -> ApiCredentials:
    """Decrypt a credentials keystore; the password comes from the argument, DEFIBOTS_KEYSTORE_PASSWORD,
    or an interactive prompt."""
    try:
        keystore: Any = json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"CEX credentials file {path} not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"cannot read CEX credentials file {path}: {type(exc).__name__}") from None
    if not isinstance(keystore, dict) or "crypto" not in keystore:
        raise UserError(f"{path} is not an encrypted credentials file (no 'crypto' section)")
    if password is None:
        password = os.environ.get(PASSWORD_ENV)
    if password is None:
        if not sys.stdin.isatty():
            raise UserError(f"{path} needs a password: set {PASSWORD_ENV} or run interactively")
        password = getpass.getpass(f"password for {path}: ")
    try:
        plaintext = decode_keyfile_json(keystore, password.encode())
        fields = json.loads(plaintext)
        return ApiCredentials(str(fields["api_key"]), str(fields["secret"]))
    except Exception as exc:  # a wrong password or a damaged file; neither may echo the plaintext
        if "MAC mismatch" in str(exc):
            raise UserError(f"wrong password for CEX credentials file {path}") from None
        raise UserError(f"cannot decrypt CEX credentials file {path}: {type(exc).__name__}") from None


def load_credentials(
    *, key_env: str | None = None, secret_env: str | None = None, file: Path | None = None
) -> ApiCredentials | None:
    """The credentials a user named (env var pair or encrypted file), or None when they named neither."""
    if file is not None and (key_env or secret_env):
        raise UserError("give either a CEX credentials file or key/secret environment variables, not both")
    if file is not None:
        return credentials_from_file(file)
    if key_env or secret_env:
        if not (key_env and secret_env):
            raise UserError("CEX credentials: name both the key and the secret environment variables")
        return credentials_from_env(key_env, secret_env)
    return None
