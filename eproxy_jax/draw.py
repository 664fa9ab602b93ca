"""Cell drawings (Fig. 1 of the paper): a space's `graphs(encoding)` rendered as DAGs.

A graph is `{"title": str, "nodes": [label, ...], "edges": [(src, dst, label), ...]}` with the
nodes in topological order. Nodes sit left to right; an edge that skips nodes bends (further
for longer jumps, alternating above and below) so parallel edges stay apart; each edge carries
its op label at its middle. PNG or SVG by the file's extension (SVG keeps text as text).
"""
from __future__ import annotations

from pathlib import Path

FORMATS = (".png", ".svg", ".pdf")


def render(graphs: list, path, dpi: int = 150) -> Path:
    import matplotlib.pyplot as plt

    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise ValueError(f"{path}: the drawing must end in {', '.join(FORMATS)}")
    fig = figure(graphs)
    import matplotlib
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def figure(graphs: list):
    """The drawing as a matplotlib figure: one row per graph, every title inside the figure."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    layouts = [_layout(g) for g in graphs]
    widest = max(len(g["nodes"]) for g in graphs)
    heights = [2 * lay["reach"] + 0.8 for lay in layouts]
    width = max(6.0, 1.6 * widest)
    titles = [_wrap(g["title"], width) for g in graphs]
    heights = [h + 0.35 * (t.count("\n")) for h, t in zip(heights, titles)]
    fig, axes = plt.subplots(len(graphs), 1, figsize=(width, sum(0.9 * h + 0.5 for h in heights)),
                             squeeze=False, gridspec_kw={"height_ratios": heights})
    for ax, g, lay, title in zip(axes[:, 0], graphs, layouts, titles):
        _draw_one(ax, g, lay)
        ax.set_title(title, fontsize=_TITLE_PT)
    fig.tight_layout()
    _shrink_titles(fig, axes[:, 0])
    return fig


_TITLE_PT = 8
_CHAR_IN = 0.62 * _TITLE_PT / 72     # a generous average glyph width at the title's size, inches


def _wrap(title: str, width_in: float) -> str:
    """Break a title that would not fit the figure's width into lines (at spaces, else
    anywhere: NB201 strings and TransNAS ids have no spaces)."""
    import textwrap
    per_line = max(10, int(0.95 * width_in / _CHAR_IN))
    return "\n".join(textwrap.wrap(title, per_line, break_long_words=True, break_on_hyphens=False)) or title


def _shrink_titles(fig, axes):
    """Wrapping estimates glyph widths; a title still wider than the figure is shrunk to fit."""
    renderer = fig.canvas.get_renderer()
    for ax in axes:
        t = ax.title
        size = t.get_fontsize()
        while size > 4 and t.get_window_extent(renderer).width > 0.98 * fig.bbox.width:
            size -= 0.5
            t.set_fontsize(size)
        box = t.get_window_extent(renderer)
        if box.x0 < 0 or box.x1 > fig.bbox.width:   # centred over an off-centre axes: centre it on the figure
            t.set_x(ax.transAxes.inverted().transform((fig.bbox.width / 2, 0))[0])


def _layout(g) -> dict:
    """Each edge as a quadratic Bezier (start, control, end) in data coordinates: adjacent
    nodes straight, longer jumps bowed (higher for longer, alternating above and below;
    repeated node pairs further out)."""
    curves, used = [], {}
    for k, (s, d, _) in enumerate(g["edges"]):
        span = abs(d - s)
        rep = used.get((s, d), 0)
        used[(s, d)] = rep + 1
        if span == 1 and rep == 0:
            h = 0.0
        else:
            side = 1 if (k + rep) % 2 == 0 else -1
            h = side * (0.45 * span + 0.35 * rep)
        curves.append(((float(s), 0.0), ((s + d) / 2, h), (float(d), 0.0)))
    reach = max([abs(c[1][1]) / 2 for c in curves] + [0.5]) + 0.5
    return {"curves": curves, "reach": reach}


def _draw_one(ax, g, lay):
    from matplotlib.patches import FancyArrowPatch
    from matplotlib.path import Path as MPath

    n = len(g["nodes"])
    ax.set_xlim(-0.7, n - 0.3)
    ax.set_ylim(-lay["reach"], lay["reach"])
    ax.axis("off")
    for (a, c, b), (src, dst, label) in zip(lay["curves"], g["edges"]):
        # stop the curve at the nodes' outlines so the arrowhead shows
        ta = _leave(a, c, b, _node_radius(g["nodes"][src]), forward=True)
        tb = _leave(a, c, b, _node_radius(g["nodes"][dst]), forward=False)
        a, c, b = _segment(a, c, b, ta, tb)
        ax.add_patch(FancyArrowPatch(path=MPath([a, c, b], [MPath.MOVETO, MPath.CURVE3, MPath.CURVE3]),
                                     arrowstyle="-|>", mutation_scale=11, lw=1.1, color="#444444",
                                     shrinkA=0, shrinkB=0, zorder=1))
        if label:
            mx, my = _point(a, c, b, 0.5)   # the curve's middle
            my += 0.12 if c[1] == 0 else 0.0
            ax.text(mx, my, label, ha="center", va="center", fontsize=7, zorder=3,
                    bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.9))
    for i, label in enumerate(g["nodes"]):
        ax.text(float(i), 0, label, ha="center", va="center", fontsize=8, zorder=4,
                bbox=dict(boxstyle="circle,pad=0.35" if len(label) <= 3 else "round,pad=0.3",
                          fc="#dbe9f6", ec="#2b5d8a", lw=1.2))


# inches per data unit (render's figure: 1.6 in per node across, ~0.9 in per unit up)
_SX, _SY = 1.6, 0.9


def _node_radius(label: str) -> float:
    """Half the drawn size of a node's label box, in inches."""
    return 0.13 if len(label) <= 3 else 0.045 * len(label) + 0.06


def _point(a, c, b, t):
    return tuple((1 - t) ** 2 * a[i] + 2 * (1 - t) * t * c[i] + t ** 2 * b[i] for i in range(2))


def _leave(a, c, b, radius, forward: bool) -> float:
    """The curve parameter where it leaves a node of `radius` inches at its start (or end)."""
    end = a if forward else b
    for k in range(1, 200):
        t = k / 200 if forward else 1 - k / 200
        x, y = _point(a, c, b, t)
        if ((x - end[0]) * _SX) ** 2 + ((y - end[1]) * _SY) ** 2 > radius ** 2:
            return t
    return 0.5


def _segment(a, c, b, t0, t1):
    """The quadratic Bezier's piece between t0 and t1, as (start, control, end)."""
    ctrl = tuple((1 - t0) * (1 - t1) * a[i] + ((1 - t0) * t1 + t0 * (1 - t1)) * c[i] + t0 * t1 * b[i]
                 for i in range(2))
    return _point(a, c, b, t0), ctrl, _point(a, c, b, t1)
