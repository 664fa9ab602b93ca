"""`eproxy draw`: an architecture's cells as DAGs (PNG, SVG or PDF)."""
from __future__ import annotations

from pathlib import Path

from .args import UsageError, space_option
from .common import check_out_file, load_space_arg


def add_parser(sub):
    w = sub.add_parser("draw", help="draw an architecture's cells as DAGs (PNG, SVG or PDF)")
    w.add_argument("space", help="nb201, nb101, nb301, an NDS cell space, transnas-micro or transnas-macro")
    w.add_argument("arch", help="the architecture in the benchmark's own encoding, e.g. '[[3],[3,1],[2,4,3]]' "
                   "or an NB201 string (JSON, or a plain string)")
    w.add_argument("--out", required=True, help="output file: .png, .svg or .pdf")
    w.add_argument("--space-option", type=space_option, action="append", default=[], metavar="KEY=VALUE")
    return w


def run(args) -> int:
    """`eproxy draw`: check the space and --out (no jax), then render the cells."""
    import spaces
    from .. import draw

    spaces.info(args.space)
    out = Path(args.out)
    if out.suffix.lower() not in draw.FORMATS:
        raise UsageError(f"--out {out}: must end in {', '.join(draw.FORMATS)}")
    check_out_file("--out", out)
    from spaces.base import arch_from_text
    space, _ = load_space_arg(args)
    graphs = space.graphs(space.parse(arch_from_text(args.arch)))
    draw.render(graphs, out)
    print(f"drew {len(graphs)} cell(s) of {args.space}: {out}")
    return 0
