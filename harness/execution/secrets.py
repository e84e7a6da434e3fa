"""Secrets never reach the results: values under secret-sounding names (environment variables,
profile keys) are redacted from every record and from run.json."""

from __future__ import annotations

import os
import re
from typing import Any

# whole words of a variable or key name (PWD is the working directory, SSH_AUTH_SOCK a socket path)
SECRET_WORDS = ("password", "passwd", "passphrase", "token", "secret", "apikey", "key", "credential",
                "credentials")
# values too common to redact inside other strings (TOKENIZERS_PARALLELISM=false is no secret)
_TRIVIAL_VALUES = {"true", "false", "yes", "no", "on", "off", "none", "null"}
REDACTED = "<redacted>"


def is_secret_name(name: str) -> bool:
    """A name whose words (split on _ - . and case changes) include password, token, secret, key...:
    DB_PASSWORD, hfToken, api-key; not TOKENIZERS_PARALLELISM or KEYBOARD."""
    words = re.split(r"[_\-.\s]+|(?<=[a-z0-9])(?=[A-Z])", str(name))
    return any(w.lower() in SECRET_WORDS for w in words if w)


def secret_values(extra: dict[str, Any] | None = None) -> list[str]:
    """Values of environment variables (and profile keys) whose names say they are secrets."""
    values = [v for k, v in os.environ.items() if is_secret_name(k)]

    def walk(obj: Any) -> None:
        if isinstance(obj, dict):
            for k, v in obj.items():
                if isinstance(v, str) and is_secret_name(k):
                    values.append(v)
                else:
                    walk(v)
        elif isinstance(obj, list):
            for v in obj:
                walk(v)

    walk(extra or {})
    return sorted({v for v in values if len(v) >= 6 and v.lower() not in _TRIVIAL_VALUES},
                  key=len, reverse=True)


def scrub(obj: Any, secrets: list[str] | None = None) -> Any:
    """Redact values whose key names a secret (password, token...) and any known secret value inside
    strings, at any depth: results never carry secrets."""
    secrets = secret_values() if secrets is None else secrets
    if isinstance(obj, dict):
        return {k: (REDACTED if is_secret_name(k) else scrub(v, secrets)) for k, v in obj.items()}
    if isinstance(obj, list):
        return [scrub(v, secrets) for v in obj]
    if isinstance(obj, str):
        for secret in secrets:
            if secret in obj:
                obj = obj.replace(secret, REDACTED)
    return obj
