"""sopsy: format-preserving, SOPS-3-compatible encryption of configuration file values."""

__version__ = "0.1.0"
# The sops format version written into new files. sops refuses to *edit* files that claim a
# newer version than itself, so we write the version of sops whose format we speak.
SOPS_FORMAT_VERSION = "3.11.0"
