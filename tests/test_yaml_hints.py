"""Which spellings sops's typed values cannot carry through encryption, and which corpus files
they affect.

sopsy keeps such a value's exact source text as an encrypted layout hint (``sopsy_layout``, see
docs/yaml-format.md). Here every hint of every corpus file is sorted into the cases that doc
lists, by a classifier of its own (regular expressions over the source text, nothing from the
store), so a hint of an undocumented kind fails the test. Run with ``-s`` to see the table.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable

import pytest
from conftest import CORPUS, RECIPIENT, ROOT, need_shared

from sopsy import core
from sopsy.errors import SopsyError
from sopsy.keys import KeySpec
from sopsy.stores import get_store

STORE = get_store("yaml")
OPTS = core.EncryptOptions(key_groups=[[KeySpec("age", RECIPIENT)]])
DOC = ROOT / "docs" / "yaml-format.md"

_NUM_BODY = r"[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)(?:[eE][-+]?[0-9]+)?"
_BOOL_11 = r"y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF"


def _unclosed_flow_before(source: str, hint: str) -> bool:
    """Whether some occurrence of ``hint`` sits inside a flow collection opened on its line."""
    for m in re.finditer(re.escape(hint), source):
        line_start = source.rfind("\n", 0, m.start()) + 1
        before = re.sub(r"'[^']*'|\"(?:[^\"\\]|\\.)*\"", "", source[line_start:m.start()])
        if before.count("[") + before.count("{") > before.count("]") + before.count("}"):
            return True
    return False


def _loose_timestamp(h: str) -> bool:
    """A YAML timestamp other than full RFC 3339 (the only form sops writes back)."""
    m = re.fullmatch(r"\d{4}-(\d\d?)-(\d\d?)(?:([Tt]|[ \t]+)(\d\d?):\d\d:\d\d(?:\.\d*)?"
                     r"([ \t]*)(Z|[-+]\d\d?(?::\d\d)?)?)?", h)
    if not m:
        return False
    month, day, sep, hour, zone_space, zone = m.groups()
    if sep is None:
        return True  # date only
    return (sep not in "Tt" or min(len(month), len(day), len(hour)) == 1 or bool(zone_space)
            or zone is None or (zone != "Z" and not re.fullmatch(r"[-+]\d\d:\d\d", zone)))


Check = Callable[[str, str], bool]  # (hint without anchor, source file) -> matches

# (case as named in docs/yaml-format.md, an example the doc must show, the test)
CASES: list[tuple[str, str, Check]] = [
    ("alias", "`*name`", lambda h, s: re.fullmatch(r"\*[^\s,\[\]{}]+", h) is not None),
    ("tag", "`!!binary", lambda h, s: h.startswith("!")),
    ("block indentation indicator", "`\\|2`", lambda h, s: re.match(r"[|>](?:[1-9][-+]?|[-+][1-9])(?:[ \t]|\n)", h) is not None),
    ("folded block", "`>` / `>-` / `>+`", lambda h, s: re.match(r">[-+]?(?:[ \t]+#.*)?\n", h) is not None),
    ("literal block a derived block cannot rebuild", "`\\|+`", lambda h, s: re.match(r"\|[-+]?(?:[ \t]+#.*)?\n", h) is not None),
    ("multi-line quoted scalar", "multi-line quoted scalar", lambda h, s: h[:1] in "'\"" and "\n" in h),
    ("multi-line plain scalar", "multi-line plain scalar", lambda h, s: h[:1] not in "'\"|>" and "\n" in h.rstrip("\n")),
    ("escapes in double quotes", '`"caf\\u00e9"`', lambda h, s: h.startswith('"') and "\\" in h),
    ("quoted scalar inside a flow collection", '`["IPv6", "IPv4"]`',
     lambda h, s: re.fullmatch(r"\"[^\"\\\n]*\"|'(?:[^'\n]|'')*'", h) is not None and _unclosed_flow_before(s, h)),
    ("octal integer", "`0777`", lambda h, s: re.fullmatch(r"[-+]?0[0-7_]+|0o[0-7_]+", h) is not None),
    ("hexadecimal integer", "`0x1F`", lambda h, s: re.fullmatch(r"[-+]?0x[0-9a-fA-F_]+", h) is not None),
    ("binary integer", "`0b1010`", lambda h, s: re.fullmatch(r"[-+]?0b[01_]+", h) is not None),
    ("digit separators", "`1_000`", lambda h, s: "_" in h and re.fullmatch(_NUM_BODY, h) is not None),
    ("date-only or loose timestamp", "`2024-01-02`",
     lambda h, s: _loose_timestamp(h)),
    ("float sops prints in another form", "`0.00001`",
     lambda h, s: re.fullmatch(r"-?(?:0\.0000[0-9]*[1-9][0-9]*|[0-9]{7,}\.[0-9]*[1-9]|[0-9]{22,})", h) is not None),
    ("special float spelling", "`.NaN`", lambda h, s: h not in (".inf", "-.inf", ".nan")
     and re.fullmatch(r"[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)", h) is not None),
    ("boolean spelling", "`True`", lambda h, s: re.fullmatch(r"True|TRUE|False|FALSE", h) is not None),
    ("YAML 1.1 look-alike string", "`yes`, `On`",
     lambda h, s: re.fullmatch(_BOOL_11 + r"|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?", h) is not None),
]


def classify(hint: str, source: str) -> str | None:
    body = re.sub(r"^&[^\s]+[ \t]+", "", hint)  # an anchor is kept in the encrypted file
    for name, _, check in CASES:
        if check(body, source):
            return name
    return None


def _doc_section() -> str:
    text = DOC.read_text()
    start = text.index("### Which spellings need a hint")
    end = text.index("\n#", start + 5)
    return text[start:end]


def test_every_case_is_documented() -> None:
    section = _doc_section()
    for name, example, _ in CASES:
        row = next((ln for ln in section.splitlines() if ln.startswith(f"| {name} |")), None)
        assert row is not None, f"docs/yaml-format.md has no row for {name!r}"
        assert example in row, (name, example)
    documented = [ln.split("|")[1].strip() for ln in section.splitlines()
                  if ln.startswith("| ") and not ln.startswith(("| case", "|---"))]
    assert sorted(documented) == sorted(name for name, _, _ in CASES), "the doc and the classifier list different cases"


# Sources written for each case, with the case each value's hint must fall in. Independent of
# the store: the expectation comes from what the doc says, checked by a byte-exact round trip.
EXAMPLES: list[tuple[str, str]] = [
    ("a: &x secret\nb: *x\n", "alias"),
    ("k: !!binary aGk=\n", "tag"),
    ("k: !!int \"42\"\n", "tag"),
    ("k: |2\n   lead\n", "block indentation indicator"),
    ("k: >\n  a\n  b\n", "folded block"),
    ("k: |\n  \ta\n", "literal block a derived block cannot rebuild"),
    ("k: 'a\n  b'\n", "multi-line quoted scalar"),
    ("k: a\n  b\n", "multi-line plain scalar"),
    ("k: \"caf\\u00e9\"\n", "escapes in double quotes"),
    ("k: [\"IPv6\", plain]\n", "quoted scalar inside a flow collection"),
    ("k: 0777\n", "octal integer"),
    ("k: 0o17\n", "octal integer"),
    ("k: 0x1F\n", "hexadecimal integer"),
    ("k: 0b1010\n", "binary integer"),
    ("k: 1_000\n", "digit separators"),
    ("k: 2024-01-02\n", "date-only or loose timestamp"),
    ("k: 2024-01-02 03:04:05\n", "date-only or loose timestamp"),
    ("k: 0.00001\n", "float sops prints in another form"),
    ("k: 1234567.5\n", "float sops prints in another form"),
    ("k: .NaN\n", "special float spelling"),
    ("k: -.Inf\n", "special float spelling"),
    ("k: True\n", "boolean spelling"),
    ("k: yes\n", "YAML 1.1 look-alike string"),
    ("k: 1:30\n", "YAML 1.1 look-alike string"),
]


@pytest.mark.parametrize("src,case", EXAMPLES, ids=[repr(s)[:30] for s, _ in EXAMPLES])
def test_documented_case_is_kept_exact_by_a_hint(src: str, case: str) -> None:
    opened = core.decrypt_text(STORE, core.encrypt_text(STORE, src, OPTS))
    assert opened.plaintext() == src
    cases = [classify(h, src) for h in opened.hints.values()]
    assert case in cases, (opened.hints, cases)
    assert None not in cases


CORPUS_YAML = sorted((CORPUS / "yaml").glob("*")) if CORPUS.is_dir() else []


def test_corpus_hints_fall_in_documented_cases() -> None:
    need_shared()
    table: dict[str, Counter[str]] = {}
    unclassified: list[tuple[str, str]] = []
    refused: list[str] = []
    for path in CORPUS_YAML:
        src = path.read_bytes().decode("utf-8", "surrogateescape")
        try:
            enc = core.encrypt_text(STORE, src, OPTS)
        except SopsyError:
            refused.append(path.name)  # the two files the sops format cannot hold (test_yaml_store)
            continue
        opened = core.decrypt_text(STORE, enc)
        assert opened.plaintext() == src, path.name
        counts: Counter[str] = Counter()
        for hint in opened.hints.values():
            assert isinstance(hint, str)
            case = classify(hint, src)
            if case is None:
                unclassified.append((path.name, hint[:80]))
            else:
                counts[case] += 1
        table[path.name] = counts
    _print_table(table, refused)
    assert not unclassified, f"hints of no documented case: {unclassified}"
    assert len(table) >= 10 and len(refused) <= 2
    assert sum(sum(c.values()) for c in table.values()) > 0


def _print_table(table: dict[str, Counter[str]], refused: list[str]) -> None:
    cases = [name for name, _, _ in CASES if any(name in c for c in table.values())]
    print("\nlayout hints per corpus file (files that need none are listed with 0):")
    width = 60
    short = {name: name.split()[0][:10] for name in cases}
    print(f"{'file':<{width}}  {'total':>5}  " + "  ".join(f"{short[c]:>10}" for c in cases))
    for name, counts in table.items():
        print(f"{name[:width]:<{width}}  {sum(counts.values()):>5}  " + "  ".join(f"{counts.get(c, 0):>10}" for c in cases))
    print("columns: " + "; ".join(f"{short[c]} = {c}" for c in cases))
    for name in refused:
        print(f"{name}: not encryptable in the sops format (refused, as sops refuses it)")


def test_classifier_rejects_what_is_not_a_documented_case() -> None:
    """The classifier is not a catch-all: ordinary spellings match no case."""
    for h in ("plain", "'single'", "42", "1.5", "true", "2024-01-02T03:04:05Z", "\"IPv6\"", ".inf"):
        assert classify(h, "k: " + h + "\n") is None, h
    assert classify('"IPv6"', 'k: ["IPv6"]\n') == "quoted scalar inside a flow collection"
    assert classify("&a 0777", "k: &a 0777\n") == "octal integer"
    assert classify(">-\n  x\n", "") == "folded block"
    assert classify(">2-\n   x\n", "") == "block indentation indicator"
