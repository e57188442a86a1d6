"""One unwrap per distinct wrapped key, for many files decrypted at once by threads.

Files that share a wrapped data key (the same key entry copied, or one file under several
names) cost one call to KMS, Vault or the token, and so does an entry that fails (its reason is
given to every file that needs it). Network keys (KMS, Vault, Azure, PKCS#11, and every key
when key services are in use) are unwrapped concurrently, once the first call of their type has
set up the client, asked for a PIN or read the credentials; the others (age, PGP: local, and
they may prompt) one at a time.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import Future

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from .metadata import KeyEntry

CONCURRENT_TYPES = frozenset({"kms", "gcp_kms", "azure_kv", "hc_vault", "pkcs11"})


def entry_key(entry: KeyEntry) -> tuple[str, str]:
    return entry.type, json.dumps(entry.fields, sort_keys=True, default=str)


class SharedUnwraps:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._results: dict[tuple[str, str], Future[bytes]] = {}
        self._type_locks: dict[str, threading.Lock] = {}
        self._warm: set[str] = set()
        self.calls = 0  # unwraps actually made (for tests and the summary)

    def unwrap(self, entry: KeyEntry, unwrap: Callable[[KeyEntry], bytes], concurrent: bool) -> bytes:
        key = entry_key(entry)
        with self._lock:
            result = self._results.get(key)
            mine = result is None
            if result is None:
                result = self._results[key] = Future()
            type_lock = self._type_locks.setdefault(entry.type, threading.Lock())
        if not mine:
            return result.result()  # raises what the first call raised
        try:
            value = self._call(entry, unwrap, type_lock, concurrent)
        except Exception as exc:
            result.set_exception(exc)
            raise
        except BaseException as exc:  # an interrupt: others must not wait for ever
            result.set_exception(RuntimeError("interrupted"))
            raise exc
        result.set_result(value)
        return value

    def _call(self, entry: KeyEntry, unwrap: Callable[[KeyEntry], bytes], type_lock: threading.Lock,
              concurrent: bool) -> bytes:
        if concurrent and entry.type in self._warm:
            with self._lock:
                self.calls += 1
            return unwrap(entry)
        with type_lock:
            with self._lock:
                self.calls += 1
            try:
                return unwrap(entry)
            finally:
                self._warm.add(entry.type)
