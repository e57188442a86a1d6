"""RFC 7512 PKCS#11 URIs and the ``--pkcs11`` / ``SOPSY_PKCS11_URIS`` key lists.

Hand-written because python-pkcs11 has no URI parser and the few on PyPI do not handle the
query part (pin-source, pin-value, module-path) or percent-encoded ``id`` bytes. Standard
library only: parsing a flag or loading metadata never imports the PKCS#11 SDK.
"""

from __future__ import annotations

import binascii
import os
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_to_bytes

from ..errors import UsageError
from . import KeySpec

ENV_MODULE = "SOPSY_PKCS11_MODULE"
ENV_PIN = "SOPSY_PKCS11_PIN"
ENV_URIS = "SOPSY_PKCS11_URIS"
ENV_ALLOW_ARGV_PIN = "SOPSY_PKCS11_ALLOW_PIN_VALUE"

PATH_ATTRS = frozenset({
    "token", "manufacturer", "serial", "model", "library-manufacturer", "library-description",
    "library-version", "object", "type", "id", "slot-manufacturer", "slot-description", "slot-id",
})
QUERY_ATTRS = frozenset({"pin-source", "pin-value", "module-name", "module-path"})
OBJECT_TYPES = frozenset({"public", "private", "secret-key", "cert", "data"})
# a comma followed by a new URI separates list items; any other comma belongs to a value
_LIST_SPLIT = re.compile(r",\s*(?=pkcs11:)", re.IGNORECASE)


# -- RFC 7512 URIs -------------------------------------------------------------------------


@dataclass(frozen=True)
class Pkcs11Uri:
    """A parsed ``pkcs11:`` URI. Attribute values are kept percent-encoded, as written."""

    path: tuple[tuple[str, str], ...]
    query: tuple[tuple[str, str], ...]

    def raw(self, name: str) -> str | None:
        for k, v in (*self.path, *self.query):
            if k == name:
                return v
        return None

    def get(self, name: str) -> str | None:
        value = self.raw(name)
        return None if value is None else unquote_to_bytes(value).decode("utf-8", "replace")

    def get_bytes(self, name: str) -> bytes | None:
        value = self.raw(name)
        return None if value is None else unquote_to_bytes(value)

    def text(self, with_pin: bool = False) -> str:
        out = "pkcs11:" + ";".join(f"{k}={v}" for k, v in self.path)
        query = [(k, v) for k, v in self.query if with_pin or k != "pin-value"]
        if query:
            out += "?" + "&".join(f"{k}={v}" for k, v in query)
        return out

    def token_label(self) -> str:
        """How messages name the token: its selectors, never a PIN."""
        parts = [f"{k}={v}" for k, v in self.path
                 if k in ("token", "serial", "slot-id", "manufacturer", "model", "slot-description")]
        return ";".join(parts) or "(any token)"

    def object_label(self) -> str:
        parts = [f"{k}={v}" for k, v in self.path if k in ("object", "id", "type")]
        return ";".join(parts) or "(any object)"


def parse_uri(text: str) -> Pkcs11Uri:
    """Parse an RFC 7512 URI; :class:`UsageError` names the problem (never a PIN value)."""
    text = text.strip()
    if text[:7].lower() != "pkcs11:":
        raise UsageError("a PKCS#11 key must be an RFC 7512 URI starting with 'pkcs11:'")
    body = text[7:]
    path_text, _, query_text = body.partition("?")
    path = _attrs(path_text, ";", PATH_ATTRS, "path")
    query = _attrs(query_text, "&", QUERY_ATTRS, "query")
    for k, v in path:
        if k == "type" and unquote_to_bytes(v).decode("utf-8", "replace") not in OBJECT_TYPES:
            raise UsageError(f"PKCS#11 URI: type must be one of {', '.join(sorted(OBJECT_TYPES))}")
        if k == "slot-id" and not v.isdigit():
            raise UsageError("PKCS#11 URI: slot-id must be a decimal number")
    if sum(1 for k, _ in query if k in ("pin-source", "pin-value")) > 1:
        raise UsageError("PKCS#11 URI: give at most one of pin-source and pin-value")
    return Pkcs11Uri(path, query)


def _attrs(text: str, sep: str, known: frozenset[str], part: str) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for item in text.split(sep) if text else []:
        if not item:
            continue
        name, eq, value = item.partition("=")
        name = name.strip().lower()
        if not eq or not name:
            raise UsageError(f"PKCS#11 URI: {part} attribute {name or '?'!r} has no value")
        if name not in known and not name.startswith("x-"):
            raise UsageError(f"PKCS#11 URI: unknown {part} attribute {name!r}")
        if name in seen:
            raise UsageError(f"PKCS#11 URI: attribute {name!r} is given twice")
        try:
            unquote_to_bytes(value)
        except (ValueError, binascii.Error):
            raise UsageError(f"PKCS#11 URI: attribute {name!r} has a bad percent-encoding") from None
        if re.search(r"%(?![0-9A-Fa-f]{2})", value):
            raise UsageError(f"PKCS#11 URI: attribute {name!r} has a bad percent-encoding")
        seen.add(name)
        out.append((name, value))
    return tuple(out)


def strip_pin_value(text: str) -> str:
    """The URI without its ``pin-value`` (what goes into the metadata)."""
    return parse_uri(text).text(with_pin=False)


class Pin(str):
    """A PIN string whose repr hides it (key specs get printed, with their options, in errors)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "Pin('***')"


def parse_pkcs11_arg(text: str, *, allow_pin_value: bool = False) -> list[KeySpec]:
    """``--pkcs11`` / ``SOPSY_PKCS11_URIS``: comma-separated URIs → key specs.

    A comma splits the list only where a new ``pkcs11:`` URI follows it, so commas inside
    attribute values survive (write them as ``%2C`` to be safe). A ``pin-value`` is refused
    unless ``allow_pin_value`` (the CLI passes True for the environment variable, which other
    users cannot read, but not for argv) or SOPSY_PKCS11_ALLOW_PIN_VALUE=1. The PIN moves into
    ``KeySpec.options['pin']`` so that it never shows where a spec is printed."""
    allow = allow_pin_value or os.environ.get(ENV_ALLOW_ARGV_PIN) == "1"
    specs: list[KeySpec] = []
    for item in _LIST_SPLIT.split(text):
        item = item.strip().rstrip(",").strip()
        if not item:
            continue
        uri = parse_uri(item)
        options: dict[str, Any] = {}
        pin = uri.get("pin-value")
        if pin is not None:
            if not allow:
                raise UsageError("a PIN on the command line is visible to other users: use pin-source=, "
                                 f"{ENV_PIN} or the prompt (or set {ENV_ALLOW_ARGV_PIN}=1)")
            options["pin"] = Pin(pin)
        specs.append(KeySpec("pkcs11", uri.text(with_pin=False), options))
    return specs


def parse_arg(text: str, options: dict[str, Any]) -> list[KeySpec]:
    """``--pkcs11`` / ``SOPSY_PKCS11_URIS`` (only the environment may carry a pin-value)."""
    return parse_pkcs11_arg(text, allow_pin_value=bool(options.get("from_env")))


def env_specs() -> list[KeySpec]:
    """Key specs from SOPSY_PKCS11_URIS (pin-value allowed: the environment is not argv)."""
    value = os.environ.get(ENV_URIS, "")
    return parse_pkcs11_arg(value, allow_pin_value=True) if value.strip() else []
