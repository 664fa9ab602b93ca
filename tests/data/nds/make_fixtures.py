"""Writes the hand-made NDS fixtures beside this file: a few tiny records per NDS space in
the release's exact format (cell spaces: `net.genotype` [[op, input], ...] + concat, `width`,
`depth`, `aux`; AnyNet spaces: `ds`, `ws`, `ss`, `bot_muls`/`bms`, `num_gs`/`gws`,
`block_type`, stem fields), `optim` and `test_ep_top1`. Every op of each cell space's op set
appears on a cell-input edge (strided in reduction cells) and on a node-input edge; concats
are the loose ends as in NDS (DARTS: all four nodes). Deterministic: `python make_fixtures.py`."""
import json
import random
from pathlib import Path

import sys
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from spaces.nds import FAMILIES  # noqa: E402

HERE = Path(__file__).resolve().parent


def cell(ops, n_nodes, rng, shift):
    pairs = []
    for node in range(n_nodes):
        for j in range(2):
            e = 2 * node + j
            op = ops[(e + shift) % len(ops)]
            inp = j if (e + shift) % 3 else rng.randrange(0, 2 + node)
            pairs.append([op, inp])
    return pairs


def loose_ends(pairs, n_nodes, darts):
    if darts:
        return list(range(2, 2 + n_nodes))
    used = {p[1] for p in pairs}
    return [j for j in range(2, 2 + n_nodes) if j not in used] or [1 + n_nodes]


def cell_records(name, n):
    ops, n_nodes, _ = FAMILIES[name]
    rng = random.Random(name)
    fixed = "fix-w-d" in name
    out = []
    for i in range(n):
        normal = cell(ops, n_nodes, rng, 2 * i)
        reduce_ = cell(ops, n_nodes, rng, 2 * i + 1 + n_nodes)
        darts = ops[0] == "none"
        g = {"normal": normal, "normal_concat": loose_ends(normal, n_nodes, darts),
             "reduce": reduce_, "reduce_concat": loose_ends(reduce_, n_nodes, darts)}
        width, depth = (4, 3) if fixed else (rng.choice([4, 6]), rng.choice([3, 4]))
        out.append({"net": {"genotype": g, "width": width, "depth": depth, "aux": False, "drop_prob": 0.0},
                    "optim": {"lr": 0.1, "wd": 5e-4, "max_ep": 100},
                    "test_ep_top1": [round(rng.uniform(60, 90), 2), round(rng.uniform(5, 40), 3)]})
    return out


def main():
    for name, (ops, n_nodes, file) in FAMILIES.items():
        recs = cell_records(name, 6)
        data = {"top": recs[:2], "mid": recs[2:]} if name.endswith("fix-w-d") else recs
        (HERE / file).write_text(json.dumps(data) + "\n")


if __name__ == "__main__":
    main()


def anynet_records(name, n):
    rng = random.Random(name)
    out = []
    for i in range(n):
        stages = 4 if name.endswith("-in") else 3
        ds = [rng.choice([1, 2, 3]) for _ in range(stages)]
        if name == "nds-resnet":
            ws = sorted(rng.choice([4, 6, 8, 12]) for _ in range(stages))
            net = {"block_type": "res_basic_block", "ds": ds, "ws": ws, "ss": [8 if i % 2 else 1] + [2] * (stages - 1),
                   "bot_muls": [], "num_gs": [], "stem_type": "res_stem_cifar", "stem_w": 16}
        else:
            ws = sorted(rng.choice([8, 12, 16]) for _ in range(stages))
            bms = [rng.choice([0, 0.5, 1.0]) for _ in range(stages)]
            gws = [rng.choice([1, 2, 4]) if int(round(w * (b or 1))) % 4 == 0 else 1 for w, b in zip(ws, bms)]
            keys = ("bms", "gws") if name.startswith("nds-resnext-a") else ("bot_muls", "num_gs")
            net = {"block_type": "res_bottleneck_block", "ds": ds, "ws": ws, "ss": [1] + [2] * (stages - 1),
                   keys[0]: bms, keys[1]: gws, "stem_type": "simple_stem_in", "stem_w": 32}
        out.append({"net": net, "optim": {"lr": 0.1, "wd": 5e-4, "max_ep": 100},
                    "test_ep_top1": [round(rng.uniform(60, 90), 2), round(rng.uniform(5, 40), 3)]})
    return out


def main_anynet():
    from spaces.anynet import FAMILIES as ANY
    for name, (_, _, file) in ANY.items():
        recs = anynet_records(name, 6)
        data = {"top": recs[:3], "mid": recs[3:]} if name.endswith("-b") else recs
        (HERE / file).write_text(json.dumps(data) + "\n")


if __name__ == "__main__":
    main_anynet()
