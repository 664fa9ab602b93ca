"""Reading a compiled XLA:CPU program's HLO text for the convolutions YNNPACK runs
(`eproxy_jax.chunks.Lowering.cpu_convs`)."""
import re


def convolutions_in_ynn(hlo: str) -> int:
    """Convolutions inside YNNPACK fusions of a compiled program's HLO text: the fusions
    whose backend config says `__ynn_fusion`, and the computations they call."""
    comps, name = {}, None
    for line in hlo.splitlines():
        m = re.match(r"^(?:ENTRY )?%?([\w.\-]+) .*\{\s*$", line)
        if m:
            name = m.group(1)
            comps[name] = []
        elif name is not None:
            comps[name].append(line)
    called = [m.group(1) for line in hlo.splitlines() if "__ynn_fusion" in line
              for m in [re.search(r"calls=%?([\w.\-]+)", line)] if m]
    return sum("convolution(" in ln for c in called for ln in comps.get(c, []))
