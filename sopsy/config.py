"""Creation rules: find the ``.sopsy.yaml`` / ``.sops.yaml`` that applies to a file and pick its rule.

The schema is that of sops 3 ``.sops.yaml`` (``creation_rules`` only; ``destination_rules`` and
``stores`` are read by sops for other commands and ignored here), plus ``pkcs11`` key lists. The
differences from sops, all deliberate, are documented in docs/config.md:

* The search starts in the directory of the *file*, then (as sops searches) the working
  directory, so that a git filter/diff driver run from the repository root finds the config next
  to the file and a tool that runs sops in the config's directory on ``/dev/stdin`` finds it too.
  At each level ``.sopsy.yaml`` is preferred over ``.sops.yaml``; ``.sops.yml`` is never read.
* An unreadable or invalid config exits with 5 (sops's ``ErrorReadingConfig``; sops itself exits 1),
  conflicting crypt rules with 8 (``ErrorConflictingParameters``).
* An unknown key in a creation rule or a key group is an error naming the key and the rule
  (sops ignores it): a misspelt ``path_regx`` would make the rule match every file, a misspelt
  ``agee`` would encrypt for fewer keys than intended. Every rule is checked, not only the one
  that matches, and so are the regular expressions of every rule. Unknown *top-level* keys are
  still ignored (people keep YAML anchors there).

Everything else follows sops 3.11 (``config/config.go``), checked against the real binary:
the first matching rule wins, ``path_regex`` is searched (not anchored)
in the file's absolute path with the config directory plus separator removed from the front,
a config without ``creation_rules`` counts as no config, key lists may be comma-separated
strings or lists, ``key_groups`` replace the flat lists and are de-duplicated (flat lists are not).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .errors import ConfigError, ConflictingParameters, UsageError
from .keys import KeySpec
from .rules import RULE_NAMES, CryptRule, RegexError, go_regex, go_search

if TYPE_CHECKING:
    from pathlib import Path

    import yaml

CONFIG_NAMES = (".sopsy.yaml", ".sops.yaml")  # preference order within one directory
MAX_DEPTH = 100  # directories searched, as in sops
ENV_VAR = "SOPS_CONFIG"


_DURATION = re.compile(r"^([0-9]+)([dwh]?)$")


def parse_duration_days(text: str, where: str) -> float:
    """``90d``, ``12w``, ``36h`` or a bare number of days, in days (``max_age`` / ``--max-age``)."""
    m = _DURATION.match(str(text).strip())
    if not m:
        error = UsageError if where.startswith("--") else ConfigError
        raise error(f"{where}: expected a duration such as 90d, 12w or 36h, not {text!r}")
    n, unit = int(m.group(1)), m.group(2) or "d"
    return n * {"d": 1.0, "w": 7.0, "h": 1 / 24}[unit]


class CreationRule:
    """What a matching creation rule asks for when a new file is encrypted.

    (A plain class: this module is imported by every encrypt, and building dataclasses costs
    start-up time.)"""

    def __init__(self, key_groups: list[list[KeySpec]] | None = None, shamir_threshold: int = 0,
                 crypt_rule: CryptRule | None = None, mac_only_encrypted: bool = False,
                 config_path: Path | None = None, index: int = 0, max_age_days: float | None = None) -> None:
        self.key_groups: list[list[KeySpec]] = key_groups if key_groups is not None else []
        # 0 = as many groups as there are (decided by the data-key code)
        self.shamir_threshold = shamir_threshold
        self.crypt_rule = crypt_rule
        self.mac_only_encrypted = mac_only_encrypted
        self.config_path = config_path
        self.index = index  # position of the rule in creation_rules, for messages
        # rotation policy (a sopsy extension, read by `sopsy status`): the data key's maximum age
        self.max_age_days = max_age_days

    @property
    def has_keys(self) -> bool:
        return any(self.key_groups)


def find_config(file_path: str | os.PathLike[str] | None, explicit: str | os.PathLike[str] | None) -> Path | None:
    """The config that applies to ``file_path``, or None when there is none.

    ``explicit`` (``--config``) wins, then the ``SOPS_CONFIG`` environment variable; both must name
    an existing file. Otherwise the search walks up from the file's directory for at most
    ``MAX_DEPTH`` levels (so that git drivers run from the repository root find the config beside
    the file), then, as sops does, up from the working directory (the only search for standard
    input, ``/dev/stdin`` and other devices); at each level ``.sopsy.yaml`` is taken before
    ``.sops.yaml``, so the nearest config wins whatever its name.
    """
    chosen = explicit if explicit is not None and str(explicit) else os.environ.get(ENV_VAR) or None
    if chosen is not None:
        if not os.path.isfile(chosen):
            raise ConfigError(f"config file {chosen} does not exist or is not a file")
        return _path(chosen)
    starts = []
    if file_path is not None and str(file_path) not in ("-", "stdin") and not str(file_path).startswith("/dev/"):
        starts.append(os.path.dirname(os.path.abspath(file_path)))
    starts.append(os.path.abspath(os.getcwd()))
    for start in dict.fromkeys(starts):
        found = _search_up(start)
        if found is not None:
            return _path(found)
    return None


def _search_up(directory: str) -> str | None:
    for _ in range(MAX_DEPTH):
        for name in CONFIG_NAMES:
            candidate = os.path.join(directory, name)
            if os.path.isfile(candidate):
                return candidate
        parent = os.path.dirname(directory)
        if parent == directory:
            break
        directory = parent
    return None


def _path(p: str | os.PathLike[str]) -> Path:
    from pathlib import Path  # imported only when a config exists: most encrypts need none

    return Path(p)


def load_rule(config_path: str | os.PathLike[str], file_path: str | os.PathLike[str], *,
              encryption_context: dict[str, str] | None = None) -> CreationRule | None:
    """The first creation rule in ``config_path`` whose ``path_regex`` matches ``file_path``.

    Returns None when the config has no ``creation_rules`` at all (sops treats that file as
    absent). Raises UsageError when rules exist but none matches, ConfigError for unreadable
    or malformed configs, ConflictingParameters when a rule sets two crypt rules.
    ``encryption_context`` (``--encryption-context``) goes to the flat ``kms`` entries, which
    cannot carry one in the file; ``key_groups`` kms objects have their own ``context``.
    """
    from pathlib import Path

    config = Path(config_path)
    doc = _read_yaml(config)
    if doc is None:
        return None
    if not isinstance(doc, dict):
        raise ConfigError(f"{config}: the config must be a YAML mapping")
    rules = doc.get("creation_rules")
    if rules is None:
        return None
    if not isinstance(rules, list):
        raise ConfigError(f"{config}: creation_rules must be a list")
    for index, rule in enumerate(rules):
        if not isinstance(rule, dict):
            raise ConfigError(f"{config}: creation rule {index + 1} must be a mapping")
        _check_rule(rule, f"{config}: creation rule {index + 1}")
    target = match_path(config, file_path)
    for index, rule in enumerate(rules):
        if _matches(rule.get("path_regex"), target, config, index):
            return _build_rule(rule, config, index, encryption_context or {})
    raise UsageError(f"no matching creation rule in {config} for {target}")


def match_path(config_path: str | os.PathLike[str], file_path: str | os.PathLike[str]) -> str:
    """The string ``path_regex`` is searched in: relative to the config's directory when the file
    is inside it, absolute otherwise (lexically, like Go's filepath.Abs: symlinks are not resolved)."""
    config_dir = os.path.dirname(os.path.abspath(config_path))
    target = os.path.abspath(file_path)
    prefix = config_dir + os.sep  # "/" + "/" for a config at the root, as in sops: never matches
    return target[len(prefix):] if target.startswith(prefix) else target


# --- YAML ----------------------------------------------------------------------------------

_LOADER: Any = None


def _loader() -> Any:
    """A safe loader that rejects duplicate keys, as Go's yaml.v3 does (PyYAML keeps the last
    one, which would silently pick other keys than sops). Built on first use: encrypting with
    keys on the command line and no config needs no YAML machinery."""
    global _LOADER
    if _LOADER is not None:
        return _LOADER
    import yaml

    try:  # the C parser (libyaml) is much faster; the constructor stays PyYAML's safe one
        base: Any = yaml.CSafeLoader
    except AttributeError:  # PyYAML built without libyaml
        base = yaml.SafeLoader

    class _Loader(base):  # type: ignore[misc,valid-type]
        def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
            seen: set[tuple[str, str]] = set()
            for key_node, _ in node.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                    ident = (key_node.tag, key_node.value)
                    if ident in seen:
                        line = key_node.start_mark.line + 1
                        raise ConfigError(f"duplicate key {key_node.value[:60]!r} at line {line}")
                    seen.add(ident)
            return dict(super().construct_mapping(node, deep))

    _LOADER = _Loader
    return _LOADER


def _read_yaml(config: Path) -> Any:
    try:
        text = config.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8"
        raise ConfigError(f"cannot read config file {config}: {reason}") from None
    import yaml

    try:
        return yaml.load(text, Loader=_loader())  # noqa: S506 - a SafeLoader
    except ConfigError as exc:
        raise ConfigError(f"{config}: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise ConfigError(f"{config}: invalid YAML{where}: {problem}") from None


def _go_string(value: Any, what: str, where: str | Path) -> str:
    """A scalar read into a Go string field: yaml.v3 accepts any scalar there (``12`` -> "12")."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise ConfigError(f"{where}: {what} must be a string")


# --- schema checks ----------------------------------------------------------------------------

_RULE_KEYS = frozenset({
    "path_regex", "kms", "aws_profile", "age", "pgp", "gcp_kms", "hckms", "azure_keyvault",
    "hc_vault_transit_uri", "key_groups", "shamir_threshold", *RULE_NAMES, "mac_only_encrypted",
    "pkcs11", "max_age",  # sopsy
})
_GROUP_KEYS = frozenset({"merge", "kms", "gcp_kms", "hckms", "azure_keyvault", "hc_vault", "age", "pgp", "pkcs11"})
_OBJECT_KEYS = {"kms": frozenset({"arn", "role", "context", "aws_profile"}), "gcp_kms": frozenset({"resource_id"}),
                "azure_keyvault": frozenset({"vaultUrl", "key", "version"}), "hckms": frozenset({"key_id"})}
_HINTS = {"filename_regex": "sops 3 no longer reads filename_regex: use path_regex"}


def _check_keys(mapping: dict[Any, Any], known: frozenset[str], where: str) -> None:
    for key in mapping:
        if key in known:
            continue
        name = str(key)
        hint = _HINTS.get(name)
        if hint is None:
            import difflib

            close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
            hint = f"did you mean {close[0]}?" if close else "known keys: " + ", ".join(sorted(known))
        raise ConfigError(f"{where}: unknown key {name[:60]!r} ({hint})")


def _check_rule(rule: dict[str, Any], where: str) -> None:
    """Every key known and every regular expression valid, in any rule (see the module doc)."""
    _check_keys(rule, _RULE_KEYS, where)
    for name in ("path_regex", *RULE_NAMES):
        if name.endswith("regex") and rule.get(name) is not None:
            pattern = _go_string(rule[name], name, where)
            try:
                go_regex(pattern)
            except RegexError as exc:
                raise ConfigError(f"{where}: {name} is not a valid regular expression: {exc}") from None
    groups = rule.get("key_groups")
    for n, group in enumerate(groups if isinstance(groups, list) else ()):
        _check_group(group, f"{where}: key group {n + 1}")


def _check_group(group: Any, where: str) -> None:
    if not isinstance(group, dict):
        return  # reported with its position when the rule is built
    _check_keys(group, _GROUP_KEYS, where)
    for name, known in _OBJECT_KEYS.items():
        items = group.get(name)
        for obj in items if isinstance(items, list) else ():
            if isinstance(obj, dict):
                _check_keys(obj, known, f"{where}: {name} entry")
    merged = group.get("merge")
    for sub in merged if isinstance(merged, list) else ():
        _check_group(sub, f"{where} (merge)")


# --- rule matching and building ------------------------------------------------------------

def _matches(path_regex: Any, target: str, config: Path, index: int) -> bool:
    pattern = _go_string(path_regex, f"path_regex of creation rule {index + 1}", config)
    if not pattern:
        return True  # missing or empty matches everything, like a rule that has only filename_regex
    try:
        return go_search(go_regex(pattern), target)  # RE2, as sops: linear time, Go's syntax
    except RegexError as exc:
        raise ConfigError(f"{config}: path_regex of creation rule {index + 1} is invalid: {exc}") from None


def _build_rule(rule: dict[str, Any], config: Path, index: int, context: dict[str, str]) -> CreationRule:
    where = f"{config}: creation rule {index + 1}"
    crypt: dict[str, str | None] = {name: _go_string(rule.get(name), name, where) for name in RULE_NAMES}
    try:
        crypt_rule = CryptRule.pick(crypt)
    except ConflictingParameters as exc:
        raise ConflictingParameters(f"{where}: {exc}") from None
    threshold = rule.get("shamir_threshold")
    if threshold is None:
        threshold = 0
    if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 0:
        raise ConfigError(f"{where}: shamir_threshold must be a non-negative integer")
    mac_only = rule.get("mac_only_encrypted")
    if mac_only is None:
        mac_only = False
    if not isinstance(mac_only, bool):
        raise ConfigError(f"{where}: mac_only_encrypted must be true or false")
    raw_groups = rule.get("key_groups")
    if raw_groups is not None and not isinstance(raw_groups, list):
        raise ConfigError(f"{where}: key_groups must be a list")
    if raw_groups:  # an empty list falls back to the flat lists, as in sops (len > 0)
        groups = [_dedup(_group_keys(g, f"{where}: key group {n + 1}")) for n, g in enumerate(raw_groups)]
    else:
        groups = [_flat_keys(rule, where, context)]
    n_groups = len([g for g in groups if g])
    if threshold > max(n_groups, 1):
        raise ConfigError(f"{where}: shamir_threshold {threshold} is larger than the number of key groups "
                          f"({n_groups})")
    max_age = rule.get("max_age")
    max_age_days = parse_duration_days(max_age, f"{where}: max_age") if max_age is not None else None
    return CreationRule(key_groups=groups, shamir_threshold=threshold, crypt_rule=crypt_rule,
                        mac_only_encrypted=mac_only, config_path=config, index=index, max_age_days=max_age_days)


def _split_list(value: Any, name: str, where: str) -> list[str]:
    """A flat key list: a comma-separated string or a list of strings, as one comma-joined list
    re-split (sops joins list items with "," and splits again, so items may hold commas too)."""
    if value is None:
        return []
    if isinstance(value, str):
        items = [value]
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        items = value
    else:
        raise ConfigError(f"{where}: {name} must be a string or a list of strings")
    return [part.strip() for item in items for part in item.split(",") if part.strip()]


def _pkcs11_list(value: Any, name: str, where: str) -> list[str]:
    """PKCS#11 URIs may contain commas, so a string is only split where a new ``pkcs11:`` starts."""
    if value is None:
        return []
    if isinstance(value, str):
        items = re.split(r",\s*(?=pkcs11:)", value)
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        items = value
    else:
        raise ConfigError(f"{where}: {name} must be a string or a list of strings")
    return [item.strip() for item in items if item.strip()]


def _kms_from_arn(text: str, context: dict[str, str], profile: str) -> KeySpec:
    """``arn[+role-arn]`` with spaces removed, as sops's NewMasterKeyFromArn reads it."""
    text = text.replace(" ", "")
    arn, role = text, ""
    cut = text.find("+arn:aws:iam::")
    if cut > 0:
        arn, role = text[:cut], text[cut + 1:]
    return KeySpec("kms", arn, {"role": role, "context": dict(context), "aws_profile": profile})


def _flat_keys(rule: dict[str, Any], where: str, context: dict[str, str]) -> list[KeySpec]:
    profile = _go_string(rule.get("aws_profile"), "aws_profile", where)
    keys: list[KeySpec] = []
    keys += [KeySpec("age", r) for r in _split_list(rule.get("age"), "age", where)]
    keys += [KeySpec("pkcs11", u) for u in _pkcs11_list(rule.get("pkcs11"), "pkcs11", where)]
    keys += [KeySpec("pgp", f.replace(" ", "")) for f in _split_list(rule.get("pgp"), "pgp", where)]
    keys += [_kms_from_arn(a, context, profile) for a in _split_list(rule.get("kms"), "kms", where)]
    keys += [KeySpec("gcp_kms", r.replace(" ", "")) for r in _split_list(rule.get("gcp_kms"), "gcp_kms", where)]
    keys += [KeySpec("hckms", k) for k in _split_list(rule.get("hckms"), "hckms", where)]
    keys += [KeySpec("azure_kv", u) for u in _split_list(rule.get("azure_keyvault"), "azure_keyvault", where)]
    keys += [KeySpec("hc_vault", u) for u in
             _split_list(rule.get("hc_vault_transit_uri"), "hc_vault_transit_uri", where)]
    return keys


def _objects(value: Any, name: str, where: str) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ConfigError(f"{where}: {name} must be a list of mappings")
    return value


def _strings(value: Any, name: str, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: {name} must be a list of strings")
    return value


def _field(obj: dict[str, Any], key: str, name: str, where: str) -> str:
    return _go_string(obj.get(key), f"{name}.{key}", where)


def _group_keys(group: Any, where: str) -> list[KeySpec]:
    """One ``key_groups`` entry, ``merge`` groups first, in the order sops's extractMasterKeys uses."""
    if not isinstance(group, dict):
        raise ConfigError(f"{where} must be a mapping")
    keys: list[KeySpec] = []
    merged = group.get("merge")
    if merged is not None and not isinstance(merged, list):
        raise ConfigError(f"{where}: merge must be a list of key groups")
    for sub in merged or ():
        keys += _group_keys(sub, f"{where} (merge)")
    for item in _strings(group.get("age"), "age", where):
        keys += [KeySpec("age", r.strip()) for r in item.split(",") if r.strip()]
    keys += [KeySpec("pkcs11", u.strip()) for u in _strings(group.get("pkcs11"), "pkcs11", where)]
    keys += [KeySpec("pgp", f.replace(" ", "")) for f in _strings(group.get("pgp"), "pgp", where)]
    for obj in _objects(group.get("kms"), "kms", where):
        context = obj.get("context") or {}
        if not isinstance(context, dict):
            raise ConfigError(f"{where}: kms.context must be a mapping")
        ctx = {str(k): _go_string(v, "kms.context value", where) for k, v in context.items()}
        keys.append(KeySpec("kms", _field(obj, "arn", "kms", where), {
            "role": _field(obj, "role", "kms", where), "context": ctx,
            "aws_profile": _field(obj, "aws_profile", "kms", where)}))
    for obj in _objects(group.get("gcp_kms"), "gcp_kms", where):
        keys.append(KeySpec("gcp_kms", _field(obj, "resource_id", "gcp_kms", where)))
    for obj in _objects(group.get("hckms"), "hckms", where):
        keys.append(KeySpec("hckms", _field(obj, "key_id", "hckms", where)))
    for obj in _objects(group.get("azure_keyvault"), "azure_keyvault", where):
        url, name = _field(obj, "vaultUrl", "azure_keyvault", where), _field(obj, "key", "azure_keyvault", where)
        version = _field(obj, "version", "azure_keyvault", where)
        ident = f"{url}/keys/{name}" + (f"/{version}" if version else "")
        keys.append(KeySpec("azure_kv", ident, {"vault_url": url, "name": name, "version": version}))
    keys += [KeySpec("hc_vault", u) for u in _strings(group.get("hc_vault"), "hc_vault", where)]
    return keys


def _dedup(keys: Iterable[KeySpec]) -> list[KeySpec]:
    """Drop repeats of (type, id), keeping the first (sops does this for key_groups only)."""
    seen: set[tuple[str, str]] = set()
    out: list[KeySpec] = []
    for key in keys:
        if (key.type, key.id) not in seen:
            seen.add((key.type, key.id))
            out.append(key)
    return out
