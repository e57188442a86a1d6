"""HashiCorp Vault / OpenBao transit master keys, with sops-compatible ``hc_vault`` entries.

An entry names the server (``vault_address``), the transit mount (``engine_path``) and the key
(``key_name``); ``enc`` is the transit ciphertext (``vault:v1:...``) of the base64-encoded payload,
exactly what sops sends and stores. The server and token are found as sops's Vault client finds
them:

* the address is the key's own (``VAULT_ADDR`` is *not* used: sops overwrites it with the key's
  address), except that ``VAULT_AGENT_ADDR`` sends every request to a local Vault Agent;
* the token is ``VAULT_TOKEN``, else the contents of ``~/.vault-token``;
* ``VAULT_NAMESPACE``, ``VAULT_HEADERS``, ``VAULT_CACERT`` / ``VAULT_CACERT_BYTES`` / ``VAULT_CAPATH``,
  ``VAULT_CLIENT_CERT`` + ``VAULT_CLIENT_KEY``, ``VAULT_SKIP_VERIFY``, ``VAULT_CLIENT_TIMEOUT``,
  ``VAULT_MAX_RETRIES`` and ``VAULT_PROXY_ADDR`` / ``VAULT_HTTP_PROXY`` mean what they mean there;
* ``SOPS_HC_VAULT_ALLOWLIST`` (sops 3.13) limits the addresses a file may send its key to.

Not read: ``VAULT_TLS_SERVER_NAME``, ``VAULT_SRV_LOOKUP``, ``VAULT_RATE_LIMIT`` and ``unix://``
agent addresses; connection failures are not retried (5xx answers are, like the Go client).

Written on the standard library's HTTP client (urllib.request, ~25 ms to import) rather than hvac:
the transit API sopsy needs is two JSON ``PUT`` requests; hvac would bring requests (~135 ms) and
still leave the Go client's environment settings above to be read by hand.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import posixpath
import re
import time
from typing import Any, NamedTuple

from ..errors import KeyUnavailable, SopsyError, UsageError
from ..metadata import KeyEntry
from . import KeySpec, created_at

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .deadline import Deadline

# sops's checks on the request URI of a key URI (hcvault/keysource.go), unanchored as there
_PREFIXED_RE = re.compile(r"/[^/]+/v\d+/[^/]+/[^/]+/[^/]+")
_PATH_RE = re.compile(r"/v\d+/[^/]+/[^/]+/[^/]+")
_EXAMPLE = "https://vault.example.com:8200/v1/transit/keys/keyName"
ALLOWLIST_ENV = "SOPS_HC_VAULT_ALLOWLIST"
TOKEN_FILE = ".vault-token"
_RETRY_WAIT = 1.0  # seconds between retries of a 5xx answer (the Go client waits 1-1.5 s)


class VaultKey(NamedTuple):
    address: str
    engine_path: str
    key_name: str

    @property
    def uri(self) -> str:
        """The key's URI as sops prints it (``MasterKey.ToString``)."""
        return f"{self.address}/v1/{self.engine_path}/keys/{self.key_name}"


def parse_uri(uri: str) -> VaultKey:
    """``https://host:8200/v1/<engine path>/keys/<name>`` → its parts, as sops's NewMasterKeyFromURI splits it."""
    from urllib.parse import urlsplit

    try:
        u = urlsplit(uri)
    except ValueError as exc:
        raise UsageError(f"not a valid Vault key URI ({exc}): {uri[:200]}") from None
    if not u.scheme:
        raise UsageError(f"missing scheme in Vault URL (should be like {_EXAMPLE}): {uri[:200]}")
    if not u.netloc:
        raise UsageError(f"missing host in Vault URL (should be like {_EXAMPLE}): {uri[:200]}")
    request_uri = (u.path or "/") + (f"?{u.query}" if u.query else "")
    if _PREFIXED_RE.search(request_uri):
        raise UsageError(f"running Vault with a prefixed URL is not supported (the format is {_EXAMPLE}): "
                         f"{uri[:200]}")
    if not _PATH_RE.search(request_uri):
        raise UsageError(f"Vault key URI is not formatted correctly (should be like {_EXAMPLE}): {uri[:200]}")
    dirs = request_uri.strip("/").split("/")
    # like Go's path.Join: empty parts dropped, the result cleaned; "keys" itself is not checked
    parts = [d for d in dirs[1:-2] if d]
    engine = posixpath.normpath("/".join(parts)) if parts else ""
    address = f"{u.scheme}://{u.netloc}" + (f"?{u.query}" if u.query else "") + (f"#{u.fragment}" if u.fragment else "")
    return VaultKey(address, engine, dirs[-1])


def parse_arg(text: str, options: dict[str, Any] | None = None) -> list[KeySpec]:
    """``URI,...`` (from ``--hc-vault-transit``, ``SOPS_VAULT_URIS`` or ``--add/--rm-hc-vault-transit``) → key specs."""
    specs: list[KeySpec] = []
    for item in (text or "").split(","):
        item = item.strip()
        if item:
            specs.append(make_spec(parse_uri(item)))
    return specs


def make_spec(key: VaultKey) -> KeySpec:
    return KeySpec("hc_vault", key.uri, {"vault_address": key.address, "engine_path": key.engine_path,
                                         "key_name": key.key_name})


def _key_of(spec: KeySpec) -> VaultKey:
    o = spec.options
    if o.get("vault_address") and o.get("key_name"):
        return VaultKey(str(o["vault_address"]), str(o.get("engine_path") or ""), str(o["key_name"]))
    return parse_uri(spec.id)  # a URI from a creation rule


def _entry_key(entry: KeyEntry) -> VaultKey:
    f = entry.fields
    key = VaultKey(str(f.get("vault_address") or ""), str(f.get("engine_path") or ""), str(f.get("key_name") or ""))
    if not key.address or not key.key_name:
        raise KeyUnavailable("the entry has no vault_address or key_name")
    return key


# -- the environment, read as the Go client reads it -------------------------------------------


def _go_bool(name: str) -> bool:
    value = os.environ.get(name, "")
    if not value:
        return False
    if value in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if value in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise KeyUnavailable(f"could not parse {name}")


def _duration(name: str, default: float) -> float:
    """``VAULT_CLIENT_TIMEOUT``: seconds, or a Go duration (``30s``, ``1m30s``, ``500ms``)."""
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    if re.fullmatch(r"\d+", value):
        return float(value)
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    parts = re.findall(r"(\d+(?:\.\d*)?)(ns|us|µs|ms|s|m|h)", value)
    if not parts or "".join(n + u for n, u in parts) != value:
        raise KeyUnavailable(f"could not parse {name}")
    return sum(float(n) * units[u] for n, u in parts)


def _allows(address: str) -> bool:
    """SOPS_HC_VAULT_ALLOWLIST: ``all`` (the default), ``none``, or a comma-separated list of URL prefixes."""
    value = os.environ.get(ALLOWLIST_ENV) or "all"
    if value == "all":
        return True
    if value == "none":
        return False
    prefixes = []
    for i, item in enumerate(value.split(","), 1):
        item = item.strip(" ")
        if not item:
            raise KeyUnavailable(f"{ALLOWLIST_ENV}'s entry {i} is empty")
        prefixes.append(item if item.endswith("/") else item + "/")
    address = address if address.endswith("/") else address + "/"
    return any(address.startswith(p) for p in prefixes)


def token() -> str:
    """``VAULT_TOKEN``, else ``~/.vault-token`` (trimmed), else "" (requests go without a token)."""
    value = os.environ.get("VAULT_TOKEN", "")
    if value:
        return value
    path = os.path.join(os.path.expanduser("~"), TOKEN_FILE)
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read().strip()
    except FileNotFoundError:
        return ""
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyUnavailable(f"cannot get Vault token: cannot read {path}: {getattr(exc, 'strerror', exc)}") from None


def _headers(tok: str) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "X-Vault-Request": "true"}  # Vault Agent insists on the latter
    extra = os.environ.get("VAULT_HEADERS")
    if extra:
        try:
            parsed = json.loads(extra)
        except ValueError:
            raise KeyUnavailable("could not unmarshal environment-supplied headers (VAULT_HEADERS)") from None
        if not isinstance(parsed, dict) or not all(isinstance(v, str) for v in parsed.values()):
            raise KeyUnavailable("VAULT_HEADERS must be a JSON object of strings")
        bad = sorted(k for k in parsed if k.startswith("X-Vault-"))
        if bad:
            raise KeyUnavailable(f"VAULT_HEADERS may not set {', '.join(bad)}: X-Vault- headers are for internal use")
        headers.update(parsed)
    namespace = os.environ.get("VAULT_NAMESPACE")
    if namespace:
        headers["X-Vault-Namespace"] = namespace
    if tok:
        headers["X-Vault-Token"] = tok
    return headers


def _ssl_context() -> Any:
    import ssl

    cafile = os.environ.get("VAULT_CACERT") or None
    cadata = os.environ.get("VAULT_CACERT_BYTES") or None
    capath = os.environ.get("VAULT_CAPATH") or None
    try:
        # with a CA named, only that CA is trusted (as Go's rootcerts does); otherwise the system's
        ctx = ssl.create_default_context(cafile=cafile, capath=None if cafile else capath,
                                         cadata=None if cafile else cadata)
        cert, key = os.environ.get("VAULT_CLIENT_CERT"), os.environ.get("VAULT_CLIENT_KEY")
        if cert or key:
            if not (cert and key):
                raise KeyUnavailable("both VAULT_CLIENT_CERT and VAULT_CLIENT_KEY must be set")
            ctx.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise KeyUnavailable(f"cannot set up TLS for Vault: {getattr(exc, 'strerror', None) or exc}") from None
    if _go_bool("VAULT_SKIP_VERIFY"):
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _opener(address: str, deadline: Deadline) -> Any:
    import urllib.request
    from urllib.parse import urlsplit

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None  # _call follows a redirect itself, keeping the method and body

    proxy = os.environ.get("VAULT_PROXY_ADDR") or os.environ.get("VAULT_HTTP_PROXY")
    host = (urlsplit(address).hostname or "").lower()
    if proxy:
        proxies = {"http": proxy, "https": proxy}
    elif host in ("localhost", "::1") or host.startswith("127."):
        proxies = {}  # as Go's ProxyFromEnvironment: loopback never goes through a proxy
    else:
        proxies = urllib.request.getproxies()
    return urllib.request.build_opener(urllib.request.ProxyHandler(proxies), *deadline.handlers(_ssl_context()),
                                       NoRedirect())


def _max_retries() -> int:
    value = os.environ.get("VAULT_MAX_RETRIES", "")
    if not value:
        return 2
    if not value.isdigit():
        raise KeyUnavailable("could not parse VAULT_MAX_RETRIES")
    return int(value)


# -- the transit calls ------------------------------------------------------------------------


def _describe_errors(status: int, body: bytes) -> str:
    try:
        errors = json.loads(body or b"{}").get("errors")
    except (ValueError, AttributeError):
        errors = None
    if isinstance(errors, list) and errors:
        text = "; ".join(" ".join(str(e).split()) for e in errors)
    else:
        text = " ".join(body[:200].decode("utf-8", "replace").split()) or "no details"
    return f"HTTP {status}: {text[:300]}"


def _call(key: VaultKey, op: str, payload: dict[str, str]) -> dict[str, Any]:
    """``PUT /v1/<engine>/<op>/<key>``; returns the response's ``data`` or raises KeyUnavailable."""
    path = "/".join(p for p in (key.engine_path, op, key.key_name) if p)
    where = f"{key.address}/v1/{path}"
    if not _allows(key.address):
        raise KeyUnavailable(f"{ALLOWLIST_ENV} does not allow {key.address}")
    tok = token()
    base = os.environ.get("VAULT_AGENT_ADDR") or key.address
    status, raw = _send(base, f"{base.rstrip('/')}/v1/{path}", json.dumps(payload).encode(), _headers(tok))
    if status >= 300:
        reason = _describe_errors(status, raw)
        if status == 403 and not tok:
            reason += " (no Vault token: set VAULT_TOKEN or write one to ~/.vault-token)"
        raise KeyUnavailable(f"Vault transit {op} at {where} failed: {reason}")
    try:
        data = json.loads(raw or b"null")
    except ValueError:
        raise KeyUnavailable(f"Vault transit {op} at {where} failed: the answer is not JSON") from None
    data = data.get("data") if isinstance(data, dict) else None
    if not isinstance(data, dict):
        raise KeyUnavailable(f"Vault transit {op} at {where} failed: transit backend is empty")
    return data


def _send(base: str, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    """One PUT, following one redirect (a standby node names the active one) and retrying 5xx answers."""
    import http.client
    import urllib.error
    import urllib.request
    from urllib.parse import urljoin

    from .deadline import Deadline

    timeout = _duration("VAULT_CLIENT_TIMEOUT", 60.0)
    retries, redirected = _max_retries(), False
    while True:
        request = urllib.request.Request(url, data=body, method="PUT", headers=headers)
        try:
            with Deadline(timeout) as deadline, _opener(base, deadline).open(request, timeout=timeout) as resp:
                data = bytes(resp.read())
            if deadline.expired:
                raise TimeoutError
            return int(resp.status), data
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            location = exc.headers.get("Location") if exc.headers else None
            if exc.code in (307, 308) and location and not redirected:
                url, redirected = urljoin(url, location), True
            elif 500 <= exc.code < 600 and exc.code != 501 and retries > 0:
                retries -= 1
                time.sleep(_RETRY_WAIT)
            else:
                return exc.code, raw
        except (OSError, http.client.HTTPException, ValueError) as exc:  # URLError and TimeoutError included
            if deadline.expired or isinstance(exc, TimeoutError) or isinstance(getattr(exc, "reason", None),
                                                                              TimeoutError):
                raise KeyUnavailable(f"Vault at {base} did not answer within {timeout:g} s") from None
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            raise KeyUnavailable(f"cannot reach Vault at {base}: {_reason(reason)}") from None


def _reason(exc: object) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return " ".join(str(text).split())[:300]


class HcVaultProvider:
    type_name = "hc_vault"

    def wrap(self, spec: KeySpec, payload: bytes) -> KeyEntry:
        key = _key_of(spec)
        try:
            data = _call(key, "encrypt", {"plaintext": base64.b64encode(payload).decode()})
            ciphertext = data.get("ciphertext")
            if not isinstance(ciphertext, str) or not ciphertext:
                raise KeyUnavailable("no encrypted data in Vault's answer")
        except KeyUnavailable as exc:
            # On encrypt there is no other key to fall back on: this ends the command.
            raise SopsyError(f"could not encrypt the data key with {key.uri}: {exc}") from None
        return KeyEntry("hc_vault", {
            "vault_address": key.address,
            "engine_path": key.engine_path,
            "key_name": key.key_name,
            "created_at": created_at(),
            "enc": ciphertext,
        })

    def unwrap(self, entry: KeyEntry) -> bytes:
        key = _entry_key(entry)
        if not entry.enc:
            raise KeyUnavailable("the enc field is empty")
        data = _call(key, "decrypt", {"ciphertext": entry.enc})
        plaintext = data.get("plaintext")
        if not isinstance(plaintext, str):
            raise KeyUnavailable(f"no decrypted data in Vault's answer from {key.uri}")
        try:
            return base64.b64decode(plaintext, validate=True)
        except (binascii.Error, ValueError):
            raise KeyUnavailable(f"cannot decode the base64 plaintext from {key.uri} into a data key") from None

    def spec_of(self, entry: KeyEntry) -> KeySpec:
        f = entry.fields
        return make_spec(VaultKey(str(f.get("vault_address") or ""), str(f.get("engine_path") or ""),
                                  str(f.get("key_name") or "")))


PROVIDER = HcVaultProvider()
