"""Secrets are registered where they are made and scrubbed from every artefact.

Redaction by construction: whoever creates an auth value, sealed data or a
credential calls :func:`register` (the target-string parser does it for
``user:password@`` userinfo, the pytest plugin for ``--owner-auth`` and the
like, tests for the data they seal). Every writer of an artefact (the results
store, run-folder JSON, the pytest report text, the report package) passes
its text through :func:`scrub`, which replaces

1. every registered value (as text, and bytes in their ``b'...'`` repr, hex
   and base64 forms), longest first, then
2. what the patterns below recognise as a secret even when nobody registered
   it (a second line of defence): private-key PEM blocks, secret-named
   assignments in any quoting (``owner_auth=...``, ``{'owner_auth': b'...'}``,
   ``{"password": "..."}``, ``?password=...``), ``TPM2B_AUTH(b'...')``-like
   reprs of sensitive TPM types, and URL userinfo (passwords may hold ``/`` or
   ``@``).

The registry lives in the process that made the secret; a secret crosses
process boundaries only as scrubbed text (the store and the plugin scrub at
the point they write). Values shorter than :data:`MIN_LENGTH` characters are
not registered (they would erase ordinary words); the patterns still apply.
"""

from __future__ import annotations

import base64
import re
import threading
from typing import Any

REDACTED = "[REDACTED]"
MIN_LENGTH = 4

_lock = threading.Lock()
_registry: dict[str, str] = {}
_compiled: re.Pattern[str] | None = None


def _forms(value: str | bytes) -> set[str]:
    """The text forms a value takes in messages: itself, its repr body, hex, base64."""
    if isinstance(value, str):
        raw = value.encode("utf-8", "surrogateescape")
        forms = {value}
    else:
        raw = bytes(value)
        forms = set()
        try:
            forms.add(raw.decode("utf-8"))
        except UnicodeDecodeError:
            pass
    forms.add(repr(raw)[2:-1])                       # the body of b'...'
    forms.add(raw.hex())
    forms.add(raw.hex().upper())
    forms.add(base64.b64encode(raw).decode().rstrip("="))
    return {f for f in forms if len(f) >= MIN_LENGTH}


def register(value: str | bytes | bytearray | None, label: str = "secret") -> None:
    """Remember ``value`` as a secret of this process; every :func:`scrub` removes it.

    Args:
        value: an auth value, sealed data, a password (str or bytes); None or
            values shorter than MIN_LENGTH are ignored.
        label: what it is (kept for debugging; never written anywhere).
    """
    global _compiled
    if value is None:
        return
    forms = _forms(value if isinstance(value, str) else bytes(value))
    if not forms:
        return
    with _lock:
        for form in forms:
            _registry.setdefault(form, label)
        _compiled = None


def registered() -> int:
    """How many text forms are registered (for tests)."""
    return len(_registry)


def _pattern() -> re.Pattern[str] | None:
    global _compiled
    with _lock:
        if _compiled is None and _registry:
            alternatives = sorted(_registry, key=len, reverse=True)
            _compiled = re.compile("|".join(re.escape(a) for a in alternatives))
        return _compiled


_PEM_PRIVATE = re.compile(
    r"-----BEGIN ((?:[A-Z0-9]+ )*PRIVATE KEY)-----.*?(?:-----END \1-----|\Z)", re.S)
# A name that says it holds a secret: owner_auth, userAuth, password, sslpassword, token, ...
# ("auth" but not the prose words authorization, authority, authenticate, author)
_SECRET_NAME = (r"(?:[A-Za-z_]*(?:auth(?!ori[zst]|enticat|or\b)|password|passwd|passphrase|pwd|secret|private|priv_key|"
                r"privkey|hmac_key|sym_key|seed_value|sensitive|token|credential|api_?key)"
                r"[A-Za-z_0-9]*|pin|seed)")
_VALUE = (r"(?:\[REDACTED\]|"   # already redacted (a registered value): no "[REDACTED]]"
          r"b?'(?:[^'\\\n]|\\.)*'|b?\"(?:[^\"\\\n]|\\.)*\"|"
          r"[A-Za-z_][A-Za-z0-9_.]*\([^()\n]*\)|[^\s,;)\]}\"'<>&]+)")
# name = v, name: v, 'name': v, "name": v, name=b'..', ?name=v&..., name -> v
_ASSIGN = re.compile(
    rf"(?P<name>\b{_SECRET_NAME})(?P<op>['\"]?\s*(?:=|:|->)\s*)(?P<value>{_VALUE})", re.I)
# reprs of sensitive TPM types: TPM2B_AUTH(b'...'), TPM2B_SENSITIVE_DATA(buffer=b'...')
_TPM_TYPES = re.compile(
    r"(?P<type>\bTPM2?B?_?(?:AUTH|SENSITIVE_DATA|SENSITIVE_CREATE|SENSITIVE|PRIVATE_KEY_RSA|"
    r"PRIVATE|SYM_KEY|DIGEST_VALUES_SECRET)\b)\((?P<value>[^()\n]*)\)")
# scheme://userinfo@ where userinfo may hold '/' or '@': up to the last '@' of the token
_URL = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)(?P<token>[^\s\"'<>`]+)")


def _url_sub(match: re.Match[str]) -> str:
    token = match.group("token")
    if "@" not in token:
        return match.group(0)
    userinfo, _, rest = token.rpartition("@")
    if "/" in userinfo and ":" not in userinfo:
        return match.group(0)   # an '@' inside a path, no userinfo before it
    return f"{match.group('scheme')}{REDACTED}@{rest}"


# an HTTP Authorization header's credentials (the prose word "authorization" is not a secret)
_HTTP_AUTH = re.compile(r"(?P<head>\bauthorization['\"]?\s*[:=]\s*['\"]?(?:bearer|basic|digest|token)\s+)"
                        r"[^\s,;\"']+", re.I)


def scrub_patterns(text: str) -> str:
    """The pattern line only (no registry): PEM keys, secret-named values, TPM types, URLs."""
    text = _PEM_PRIVATE.sub(f"-----{REDACTED} PRIVATE KEY-----", text)
    text = _HTTP_AUTH.sub(lambda m: f"{m.group('head')}{REDACTED}", text)
    text = _URL.sub(_url_sub, text)
    text = _TPM_TYPES.sub(lambda m: f"{m.group('type')}({REDACTED})", text)
    return _ASSIGN.sub(_assign_sub, text)


def _assign_sub(match: re.Match[str]) -> str:
    value = match.group("value").lstrip("b")
    quote = value[0] if value[:1] in ("'", '"') else ""   # keep JSON/Python text well formed
    return f"{match.group('name')}{match.group('op')}{quote}{REDACTED}{quote}"


_SECRET_KEY = re.compile(rf"{_SECRET_NAME}", re.I)
# names that hold public facts about secrets: authPolicy digests, *_auth_set flags, alg names
_PUBLIC_KEY_NAME = re.compile(r"policy|digest|_set$|fail|alg|name|kind|type|size|count", re.I)


def scrub(text: str | None) -> str:
    """``text`` with every registered secret and every recognised secret pattern replaced.

    Args:
        text: any text bound for an artefact (failure message, JSON, log line).

    Returns:
        The text with secrets replaced by ``[REDACTED]`` ("" for None).
    """
    if not text:
        return ""
    pattern = _pattern()
    if pattern is not None:
        text = pattern.sub(REDACTED, text)
    return scrub_patterns(text)


def scrub_json(value: Any) -> Any:
    """A JSON-like value with :func:`scrub` applied to every string (keys included)."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, (list, tuple)):
        return [scrub_json(v) for v in value]
    if isinstance(value, dict):
        return {k: (REDACTED if isinstance(k, str) and isinstance(v, str) and v
                    and _SECRET_KEY.fullmatch(k) and not _PUBLIC_KEY_NAME.search(k)
                    else scrub_json(v)) for k, v in value.items()}
    return value


def scrub_report(report: Any, call: Any = None) -> None:
    """Scrub a pytest TestReport in place (longrepr, captured sections) and the exception
    of ``call`` (its string arguments), so that the terminal, junit.xml and allure see only
    scrubbed text. Call it from a ``pytest_runtest_makereport`` hookwrapper."""
    excinfo = getattr(call, "excinfo", None)
    exc = getattr(excinfo, "value", None)
    if exc is not None and getattr(exc, "args", None):
        try:
            exc.args = tuple(scrub(a) if isinstance(a, str) else a for a in exc.args)
        except (AttributeError, TypeError):
            pass
    longrepr = getattr(report, "longrepr", None)
    if longrepr is not None and not isinstance(longrepr, tuple):
        text = str(longrepr)
        clean = scrub(text)
        if clean != text:
            report.longrepr = clean
    elif isinstance(longrepr, tuple) and len(longrepr) == 3:   # skip: (path, line, reason)
        report.longrepr = (longrepr[0], longrepr[1], scrub(str(longrepr[2])))
    sections = getattr(report, "sections", None)
    if sections:
        report.sections = [(title, scrub(body)) for title, body in sections]
