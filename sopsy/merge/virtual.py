"""A virtual merge base that clashed (a criss-cross merge): what neither side can be compared to.

When two branches each merged the other (a criss-cross), git first merges their merge bases into
a virtual base, running the driver; if that merge clashed, the base holds both sides between
markers, as git's own text merge would leave them. git's line merge then makes every later
change to such a region a conflict. The tree merge does the same: the base is ours' side of the
virtual base with each item where the two sides differ replaced by a value equal to nothing,
so a branch that resolved the old clash one way and a branch that resolved it another way
conflict, instead of one silently winning.
"""

from __future__ import annotations

from ..model import Mapping, Scalar, Sequence

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..model import Node
    from .tree import TreeMerge


class Unknown:
    """A base value that is not known (it differed between the sides of a virtual base)."""

    __slots__ = ()


def blur(ours_v: list[Mapping], theirs_v: list[Mapping], tm: TreeMerge) -> list[Mapping]:
    """``ours_v`` with every item that differs in ``theirs_v`` made :class:`Unknown`."""
    if len(ours_v) != len(theirs_v):
        return [_unknown_map(d) for d in ours_v]
    return [_blur(a, b, tm) for a, b in zip(ours_v, theirs_v, strict=True)]  # type: ignore[misc]


def _unknown() -> Scalar:
    return Scalar(Unknown())  # type: ignore[arg-type]


def _unknown_map(d: Mapping) -> Mapping:
    return Mapping([(k, v if k is None else _unknown()) for k, v in d.items], ref=d.ref)


def _blur(a: Node, b: Node, tm: TreeMerge) -> Node:
    if tm.sig(a) == tm.sig(b):
        return a
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        theirs = {k: v for k, v in reversed(b.items) if k is not None}  # the first of duplicate keys
        items: list[tuple[str | None, Node]] = []
        for k, v in a.items:
            if k is None:
                items.append((k, v))
            else:
                other = theirs.pop(k, None)
                items.append((k, _blur(v, other, tm) if other is not None else _unknown()))
        items += [(k, _unknown()) for k in theirs]  # in theirs' side only: known to no one either
        return Mapping(items, ref=a.ref)
    if isinstance(a, Sequence) and isinstance(b, Sequence) and len(a.items) == len(b.items):
        return Sequence([_blur(x, y, tm) for x, y in zip(a.items, b.items, strict=True)], ref=a.ref)
    return _unknown()
