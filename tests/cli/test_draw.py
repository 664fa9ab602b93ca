"""`eproxy draw`: every op of every drawable space renders, in PNG and SVG, and the CLI contract."""
import json

import pytest

from eproxy_jax import draw
from spaces import load_space
from conftest import one_line_error as _one_line_error, run_cli as run

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _svg_text(path):
    return path.read_text()


def _check(space, archs, tmp_path, expect_labels):
    for k, raw in enumerate(archs):
        g = space.graphs(space.parse(raw))
        for gr in g:
            n = len(gr["nodes"])
            assert all(0 <= s < d < n for s, d, _ in gr["edges"]), gr   # topological order
        png = draw.render(g, tmp_path / f"{space.name}_{k}.png")
        assert png.read_bytes()[:8] == PNG_MAGIC and png.stat().st_size > 2000
        svg = draw.render(g, tmp_path / f"{space.name}_{k}.svg")
        text = _svg_text(svg)
        for label in expect_labels[k]:
            assert f">{label}<" in text, (space.name, label)            # SVG keeps labels as text


def test_nb201_every_op(tmp_path):
    from spaces.nb201 import OPS
    sp = load_space("nb201")
    archs = [[[o], [o, o], [o, o, o]] for o in range(1, len(OPS))] + [[[0], [0, 0], [0, 0, 0]]]
    labels = [[OPS[o]] for o in range(1, len(OPS))] + [[]]
    _check(sp, archs, tmp_path, labels)
    g = sp.graphs(sp.parse([[3], [0, 1], [2, 4, 0]]))[0]
    assert sorted(g["edges"]) == [(0, 1, "nor_conv_3x3"), (0, 3, "nor_conv_1x1"), (1, 2, "skip_connect"),
                                  (1, 3, "avg_pool_3x3")]                  # 'none' edges are absent


def test_nb101_every_op(tmp_path):
    sp = load_space("nb101")
    m = [[0, 1, 1, 1, 0, 0, 0], [0, 0, 0, 0, 1, 0, 0], [0, 0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 0, 0, 1],
         [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0]]
    ops = ["input", "conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3", "conv3x3-bn-relu", "maxpool3x3", "output"]
    _check(sp, [[m, ops]], tmp_path, [["in", "out", "conv3x3", "conv1x1", "maxpool"]])
    g = sp.graphs(sp.parse([m, ops]))[0]
    assert len(g["edges"]) == 8 and g["nodes"][0] == "in" and g["nodes"][-1] == "out"


@pytest.mark.parametrize("name", ["nb301", "nds-darts", "nds-enas", "nds-amoeba", "nds-nasnet", "nds-pnas"])
def test_darts_family_every_op(name, tmp_path):
    sp = load_space(name)
    ops = [o for o in sp.op_names if o != "none"]
    archs, labels = [], []
    for i in range(0, len(ops), 2 * sp.n_nodes):      # every op appears in some normal cell
        chunk = (ops[i:i + 2 * sp.n_nodes] * (2 * sp.n_nodes))[: 2 * sp.n_nodes]
        normal = [[op, (j // 2 + 1) if j % 2 else 0] for j, op in enumerate(chunk)]
        reduce = [[ops[0], j % 2] for j in range(2 * sp.n_nodes)]
        concat = list(range(2, 2 + sp.n_nodes))
        raw = {"normal": normal, "normal_concat": concat, "reduce": reduce, "reduce_concat": concat}
        if name.startswith("nds"):
            raw = {"genotype": raw, "width": 16, "depth": 8}
        archs.append(raw)
        labels.append(sorted(set(chunk)) + ["c_{k}"])
    _check(sp, archs, tmp_path, labels)
    g = sp.graphs(sp.parse(archs[0]))
    assert [x["title"].split()[-2] for x in g] == ["normal", "reduce"]


def test_transnas_every_op(tmp_path):
    micro = load_space("transnas-micro")
    _check(micro, ["64-41414-1_23_123", "3_00_000"], tmp_path,
           [["skip_connect", "nor_conv_1x1", "nor_conv_3x3"], ["nor_conv_3x3"]])
    macro = load_space("transnas-macro")
    _check(macro, ["64-1234-basic", "64-412234-basic"], tmp_path,
           [["plain", "ch x2", "stride 2", "stride 2, ch x2"], ["stem"]])


def test_cli_draw(tmp_path):
    r = run(["draw", "nb201", "[[3],[3,1],[2,4,3]]", "--out", str(tmp_path / "cell.png")], tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "cell.png").read_bytes()[:8] == PNG_MAGIC
    s = "|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|nor_conv_1x1~0|avg_pool_3x3~1|nor_conv_3x3~2|"
    r = run(["draw", "nb201", s, "--out", str(tmp_path / "cell.svg")], tmp_path)    # a search output's arch id
    assert r.returncode == 0, r.stderr
    assert ">avg_pool_3x3<" in (tmp_path / "cell.svg").read_text()
    from spaces.base import read_json
    from spaces import truth_path
    rec = json.dumps(read_json(truth_path("nbmr", "seg"))[0][0])
    for args, needle in ((["nb201", "[[9],[3,1],[2,4,3]]", "--out", "x.png"], "NB201 op"),
                         (["nb201", "[[3],[3,1],[2,4,3]]", "--out", "x.gif"], "must end in .png"),
                         (["nb201", "[[3],[3,1],[2,4,3]]", "--out", "nodir/x.png"], "does not exist"),
                         (["nbmr", rec, "--out", "x.png"], "drawing is not available"),
                         (["nb999", "x", "--out", "x.png"], "unknown space")):
        _one_line_error(run(["draw", *args], tmp_path), needle)


def _titles_inside(fig):
    """Every axes title's drawn box lies inside the figure (a clipped title does not)."""
    renderer = fig.canvas.get_renderer()
    w, h = fig.bbox.width, fig.bbox.height
    boxes = [ax.title.get_window_extent(renderer) for ax in fig.axes]
    return all(b.x0 >= 0 and b.x1 <= w and b.y0 >= 0 and b.y1 <= h for b in boxes), boxes


@pytest.mark.parametrize("case", ["nb201", "macro", "words", "one_node"])
def test_long_titles_stay_inside_the_figure(case):
    import matplotlib.pyplot as plt
    if case == "nb201":      # a 107-character title without spaces on a 4-node figure
        graphs = load_space("nb201").graphs(load_space("nb201").parse(
            "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"))
    elif case == "macro":
        macro = load_space("transnas-macro")
        graphs = macro.graphs(macro.parse("64-412234-basic"))
        graphs[0]["title"] += " " + "with a long note appended to the title " * 8
    else:
        nodes = ["0", "1"] if case == "words" else ["0"]
        graphs = [{"title": "a drawing whose title goes on and on " * 8, "nodes": nodes,
                   "edges": [(0, 1, "op")] if len(nodes) > 1 else []}]
    fig = draw.figure(graphs)
    ok, boxes = _titles_inside(fig)
    assert ok, (case, [tuple(round(v) for v in b.extents) for b in boxes], fig.bbox.extents)
    assert all(ax.title.get_text().replace("\n", "") for ax in fig.axes)   # nothing dropped
    plt.close(fig)
