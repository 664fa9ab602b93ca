"""Shape buckets under a program budget: start from each architecture's exact shape and merge
(elementwise maximum of the padded shape) the pair of buckets whose merge adds the least
estimated compute, until at most `k` buckets remain in each family (shapes that cannot share
a program, e.g. different stride patterns, are different families)."""
from __future__ import annotations


def merge_shapes(items, k: int, family, merge, cost) -> dict:
    """`items`: {exact shape: [architecture indices]}; `family(shape)` -> hashable;
    `merge(a, b)` -> the padded shape covering both; `cost(shape, members)` -> float.
    Returns {padded shape: [architecture indices]}."""
    shapes = list(items)
    members = [list(items[s]) for s in shapes]
    while True:
        fams = {}
        for i, sh in enumerate(shapes):
            fams.setdefault(family(sh), []).append(i)
        over = [ix for ix in fams.values() if len(ix) > k]
        if not over:
            break
        ix, best = over[0], None
        for x in range(len(ix)):
            for y in range(x + 1, len(ix)):
                a, b = ix[x], ix[y]
                m = merge(shapes[a], shapes[b])
                delta = cost(m, members[a] + members[b]) - cost(shapes[a], members[a]) - cost(shapes[b], members[b])
                if best is None or delta < best[0]:
                    best = (delta, a, b, m)
        _, a, b, m = best
        shapes[a], members[a] = m, members[a] + members[b]
        del shapes[b], members[b]
    out = {}
    for sh, mem in zip(shapes, members):
        out.setdefault(sh, []).extend(mem)
    return out
