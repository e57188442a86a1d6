"""sopsy: format-preserving, SOPS-3-compatible encryption of configuration file values.

Use from Python::

    import sopsy

    config = sopsy.load("secrets.yaml")          # decrypt (MAC checked) and parse
    plain = sopsy.decrypt(data, format="json")   # the plaintext file, byte for byte
    enc = sopsy.encrypt(plain, format="json", age="age1...")
    with sopsy.edit("secrets.yaml") as doc:      # written back on exit, only changes change
        doc["db"]["password"] = "new"

Errors are :class:`sopsy.SopsyError` subclasses (``MacMismatch``, ``KeyRetrievalError``...),
each with the ``exit_code`` the command line gives. Importing ``sopsy`` loads nothing of this
until it is used.

How it works: a store (``sopsy.stores``, one module per format) parses a file into the
format-neutral model (``sopsy.model``); the engine walks it (AAD per key path, the MAC over the
leaves, ``sopsy.engine``); values are encrypted with AES-256-GCM (``sopsy.cipher``) under a data
key wrapped for each master key (``sopsy.datakey``, one provider module per key type in
``sopsy.keys``); the store writes the file back by splicing only what changed, so a round trip
is byte-exact. Structural changes (``set``/``unset``, the merge driver, ``sopsy.edit``) go through
the editing operations of ``sopsy.edits``, and nothing else rewrites a document. Invariants: the
MAC is verified before any plaintext is shown; errors are one line and never contain values;
every write is atomic. To add a format, a key type or a command, see ``sopsy.stores``,
``sopsy.keys`` and ``sopsy.cli``.
"""

__version__ = "0.2.0"
# The sops format version written into new files. sops refuses to *edit* files that claim a
# newer version than itself, so we write the version of sops whose format we speak.
SOPS_FORMAT_VERSION = "3.11.0"

_API = ("load", "loads", "decrypt", "encrypt", "edit")
_ERRORS = ("SopsyError", "UsageError", "InputError", "OutputError", "ConfigError", "DecryptTreeError",
           "EncryptTreeError", "MacMismatch", "KeyRetrievalError", "MetadataNotFound", "AlreadyEncrypted",
           "BadTreePath", "NoFile", "MergeConflict")
__all__ = ["load", "loads", "decrypt", "encrypt", "edit", "SopsyError", "UsageError", "InputError", "OutputError",
           "ConfigError", "DecryptTreeError", "EncryptTreeError", "MacMismatch", "KeyRetrievalError",
           "MetadataNotFound", "AlreadyEncrypted", "BadTreePath", "NoFile", "MergeConflict", "__version__"]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .api import decrypt, edit, encrypt, load, loads
    from .errors import (
        AlreadyEncrypted,
        BadTreePath,
        ConfigError,
        DecryptTreeError,
        EncryptTreeError,
        InputError,
        KeyRetrievalError,
        MacMismatch,
        MergeConflict,
        MetadataNotFound,
        NoFile,
        OutputError,
        SopsyError,
        UsageError,
    )


def __getattr__(name: str) -> object:
    """The API and the error classes, imported on first use (PEP 562)."""
    if name in _API:
        from . import api

        return getattr(api, name)
    if name in _ERRORS:
        from . import errors

        return getattr(errors, name)
    raise AttributeError(f"module 'sopsy' has no attribute {name!r}")
