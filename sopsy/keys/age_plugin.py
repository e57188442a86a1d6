"""age plugins: ``age1<name>1…`` recipients and ``AGE-PLUGIN-<NAME>-1…`` identities.

pyrage (rage) speaks the plugin protocol (C2SP age-plugin, state machines ``recipient-v1`` and
``identity-v1``) and finds ``age-plugin-<name>`` on ``PATH`` as age and sops do; this module only
groups keys by plugin and answers the plugin's questions. Messages go to stderr; PINs, secrets
and confirmations are asked on the terminal (``/dev/tty``, so a file piped on stdin is never
read as an answer) and refused when there is none, which the plugin sees as ``fail``.
"""

from __future__ import annotations

import sys

import pyrage

from ..errors import SopsyError


def _tty_prompt(prompt: str, secret: bool) -> str | None:
    try:
        tty = open("/dev/tty", "r+", encoding="utf-8")  # noqa: SIM115 (closed below)
    except OSError:
        return None
    with tty:
        if secret:
            import getpass

            return getpass.getpass(prompt, stream=tty)
        tty.write(prompt)
        tty.flush()
        return tty.readline().rstrip("\n")


class TerminalCallbacks:
    """What pyrage calls when a plugin talks to the user (the name is for the messages)."""

    def __init__(self, plugin: str) -> None:
        self.plugin = plugin

    def display_message(self, message: str) -> None:
        print(f"age-plugin-{self.plugin}: {message}", file=sys.stderr)

    def confirm(self, message: str, yes_string: str, no_string: str | None) -> bool | None:
        choices = f"{yes_string}/{no_string}" if no_string else yes_string
        answer = _tty_prompt(f"age-plugin-{self.plugin}: {message} [{choices}] ", secret=False)
        if answer is None:
            return None
        return answer.strip().lower() in (yes_string.lower(), "y", "yes")

    def request_public_string(self, description: str) -> str | None:
        return _tty_prompt(f"age-plugin-{self.plugin}: {description} ", secret=False)

    def request_passphrase(self, description: str) -> str | None:
        return _tty_prompt(f"age-plugin-{self.plugin}: {description} ", secret=True)


def reason(exc: BaseException) -> str:
    """rage's message in one line, without the Unicode isolates it puts around names."""
    text = str(exc).replace("\u2068", "").replace("\u2069", "").strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def encrypt(recipient: object, payload: bytes) -> str:
    """The armored age file of ``payload`` for one plugin recipient."""
    name = recipient.plugin()  # type: ignore[attr-defined]
    try:
        plugin = pyrage.plugin.RecipientPluginV1(name, [recipient], [], TerminalCallbacks(name))
        return bytes(pyrage.encrypt(payload, [plugin], armored=True)).decode()
    except Exception as exc:
        raise SopsyError(f"could not encrypt the data key with age plugin {name}: {reason(exc)}") from None


def identity_plugins(identities: list[object], problems: list[str]) -> list[object]:
    """One pyrage plugin identity per plugin name; a plugin that cannot start adds to ``problems``."""
    by_name: dict[str, list[object]] = {}
    for ident in identities:
        by_name.setdefault(ident.plugin(), []).append(ident)  # type: ignore[attr-defined]
    out: list[object] = []
    for name, idents in by_name.items():
        try:
            out.append(pyrage.plugin.IdentityPluginV1(name, idents, TerminalCallbacks(name)))
        except Exception as exc:
            problems.append(f"age plugin {name}: {reason(exc)}")
    return out
