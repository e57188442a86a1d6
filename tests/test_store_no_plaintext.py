"""No plaintext in encrypted output: for the dotenv, INI and tfvars stores, text that is not a
comment, a key or the format's own syntax (and that no crypt rule leaves plain) never reaches an
encrypted file. Input the store cannot read that way is refused with a one-line error naming the
line, never its content.

The property tests build documents from lines whose secrets are tokens (``sk-live-`` + hex) that
cannot occur in ciphertext, base64 or metadata, so finding one in the output is a leak."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import RECIPIENT, run_sopsy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sopsy import core
from sopsy.errors import InputError
from sopsy.keys import KeySpec
from sopsy.stores import get_store

OPTS = core.EncryptOptions(key_groups=[[KeySpec("age", RECIPIENT)]])
PROPS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_secret = st.builds(lambda h: "sk-live-" + h, st.text("0123456789abcdef", min_size=6, max_size=10))


def check(store_name: str, text: str, secrets: list[str]) -> None:
    """Either the store refuses the text (one line, the line number, no secret) or no secret
    appears in the encrypted output."""
    store = get_store(store_name)
    try:
        enc = core.encrypt_text(store, text, OPTS)
    except InputError as e:
        msg = str(e)
        assert "\n" not in msg and "line" in msg
        assert not any(s in msg for s in secrets), msg
        return
    leaked = [s for s in secrets if s in enc]
    assert not leaked, f"plaintext in the encrypted {store_name} output: {leaked}"


# -- dotenv ---------------------------------------------------------------------------------------


def test_dotenv_line_without_equals_is_refused_with_its_number(tmp_path: Path) -> None:
    f = tmp_path / "a.env"
    original = b"A=1\n# fine\n\nAPI_TOKEN: sk-live-abc123\n"
    f.write_bytes(original)
    r = run_sopsy("encrypt", "--age", RECIPIENT, "-i", str(f))
    assert r.returncode == 2
    err = r.stderr.decode()
    assert "line 4" in err and "sk-live" not in err and "API_TOKEN" not in err
    assert len(err.strip().splitlines()) == 1
    assert f.read_bytes() == original
    r = run_sopsy("encrypt", "--age", RECIPIENT, str(f))
    assert r.returncode == 2 and r.stdout == b""


@pytest.mark.parametrize("line", ["sk-live-abc123", "  sk-live-abc123", "export sk-live-abc123",
                                  "\tAPI sk-live-abc123 # x"])
def test_dotenv_lines_sops_cannot_read(line: str) -> None:
    with pytest.raises(InputError) as e:
        core.encrypt_text(get_store("dotenv"), f"A=1\n{line}\nB=2\n", OPTS)
    assert "line 2" in str(e.value) and "sk-live" not in str(e.value)


def test_dotenv_blank_and_indented_comment_lines_stay_allowed() -> None:
    text = "A=1\n   \n\t# an indented comment\nB=2\n"
    enc = core.encrypt_text(get_store("dotenv"), text, OPTS)
    assert core.decrypt_text(get_store("dotenv"), enc).plaintext() == text


_dkey = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ_", min_size=1, max_size=6)


@st.composite
def _dotenv_doc(draw: st.DrawFn) -> tuple[str, list[str]]:
    secrets: list[str] = []
    lines: list[str] = []
    for _ in range(draw(st.integers(0, 8))):
        s = draw(_secret)
        kind = draw(st.sampled_from(["plain", "export", "dq", "sq", "multi", "hostile", "hostile2", "open",
                                     "comment", "blank", "ws"]))
        k = draw(_dkey)
        if kind == "plain":
            lines.append(f"{k}={s}")
        elif kind == "export":
            lines.append(f"export {k} = {s} # note")
        elif kind == "dq":
            lines.append(f'{k}="{s} x"')
        elif kind == "sq":
            lines.append(f"{k}='{s}'")
        elif kind == "multi":
            lines.append(f'{k}="-----BEGIN-----\n{s}\n-----END-----"')
        elif kind == "hostile":
            lines.append(f"{k}: {s}")  # YAML habit: no '='
        elif kind == "hostile2":
            lines.append(draw(st.sampled_from(["", " ", "\t"])) + s)
        elif kind == "open":
            lines.append(f'{k}="{s}')  # a quote that never closes
        elif kind == "comment":
            lines.append("# a comment")
            continue
        else:
            lines.append("" if kind == "blank" else " \t")
            continue
        secrets.append(s)
    return "\n".join(lines) + draw(st.sampled_from(["", "\n"])), secrets


@PROPS
@given(_dotenv_doc())
def test_property_dotenv_no_value_in_output(doc: tuple[str, list[str]]) -> None:
    check("dotenv", *doc)


# -- INI ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text,line", [
    ("[db] sk-live-abc123\nk = v\n", 1),  # go-ini ignores text after the header's ']'
    ("k = v\n  [db]\tpassword = sk-live-abc123\n", 2),
    ('[db]\nk = """""" sk-live-abc123\n', 2),  # ... and after an empty value's closing quote
    ("[db]\nk = `` sk-live-abc123\n", 2),
    ("[db]\npassword = hunter2#sk-live-abc123\n", 2),  # go-ini cuts a value at '#' or ';'
    ("top = x;sk-live-abc123\n", 1),
])
def test_ini_text_go_ini_ignores_is_refused(text: str, line: int) -> None:
    with pytest.raises(InputError) as e:
        core.encrypt_text(get_store("ini"), text, OPTS)
    assert f"line {line}" in str(e.value) and "sk-live" not in str(e.value)


@pytest.mark.parametrize("text", ["[db] ; a comment\nk = v\n", "[db]  # c\nk = v\n", '[db]\t\nk = """""" ; c\n',
                                  "[db]\nk = `v` trailing text\n", "[db]\nk = v ;c\nc = #ff0000\nq = 'v';c\n"])
def test_ini_comments_after_headers_and_quotes_stay_allowed(text: str) -> None:
    store = get_store("ini")
    enc = core.encrypt_text(store, text, OPTS)
    assert "trailing" not in enc
    assert core.decrypt_text(store, enc).plaintext() == text


_ikey = st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=6)


@st.composite
def _ini_doc(draw: st.DrawFn) -> tuple[str, list[str]]:
    secrets: list[str] = []
    lines: list[str] = []
    for n in range(draw(st.integers(0, 8))):
        s = draw(_secret)
        k = f"{draw(_ikey)}{n}"  # keys unique within the file
        kind = draw(st.sampled_from(["plain", "colon", "dq", "bt", "triple", "multi", "cont", "header",
                                     "hostile_header", "hostile_quote", "hostile_bare", "hostile_glued",
                                     "comment", "blank"]))
        if kind == "plain":
            lines.append(f"{k} = {s} ; note")
        elif kind == "colon":
            lines.append(f"  {k}: {s}")
        elif kind == "dq":
            lines.append(f'{k}="  {s}  "')
        elif kind == "bt":
            lines.append(f"{k} = `{s};x` tail {draw(_secret)}")
        elif kind == "triple":
            lines.append(f'{k} = """{s}"""')
        elif kind == "multi":
            lines.append(f'{k} = """first\n{s}\nlast"""')
        elif kind == "cont":
            lines.append(f"{k} = abc\\\n  {s}")
        elif kind == "header":
            lines.append(f"[{k}]")
            continue
        elif kind == "hostile_header":
            lines.append(f"[{k}] {s}")
        elif kind == "hostile_quote":
            empty = draw(st.sampled_from(["``", '""' '""' '""']))
            lines.append(f"{k} = {empty} {s}")
        elif kind == "hostile_bare":
            lines.append(s)
        elif kind == "hostile_glued":
            lines.append(f"{k} = pass{draw(st.sampled_from(['#', ';']))}{s}")
        elif kind == "comment":
            lines.append(draw(st.sampled_from(["; c", "# c"])))
            continue
        else:
            lines.append("")
            continue
        secrets.append(s)
    return "\n".join(lines) + draw(st.sampled_from(["", "\n"])), secrets


@PROPS
@given(_ini_doc())
def test_property_ini_no_value_in_output(doc: tuple[str, list[str]]) -> None:
    check("ini", *doc)


# -- tfvars ---------------------------------------------------------------------------------------

_tkey = st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=6).filter(
    lambda k: k not in ("sops", "true", "false", "null", "for", "in", "if"))


@st.composite
def _tf_value(draw: st.DrawFn, secrets: list[str], depth: int = 0) -> str:
    s = draw(_secret)
    kinds = ["str", "tpl", "ident", "expr", "num_then_text", "str_then_text"]
    if depth < 2:
        kinds += ["list", "list_ml", "obj", "obj_inline"]
    kind = draw(st.sampled_from(kinds))
    if kind in ("list", "list_ml", "obj", "obj_inline"):
        n = draw(st.integers(0, 3))
        items = [draw(_tf_value(secrets, depth + 1)) for _ in range(n)]
        if kind == "list":
            return "[" + ", ".join(items) + "]"
        if kind == "list_ml":
            return "[\n" + "".join(f"  {v},\n" for v in items) + "]"
        keys = [f"{draw(_tkey)}{i}" for i in range(n)]
        if kind == "obj":
            return "{\n" + "".join(f"  {k} = {v}\n" for k, v in zip(keys, items, strict=True)) + "}"
        return "{ " + ", ".join(f"{k} = {v}" for k, v in zip(keys, items, strict=True)) + " }"
    secrets.append(s)
    if kind == "str":
        return f'"{s}"'
    if kind == "tpl":
        return f'"${{var.x}} {s}"'
    if kind == "ident":
        return s  # an identifier with dashes: an expression, kept as one encrypted leaf
    if kind == "expr":
        return f'upper("{s}")'
    if kind == "num_then_text":
        return f"1 {s}"
    return f'"x" {s}'


@st.composite
def _tfvars_doc(draw: st.DrawFn) -> tuple[str, list[str]]:
    secrets: list[str] = []
    lines: list[str] = []
    for n in range(draw(st.integers(1, 6))):
        k = f"{draw(_tkey)}{n}"
        s = draw(_secret)
        kind = draw(st.sampled_from(["attr", "attr", "heredoc", "comment", "hostile_bare", "hostile_block",
                                     "hostile_after_list", "hostile_after_obj", "hostile_heredoc"]))
        if kind == "attr":
            lines.append(f"{k} = {draw(_tf_value(secrets))}")
            continue
        if kind == "comment":
            lines.append(draw(st.sampled_from(["# c", "// c", "/* c */"])))
            continue
        if kind == "heredoc":
            lines.append(f"{k} = <<-EOT\n  {s}\n  EOT")
        elif kind == "hostile_bare":
            lines.append(s)
        elif kind == "hostile_block":
            lines.append(f'{k} "{s}" {{\n}}')
        elif kind == "hostile_after_list":
            lines.append(f'{k} = ["a"] {s}')
        elif kind == "hostile_after_obj":
            lines.append(f'{k} = {{ a = 1 }} {s}')
        else:
            lines.append(f"{k} = <<EOT\nx\nEOT {s}")
        secrets.append(s)
    return "\n".join(lines) + draw(st.sampled_from(["", "\n"])), secrets


@PROPS
@given(_tfvars_doc())
def test_property_tfvars_no_value_in_output(doc: tuple[str, list[str]]) -> None:
    check("tfvars", *doc)
