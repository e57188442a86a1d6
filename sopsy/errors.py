"""Errors with the exit codes of sops 3 (cmd/sops/codes), so scripts written for sops keep working.

Every error message is one line and never contains plaintext values.
"""

from __future__ import annotations


class SopsyError(Exception):
    """Base error: a one-line message and a process exit code."""

    exit_code = 1

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class UsageError(SopsyError):
    exit_code = 1


class InputError(SopsyError):
    """The input could not be read or parsed."""

    exit_code = 2


class ConflictMarkers(InputError):
    """The file holds merge conflict markers: a conflict not resolved yet."""


class OutputError(SopsyError):
    exit_code = 3


class FileBusy(OutputError):
    """Another sopsy process holds the file for its own read-modify-write (and did not let go in time)."""


class FileChanged(OutputError):
    """The file changed between our read and our write (another writer, an editor): not overwritten."""


class DumpError(SopsyError):
    exit_code = 4


class ConfigError(SopsyError):
    """The config file cannot be read, is not valid YAML, or does not fit the schema."""

    exit_code = 5  # sops's ErrorReadingConfig code (sops itself exits 1 for these)


class EncryptionContextError(SopsyError):
    exit_code = 6


class InvalidSetFormat(SopsyError):
    """A ``set`` path or JSON value that cannot be read."""

    exit_code = 7


class ConflictingParameters(SopsyError):
    exit_code = 8


class EncryptTreeError(SopsyError):
    exit_code = 23


class DecryptTreeError(SopsyError):
    exit_code = 25


class NoSuchFileForKeyChange(SopsyError):
    exit_code = 49


class MacMismatch(SopsyError):
    exit_code = 51


class BadTreePath(SopsyError):
    exit_code = 91


class NoDocument(SopsyError):
    exit_code = 92


class NoFile(SopsyError):
    exit_code = 100


class DuplicateDecryptionKeyType(SopsyError):
    exit_code = 112


class KeyRetrievalError(SopsyError):
    """No master key could recover the data key."""

    exit_code = 128


class NotModified(SopsyError):
    exit_code = 200


class NoEditor(SopsyError):
    exit_code = 201


class AlreadyEncrypted(SopsyError):
    exit_code = 203


class KeyNotFound(UsageError):
    """``unset`` of a path the file does not have (sops's SopsKeyNotFound; ``--idempotent``
    makes it a no-op)."""

    exit_code = 1


class MetadataNotFound(SopsyError):
    exit_code = 1


def warn(message: str) -> None:
    """One line on stderr for something the user should know that does not stop the command."""
    import sys

    print(f"sopsy: warning: {message}", file=sys.stderr)


class MergeConflict(SopsyError):
    """A 3-way merge could not decide; git keeps the file as conflicted."""

    exit_code = 1


class Interrupted(SopsyError):
    """Ctrl-C or a termination signal stopped the command (sops's KeyboardInterrupt code)."""

    exit_code = 85


class KeyUnavailable(Exception):
    """One master key could not unwrap its payload (the reason is reported, the next key is tried)."""


class CommandNotFound(SopsyError):
    """exec-env / exec-file: the command to run does not exist (the shell's code)."""

    exit_code = 127


class CommandNotRunnable(SopsyError):
    """exec-env / exec-file: the command exists but cannot be run (the shell's code)."""

    exit_code = 126
