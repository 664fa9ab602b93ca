"""Shape buckets under a program budget: start from each architecture's exact shape and merge
(elementwise maximum of the padded shape) the pair of buckets whose merge adds the least
estimated compute, until at most `k` buckets remain in each family (shapes that cannot share
a program, e.g. different stride patterns, are different families).

The estimated compute of a bucket is `unit(shape) . load`: `unit` the cost of one unit of work
at the padded shape (per stage, level or branch), `load` the work of its architectures (e.g. the
number of real layers per stage), additive over architectures. Greedy with a heap of pair
costs (stale pairs skipped), so thousands of exact shapes merge in seconds."""
from __future__ import annotations

import heapq

import numpy as np


def merge_shapes(items, k: int, family, merge, unit, load) -> dict:
    """`items`: {exact shape: [architecture indices]}; `family(shape)` -> hashable;
    `merge(a, b)` -> the padded shape covering both; `unit(shape)` -> 1-D costs;
    `load(members)` -> 1-D work of those architectures (same length).
    Returns {padded shape: [architecture indices]}."""
    groups = {}   # id -> (shape, members, load tuple, cost)
    fams = {}

    def cost(shape, ld):
        return float(sum(u * x for u, x in zip(unit(shape), ld)))

    for i, (sh, mem) in enumerate(items.items()):
        ld = tuple(float(x) for x in np.atleast_1d(load(list(mem))))
        groups[i] = (sh, list(mem), ld, cost(sh, ld))
        fams.setdefault(family(sh), []).append(i)
    next_id = len(groups)

    def pair(a, b):
        sa, _, la, ca = groups[a]
        sb, _, lb, cb = groups[b]
        m = merge(sa, sb)
        ld = tuple(x + y for x, y in zip(la, lb))
        return cost(m, ld) - ca - cb, m, ld

    for fam, ids in fams.items():
        if len(ids) <= k:
            continue
        live = set(ids)
        heap = []
        for x in range(len(ids)):
            for y in range(x + 1, len(ids)):
                a, b = ids[x], ids[y]
                d, m, ld = pair(a, b)
                heap.append((d, a, b, m, ld))
        heapq.heapify(heap)
        while len(live) > k:
            d, a, b, m, ld = heapq.heappop(heap)
            if a not in live or b not in live:
                continue
            new = next_id
            next_id += 1
            groups[new] = (m, groups[a][1] + groups[b][1], ld, cost(m, ld))
            live -= {a, b}
            for o in sorted(live):
                dd, mm, ll = pair(o, new)
                heapq.heappush(heap, (dd, o, new, mm, ll))
            live.add(new)
        fams[fam] = sorted(live)
    out = {}
    for ids in fams.values():
        for i in ids:
            sh, mem, _, _ = groups[i]
            out.setdefault(sh, []).extend(mem)
    return out


def bucket_ids(merged: dict, registry: dict, n: int):
    """Per architecture, the id of its padded shape in `registry` ({shape: id}, grown as new
    shapes appear, so ids stay stable across calls)."""
    import numpy as np

    out = np.zeros(n, np.int64)
    for shape, members in merged.items():
        out[members] = registry.setdefault(shape, len(registry))
    return out
