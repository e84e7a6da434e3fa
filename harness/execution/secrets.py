"""Secrets never reach what people read: values under secret-sounding names (environment variables,
profile keys, `NAME=value` inside strings) are redacted from records, run.json's display fields, the
report files and the console. The plan needed to resume (run.json's profiles) holds no secret either,
yet resumes as planned: a secret environment variable's value inside it is stored as a reference
`<env:NAME>` that resume reads from the environment again, and a value whose own key names a secret
is left out and read again from the profile file.

A name is a secret's when one of its words (split on _ - . and case changes) is in SECRET_WORDS, ends
with one of SECRET_SUFFIXES, or is in LAST_WORD_SECRETS and is the name's last word; a value of any
variable that is a URL with a password (postgres://user:pw@host) is a secret too. Values shorter than
MIN_SECRET_CHARS or in TRIVIAL_VALUES are not searched for inside other text ("1" or "true" would
redact every number and flag), but are still redacted where their own key names a secret.
"""

from __future__ import annotations

import os
import re
from typing import Any

# whole words of a name: DB_PASSWORD, hfToken, api-key, MYSQL_PWD, X_AUTH_COOKIE
SECRET_WORDS = frozenset({"password", "passwd", "passphrase", "pass", "pwd", "token", "secret", "apikey",
                          "key", "credential", "credentials", "cookie", "privatekey", "dsn"})
# single-word names: SSHPASS, PGPASSWORD, GITHUBTOKEN, MYSECRET, AWSSECRETKEY
SECRET_SUFFIXES = ("password", "passwd", "passphrase", "pass", "pwd", "token", "secret", "privatekey",
                   "apikey", "secretkey", "accesskey")
# words that name a secret only at the end: AUTH, HTTP_AUTH, SESSION (not SSH_AUTH_SOCK, XDG_SESSION_TYPE)
LAST_WORD_SECRETS = frozenset({"auth", "session"})
# exact names that end like a secret but are not one (PWD is the working directory)
NOT_SECRET_NAMES = frozenset({"pwd", "oldpwd", "bypass", "compass", "askpass", "git_askpass",
                              "ssh_askpass", "sudo_askpass", "keyboard"})
# names holding a URL whose credentials are secret
SECRET_URL_NAMES = frozenset({"database_url", "db_url", "redis_url", "amqp_url", "mongodb_uri"})
TRIVIAL_VALUES = frozenset({"true", "false", "yes", "no", "on", "off", "none", "null", "nil", "0", "1"})
MIN_SECRET_CHARS = 3
REDACTED = "<redacted>"
_URL_CREDENTIALS = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:([^@\s/]+)@")
_NAME_EQUALS = re.compile(r"(?<![A-Za-z0-9_])([A-Za-z_][A-Za-z0-9_.-]*)=")
_VALUE = re.compile(r"[^\s,;\"'&]+")


def _assignments(text: str) -> list[tuple[int, int, str]]:
    """(start, end, value) of each value after `SECRET_NAME=` in `text` ("SetEnv=HF_TOKEN=v" too)."""
    found = []
    for m in _NAME_EQUALS.finditer(text):
        if is_secret_name(m.group(1)):
            v = _VALUE.match(text, m.end())
            if v:
                found.append((v.start(), v.end(), v.group(0)))
    return found


def is_secret_name(name: str) -> bool:
    """True for DB_PASSWORD, PGPASSWORD, MYSQL_PWD, SSHPASS, HF_TOKEN, PRIVATEKEY, AUTH, COOKIE, SESSION,
    DATABASE_URL...; False for PWD, TOKENIZERS_PARALLELISM, KEYBOARD, SSH_AUTH_SOCK, XDG_SESSION_TYPE."""
    name = str(name)
    if name.lower() in NOT_SECRET_NAMES:
        return False
    if name.lower() in SECRET_URL_NAMES:
        return True
    words = [w.lower() for w in re.split(r"[_\-.\s]+|(?<=[a-z0-9])(?=[A-Z])", name) if w]
    if not words:
        return False
    if words[-1] in LAST_WORD_SECRETS:
        return True
    return any(w in SECRET_WORDS or (w.endswith(SECRET_SUFFIXES) and w not in NOT_SECRET_NAMES)
               for w in words)


def _searchable(value: str) -> bool:
    return len(value) >= MIN_SECRET_CHARS and value.lower() not in TRIVIAL_VALUES


def secret_values(extra: dict[str, Any] | None = None, environ: dict[str, str] | None = None) -> list[str]:
    """Values to search for in text: environment variables (and profile keys) whose names say they
    are secrets, and the passwords of URLs with credentials; longest first."""
    env = os.environ if environ is None else environ
    values = [v for k, v in env.items() if is_secret_name(k)]
    for v in env.values():
        m = _URL_CREDENTIALS.match(v)
        if m:
            values += [v, m.group(1)]

    def walk(obj: Any) -> None:
        if isinstance(obj, dict):
            for k, v in obj.items():
                if isinstance(v, (str, int, float)) and not isinstance(v, bool) and is_secret_name(k):
                    values.append(str(v))
                else:
                    walk(v)
        elif isinstance(obj, list):
            for v in obj:
                walk(v)
        elif isinstance(obj, str):
            values.extend(val for _start, _end, val in _assignments(obj))

    walk(extra or {})
    return sorted({v for v in values if _searchable(v)}, key=len, reverse=True)


def scrub_text(text: str, secrets: list[str]) -> str:
    """`text` with every known secret value, and the value of every `SECRET_NAME=value`, redacted."""
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    if "=" in text:
        for start, end, value in reversed(_assignments(text)):
            if value != REDACTED:
                text = text[:start] + REDACTED + text[end:]
    return text


def scrub(obj: Any, secrets: list[str] | None = None) -> Any:
    """Redact values whose key names a secret (password, token...) and any known secret value inside
    strings, at any depth: what people read never carries secrets."""
    secrets = secret_values() if secrets is None else secrets
    if isinstance(obj, dict):
        return {k: (REDACTED if is_secret_name(k) and obj[k] not in (None, "") else scrub(v, secrets))
                for k, v in obj.items()}
    if isinstance(obj, list):
        return [scrub(v, secrets) for v in obj]
    if isinstance(obj, str):
        return scrub_text(obj, secrets)
    return obj


ENV_REFERENCE = re.compile(r"<env:([A-Za-z_][A-Za-z0-9_]*)>")


def secret_environment(environ: dict[str, str] | None = None) -> dict[str, str]:
    """Secret-named environment variables whose values are long enough to search for; longest first."""
    env = os.environ if environ is None else environ
    found = {k: v for k, v in env.items() if is_secret_name(k) and _searchable(v)}
    return dict(sorted(found.items(), key=lambda kv: len(kv[1]), reverse=True))


def scrub_plan(obj: Any, environ: dict[str, str] | None = None) -> Any:
    """The plan as run.json stores it for resume, without a secret yet resumable: the value of a
    secret environment variable inside a string becomes a reference `<env:NAME>` (resume reads the
    variable again), a value whose key names a secret becomes <redacted> (resume reads it again from
    the profile file); everything else stays as given."""
    if isinstance(obj, dict):
        return {k: (REDACTED if is_secret_name(k) and v not in (None, "") else scrub_plan(v, environ))
                for k, v in obj.items()}
    if isinstance(obj, list):
        return [scrub_plan(v, environ) for v in obj]
    if isinstance(obj, str):
        for name, value in secret_environment(environ).items():
            obj = obj.replace(value, f"<env:{name}>")
        return scrub_text(obj, [])
    return obj


def expand_references(obj: Any, where: str, environ: dict[str, str] | None = None) -> Any:
    """The plan with each `<env:NAME>` replaced by the variable's value; one line naming it if unset."""
    env = os.environ if environ is None else environ
    if isinstance(obj, dict):
        return {k: expand_references(v, where, env) for k, v in obj.items()}
    if isinstance(obj, list):
        return [expand_references(v, where, env) for v in obj]
    if isinstance(obj, str) and "<env:" in obj:
        def value(m: re.Match) -> str:
            if m.group(1) not in env:
                from ..errors import RunDirError

                raise RunDirError(f"{where}: the run's plan refers to the secret environment variable "
                                  f"{m.group(1)} (its value is never stored); set it as it was for the run, "
                                  f"then resume")
            return env[m.group(1)]

        return ENV_REFERENCE.sub(value, obj)
    return obj


def restore_secrets(stored: Any, fresh: Any) -> Any:
    """`stored` with each redacted value taken from `fresh` (the same table read again from its
    profile file); raises KeyError/IndexError/ValueError when `fresh` no longer has it."""
    if isinstance(stored, dict):
        return {k: restore_secrets(v, fresh[k]) if has_redacted(v) else v for k, v in stored.items()}
    if isinstance(stored, list):
        if len(stored) != len(fresh):
            raise ValueError("a different number of entries")
        return [restore_secrets(v, f) if has_redacted(v) else v for v, f in zip(stored, fresh)]
    if isinstance(stored, str) and REDACTED in stored:
        if not isinstance(fresh, (str, int, float)) or REDACTED in str(fresh):
            raise ValueError("not a value")
        return fresh
    return stored


def has_redacted(obj: Any) -> bool:
    """Whether a stored plan value (at any depth) had a secret left out."""
    if isinstance(obj, dict):
        return any(has_redacted(v) for v in obj.values())
    if isinstance(obj, list):
        return any(has_redacted(v) for v in obj)
    return isinstance(obj, str) and REDACTED in obj
