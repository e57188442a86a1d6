"""Random three-way merges of small commented files, in every format with comments: the merge
of two random edits (values changed, keys deleted or added, comments above a key or at the end
of its line added, changed or removed) either succeeds or marks the clashes; it never fails to
write a side in ours' layout ("a sopsy bug"). Each failure this found was a disagreement between
a store's editor and the merge's view of which item a comment belongs to (JSONC, tfvars block
comments, INI comments closing a section, YAML mappings emptied). Seeded: the same cases each run.
"""

from __future__ import annotations

import random

import pytest

from sopsy.errors import MergeConflict
from sopsy.merge.driver import _merge_text
from sopsy.stores import get_store

Keys = dict[str, tuple[str, "str | None", "str | None"]]  # key -> (value, comment above, comment after)


def comment(fmt: str, r: random.Random) -> str:
    n = r.randint(0, 9)
    return {"json": r.choice([f"// c{n}", f"/* b{n} */"]), "tfvars": r.choice([f"# h{n}", f"// s{n}", f"/* b{n} */"]),
            "ini": f"; c{n}"}.get(fmt, f"# c{n}")


def text(fmt: str, keys: Keys) -> str:
    pad = "  " if fmt in ("json", "nested") else ""
    lines = []
    for k, (v, above, after) in keys.items():
        item = {"json": f'"{k}": "{v}"', "tfvars": f'{k} = "{v}"', "ini": f"{k} = {v}", "dotenv": f"{k.upper()}={v}"}.get(
            fmt, f"{k}: {v}")
        lines.append(("" if above is None else pad + above + "\n") + pad + item + "{comma}" + (f" {after}" if after else ""))
    body = "\n".join(line.replace("{comma}", "," if fmt == "json" and i < len(lines) - 1 else "")
                     for i, line in enumerate(lines))
    if fmt == "json":
        return "{\n" + body + "\n}\n"
    if fmt == "ini":
        return "[s]\n" + body + "\n"
    if fmt == "nested":
        return "top: 1\nd:\n" + body + "\nz: 2\n" if keys else "top: 1\nd: {}\nz: 2\n"
    return body + "\n" if keys else ("{}\n" if fmt == "yaml" else "")


def mutate(fmt: str, keys: Keys, r: random.Random) -> Keys:
    keys = dict(keys)
    for _ in range(r.randint(1, 3)):
        op, names = r.choice(["value", "delete", "add", "above", "after"]), list(keys)
        if op == "add":
            items = list(keys.items())
            items.insert(r.randint(0, len(items)), (f"n{r.randint(0, 99)}", ("new", comment(fmt, r) if r.random() < .5
                                                                                  else None, None)))
            keys = dict(items)
        elif names:
            k = r.choice(names)
            v, above, after = keys[k]
            if op == "value":
                keys[k] = (v + "x", above, after)
            elif op == "delete":
                del keys[k]
            elif op == "above":
                keys[k] = (v, None if above and r.random() < .3 else comment(fmt, r), after)
            elif fmt not in ("ini", "dotenv"):  # (no comment after a value there: it would be the value's)
                after_new = f"// i{r.randint(0, 9)}" if fmt == "json" else comment(fmt, r)
                keys[k] = (v, above, None if after else after_new)
    return keys


@pytest.mark.parametrize("fmt", ["yaml", "nested", "json", "tfvars", "ini", "dotenv"])
def test_random_commented_merges_never_fail_to_write_a_side(fmt: str) -> None:
    r = random.Random(f"merge-comments-{fmt}")
    store = get_store("yaml" if fmt == "nested" else fmt)
    merged = clashed = 0
    for _ in range(250):
        base: Keys = {f"k{i}": (f"v{i}", comment(fmt, r) if r.random() < .4 else None, None)
                      for i in range(r.randint(1, 6))}
        texts = [text(fmt, base), text(fmt, mutate(fmt, base, r)), text(fmt, mutate(fmt, base, r))]
        for t in texts:
            store.parse(t)  # the generator writes valid files
        try:
            tm = _merge_text(store, *texts, "x")[3]
        except MergeConflict as exc:  # what the driver raises when it cannot write a side
            raise AssertionError(f"{exc}: {texts}") from None
        merged += not tm.clashes
        clashed += bool(tm.clashes)
    assert merged > 100 and clashed > 5  # most random pairs of edits merge, some clash
