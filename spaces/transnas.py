"""TransNAS-Bench-101 (Duan et al., 2021): the micro (cell) and macro (skeleton) spaces, with the
architecture as data. Network code: yawen-d/TransNASBench `lib/models/net_infer` (read, not copied).

Both are the benchmark's encoder (task decoders removed):
- stem: conv3x3 stride 2 (3 -> base/2) + BN, then ReLU-conv3x3 stride 2 (base/2 -> base) + BN
  (base 64; the stem leaves input/4);
- one *layer* per skeleton digit (1 plain, 2 channels x2, 3 stride 2, 4 both), each two cells:
  the first with the layer's channel change and stride, the second at the layer's width;
- micro: every cell is the searched 4-node cell `a_bc_def` (node j sums one op per earlier node;
  ops 0 none, 1 skip_connect - identity, or FactorizedReduce when the edge changes stride or
  width -, 2 ReLU-conv1x1-BN, 3 ReLU-conv3x3-BN; BN affine; the edges from node 0 carry the
  cell's stride and width change); output = node 3, no residual;
- macro: every cell is the basic residual block ReLU-conv3x3-BN, ReLU-conv3x3-BN plus a
  conv1x1-BN shortcut when the stride or width changes (no final ReLU).

Features: the outputs of the last three layers, nearest-resized to `target_size` (8), deepest
first. The paper authors' protocol (the default): the 32x32 image batch and the micro skeleton
`41414` read as `41412` (at 32 px the stem leaves 8x8, so the true last stage would be 1x1);
`skeleton=41414 input_size=64` (or 128) scores the true skeleton.

Micro encoding: int32 `[6]`, op id per edge (1,0), (2,0), (2,1), (3,0), (3,1), (3,2) = the
digits of `a_bc_def`; one program for the whole space (op per edge by `lax.switch`; under vmap
over architectures each op runs on the architectures that picked it, `eproxy_jax.nn.edge_groups`).

Macro encoding: int32 `[23]` = `[L, 6 digits, 6 real layer widths, 5 run lengths, 5 run starts]`
(unused entries 0). Shapes follow the stride layers (`3`, `4`): a program has `k` stride-layer
slots and, between them, *runs* of stride-1 layer slots (an `nn.scan`, slots beyond the
architecture's run length skipped by `lax.cond`); each resolution level has one padded width
with the real channels masked after every BN and every initial kernel rescaled to its real fans.
Features go through a 3-deep buffer updated by every real layer. `bucket_of` merges shapes of
the same stride count until at most `max_programs` (default 2) remain per stride count.
"""
from __future__ import annotations

import functools
import re

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from eproxy_jax.nn import initializers, ops
from . import SpaceError
from .base import Space
from .truth import ArchToValue, Pairs
from .buckets import bucket_ids, merge_shapes
from eproxy_jax.nn.edge_groups import make_edge
from eproxy_jax.nn.layers import BNParams, Kernel

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3")
EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))  # (to, from), the order of a_bc_def
TASKS = ("class_object", "class_scene", "autoencoder", "normal", "jigsaw", "room_layout", "segmentsemantic")
BUNDLED = ("class_object", "class_scene", "autoencoder", "normal")
MICRO_SKELETON = "41414"
MAX_LAYERS = 6
MAX_STRIDES = 5


def layer_plan(skeleton: str, base: int):
    """[(c_in, c_out, stride)] of the skeleton's layers."""
    out, c = [], base
    for t in skeleton:
        t = int(t)
        c_out = c * 2 if t % 2 == 0 else c
        out.append((c, c_out, 2 if t > 2 else 1))
        c = c_out
    return out


def _check_skeleton(s, what):
    if not isinstance(s, str) or not re.fullmatch(r"[1-4]+", s):
        raise SpaceError(f"{what} must be a string of digits 1-4, got {s!r}")
    return s


def _bn(x, p, mask=None):
    y = ops.batch_norm(x, p["scale"], p["bias"])
    return y if mask is None else y * mask


def _down(x, s):
    """The sampling grid of a 1x1 convolution with stride `s` and no padding."""
    return x if s == 1 else x[:, ::s, ::s, :]


def _shift(x):
    """FactorizedReduce's second path input: pad one zero row/column at the bottom/right,
    drop the first row/column."""
    return jnp.pad(x, ((0, 0), (0, 1), (0, 1), (0, 0)))[:, 1:, 1:, :]


# --- micro ---------------------------------------------------------------------------------

class Stem(nn.Module):
    base: int

    @nn.compact
    def __call__(self, x):
        h = self.base // 2
        x = _bn(ops.conv2d(x, Kernel((3, 3, x.shape[-1], h), name="conv0")(), 2), BNParams((h,), name="bn0")())
        return _bn(ops.conv2d(jax.nn.relu(x), Kernel((3, 3, h, self.base), name="conv1")(), 2),
                   BNParams((self.base,), name="bn1")())


@functools.lru_cache(maxsize=None)
def _micro_edge(stride: int, reduce: bool, c_out: int):
    """`edge(x, op, p)` of a micro edge (`p` its parameters): the encoded op alone, or under
    vmap over architectures each op on the architectures that picked it (`eproxy_jax.nn.edge_groups`;
    skip is grouped only where it is a factorized reduce)."""
    s = stride

    def zero(x, p):
        return jnp.zeros((x.shape[0], -(-x.shape[1] // s), -(-x.shape[2] // s), c_out), x.dtype)

    def skip(x, p):
        if not reduce:
            return x
        r = jax.nn.relu(x)
        y = jnp.concatenate([_down(r, s) @ p["fr_a"][0, 0], _down(_shift(r), s) @ p["fr_b"][0, 0]], -1)
        return _bn(y, p["fr_bn"])

    def conv1x1(x, p):
        return _bn(_down(jax.nn.relu(x), s) @ p["w1"][0, 0], p["bn1"])

    def conv3x3(x, p):
        return _bn(ops.conv2d(jax.nn.relu(x), p["w3"], s), p["bn3"])

    # no recompute on the unbatched path (the edges never were checkpointed here)
    return make_edge((zero, skip, conv1x1, conv3x3), (1, 2, 3) if reduce else (2, 3), remat=False)


class MicroEdge(nn.Module):
    """One edge `c_in -> c_out` at `stride`: every op's parameters, the encoded op picked
    by `_micro_edge` (a `lax.switch`, op-grouped under vmap)."""
    c_in: int
    c_out: int
    stride: int

    @nn.compact
    def __call__(self, x, op):
        ci, co, s = self.c_in, self.c_out, self.stride
        p = {"w1": Kernel((1, 1, ci, co), name="conv1x1")(), "bn1": BNParams((co,), name="bn1x1")(),
             "w3": Kernel((3, 3, ci, co), name="conv3x3")(), "bn3": BNParams((co,), name="bn3x3")()}
        reduce = s != 1 or ci != co
        if reduce:
            p.update(fr_a=Kernel((1, 1, ci, co // 2), name="fr_a")(), fr_b=Kernel((1, 1, ci, co - co // 2), name="fr_b")(),
                     fr_bn=BNParams((co,), name="fr_bn")())
        return _micro_edge(s, reduce, co)(x, op, p)


class MicroCell(nn.Module):
    c_in: int
    c_out: int
    stride: int

    @nn.compact
    def __call__(self, x, enc):
        nodes = [x]
        for j in (1, 2, 3):
            acc = None
            for e, (to, frm) in enumerate(EDGES):
                if to != j:
                    continue
                ci, s = (self.c_in, self.stride) if frm == 0 else (self.c_out, 1)
                y = MicroEdge(ci, self.c_out, s, name=f"edge{e}")(nodes[frm], enc[e])
                acc = y if acc is None else acc + y
            nodes.append(acc)
        return nodes[3]


class _ScanMicroCell(nn.Module):
    c: int

    @nn.compact
    def __call__(self, x, enc):
        return MicroCell(self.c, self.c, 1, name="cell")(x, enc), None


class MicroNet(nn.Module):
    """`apply(params, images, enc [6])` -> the last three layers' outputs, deepest first.
    Consecutive cells of the same shape run in one `nn.scan` (`run{i}`)."""
    base: int = 64
    skeleton: str = "41412"
    target_size: int = 8

    @nn.compact
    def __call__(self, images, enc):
        x = Stem(self.base, name="stem")(images)
        cells = []   # (c_in, c_out, stride, index of the layer it ends or None)
        for li, (ci, co, s) in enumerate(layer_plan(self.skeleton, self.base)):
            cells += [(ci, co, s, None), (co, co, 1, li)]
        feats, i, run = [], 0, 0
        while i < len(cells):
            ci, co, s, end = cells[i]
            if s == 1 and ci == co:   # a run of identical cells (one scan), up to the next layer end
                j = i
                while j < len(cells) and cells[j][:3] == (co, co, 1) and (j == i or cells[j - 1][3] is None):
                    j += 1
                length = j - i
                stage = nn.scan(_ScanMicroCell, variable_axes={"params": 0}, split_rngs={"params": True},
                                in_axes=nn.broadcast, length=length)
                x, _ = stage(co, name=f"run{run}")(x, enc)
                end = cells[j - 1][3]
                i = j
            else:
                x = MicroCell(ci, co, s, name=f"run{run}")(x, enc)
                i += 1
            run += 1
            if end is not None:
                feats.append(x)
        return tuple(ops.resize_nearest(f, self.target_size) for f in reversed(feats[-3:]))


def parse_cell(s: str) -> np.ndarray:
    if not re.fullmatch(r"[0-3]_[0-3]{2}_[0-3]{3}", s):
        raise SpaceError(f"not a TransNAS micro cell (expected 'a_bc_def' with digits 0-3): {s!r}")
    return np.asarray([int(c) for c in s.replace("_", "")], np.int32)


class TransNASBase(Space):
    """Shared: options, truth tables (`[[arch string, value], ...]` or `{arch string: value}`,
    higher = better)."""

    truth_readers = (ArchToValue(), Pairs())

    def _options(self, base, input_size, target_size):
        for key, v, lo in (("base", base, 2), ("input_size", input_size, 8), ("target_size", target_size, 1)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
                raise SpaceError(f"{self.name} option {key} must be an integer >= {lo}, got {v!r}")
        if base % 4:
            raise SpaceError(f"{self.name} option base must be a multiple of 4, got {base}")
        self.base, self.input_size, self.target_size = int(base), int(input_size), int(target_size)


class TransNASMicro(TransNASBase):
    encoding_shape = (6,)
    encoding_max = len(OPS)

    def __init__(self, name="transnas-micro", base=64, skeleton="41412", input_size=32, target_size=8):
        self.name = name
        self._options(base, input_size, target_size)
        self.skeleton = _check_skeleton(str(skeleton), f"{name} option skeleton")
        if len(self.skeleton) < 3:
            raise SpaceError(f"{name} option skeleton needs at least 3 layers (three feature maps), got {skeleton!r}")

    def parse(self, raw) -> np.ndarray:
        if isinstance(raw, np.ndarray):
            raw = raw.tolist()
        if isinstance(raw, str):
            parts = raw.strip().split("-")
            if len(parts) == 3:
                if parts[1] != MICRO_SKELETON or not parts[0].isdigit():
                    raise SpaceError(f"TransNAS micro architectures are '64-41414-a_bc_def', got {raw!r}")
                return parse_cell(parts[2])
            if len(parts) == 1:
                return parse_cell(parts[0])
            raise SpaceError(f"not a TransNAS micro architecture (expected '64-41414-a_bc_def'): {raw!r}")
        if isinstance(raw, (list, tuple)):
            flat = [v for n in raw for v in n] if len(raw) == 3 and all(isinstance(n, (list, tuple)) for n in raw) else list(raw)
            if len(flat) == 6 and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and 0 <= v < 4 for v in flat):
                return np.asarray(flat, np.int32)
        raise SpaceError(f"not a TransNAS micro architecture (expected '64-41414-a_bc_def'): {str(raw)[:80]!r}")

    def arch_id(self, encoding) -> str:
        e = [int(v) for v in np.asarray(encoding).reshape(-1)]
        return f"64-{MICRO_SKELETON}-{e[0]}_{e[1]}{e[2]}_{e[3]}{e[4]}{e[5]}"

    def all_encodings(self) -> np.ndarray:
        grid = np.stack(np.meshgrid(*[np.arange(len(OPS))] * 6, indexing="ij"), -1)
        return grid.reshape(-1, 6).astype(np.int32)

    def graphs(self, encoding) -> list:
        e = [int(v) for v in np.asarray(encoding).reshape(-1)]
        pairs = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))  # a_bc_def: node j's inputs from nodes < j
        edges = [(s, d, OPS[o]) for (s, d), o in zip(pairs, e) if o != 0]
        return [{"title": f"TransNAS micro cell {self.arch_id(e)}", "nodes": ["0", "1", "2", "3"], "edges": edges}]

    @property
    def feature_channels(self) -> tuple:
        return tuple(co for _, co, _ in reversed(layer_plan(self.skeleton, self.base)[-3:]))

    def module(self):
        return MicroNet(self.base, self.skeleton, self.target_size)

    def _sizes(self):
        """[(h_in, h_out, c_in, c_out, stride)] per cell, and the stem's MACs."""
        h = -(-self.input_size // 2)
        stem = ops.conv_macs(h, h, 3, self.base // 2, 3)
        h2 = -(-h // 2)
        stem += ops.conv_macs(h2, h2, self.base // 2, self.base, 3)
        cells, h = [], h2
        for ci, co, s in layer_plan(self.skeleton, self.base):
            ho = -(-h // s)
            cells += [(h, ho, ci, co, s), (ho, ho, co, co, 1)]
            h = ho
        return stem, cells

    def macs(self, encodings) -> np.ndarray:
        enc = np.asarray(encodings).reshape(-1, 6)
        stem, cells = self._sizes()
        out = np.full(len(enc), float(stem))
        for _, ho, ci, co, s in cells:
            for e, (_, frm) in enumerate(EDGES):
                c_in = ci if frm == 0 else co
                conv1 = ho * ho * c_in * co
                conv3 = 9 * conv1
                fr = conv1 if (frm == 0 and (s != 1 or ci != co)) else 0
                op = enc[:, e]
                out += np.where(op == 2, conv1, 0) + np.where(op == 3, conv3, 0) + np.where(op == 1, fr, 0)
        return out

    @property
    def max_macs(self) -> float:
        return float(self.macs(np.full((1, 6), 3))[0])


# --- macro ---------------------------------------------------------------------------------

def macro_layout(digits: str, base: int) -> dict:
    """Layer widths, stride flags, stride count and runs (stride-1 layers between strides)."""
    widths, strides, c = [], [], base
    for t in digits:
        t = int(t)
        c = c * 2 if t % 2 == 0 else c
        widths.append(c)
        strides.append(t > 2)
    k = sum(strides)
    runs, starts, level = [0] * (k + 1), [0] * (k + 1), 0
    for i, s in enumerate(strides):
        if s:
            level += 1
            starts[level] = i + 1
        else:
            runs[level] += 1
    return {"widths": widths, "strides": strides, "k": k, "runs": runs, "starts": starts}


ENC_MACRO = 1 + 2 * MAX_LAYERS + 2 * MAX_STRIDES


def macro_level_widths(e) -> tuple:
    """Real maximum width per resolution level (level 0 includes the stem's `base`)."""
    e = np.asarray(e).reshape(-1)
    L = int(e[0])
    widths = [int(w) for w in e[1 + MAX_LAYERS:1 + MAX_LAYERS + L]]
    digits = [int(d) for d in e[1:1 + L]]
    base = widths[0] // 2 if digits[0] % 2 == 0 else widths[0]
    lv, out = 0, [base]
    for d, w in zip(digits, widths):
        if d > 2:
            lv += 1
            out.append(w)
        out[lv] = max(out[lv], w)
    return tuple(out)


class MacroLayer(nn.Module):
    """Two basic residual blocks `w_in -> w_out` (padded) at `stride`; `real = (r_in, r_out)`
    traced. The first block's conv1x1 shortcut is used when the stride is 2 or the real widths differ."""
    w_in: int
    w_out: int
    stride: int

    @nn.compact
    def __call__(self, x, real):
        r_in, r_out = real
        m = (jnp.arange(self.w_out) < r_out).astype(x.dtype)
        for b in range(2):
            ci, s = (self.w_in, self.stride) if b == 0 else (self.w_out, 1)
            a = _bn(ops.conv2d(jax.nn.relu(x), Kernel((3, 3, ci, self.w_out), name=f"b{b}_a")(), s),
                    BNParams((self.w_out,), name=f"b{b}_a_bn")(), m)
            f = _bn(ops.conv2d(jax.nn.relu(a), Kernel((3, 3, self.w_out, self.w_out), name=f"b{b}_b")()),
                    BNParams((self.w_out,), name=f"b{b}_b_bn")(), m)
            if b == 0:
                p = _bn(_down(x, s) @ Kernel((1, 1, ci, self.w_out), name="proj")()[0, 0],
                        BNParams((self.w_out,), name="proj_bn")(), m)
                short = p if s != 1 or ci != self.w_out else jnp.where(r_in != r_out, p, x)
            else:
                short = x
            x = short + f
        return x


def _push(buf, x, width, size):
    f = ops.resize_nearest(x, size)
    f = jnp.pad(f, ((0, 0), (0, 0), (0, 0), (0, width - f.shape[-1])))
    return (f, buf[0], buf[1])


class _RunSlot(nn.Module):
    w: int
    f_width: int
    size: int

    @nn.compact
    def __call__(self, carry, xs):
        x, buf = carry
        on, r_in, r_out = xs
        layer = MacroLayer(self.w, self.w, 1, name="layer")
        if self.is_initializing():
            y = layer(x, (r_in, r_out))
            return (y, _push(buf, y, self.f_width, self.size)), None

        def run(mdl, c):
            y = mdl(c[0], (r_in, r_out))
            return y, _push(c[1], y, self.f_width, self.size)

        return nn.cond(on, run, lambda mdl, c: c, layer, (x, buf)), None


class MacroNet(nn.Module):
    """`apply(params, images, enc [23])` -> the last three real layers' outputs (padded to the
    widest level), deepest first."""
    base: int
    runs: tuple          # slots per run (k + 1 runs)
    widths: tuple        # padded width per level (k + 1 levels)
    target_size: int = 8

    @property
    def f_width(self) -> int:
        return max(self.widths)

    @nn.compact
    def __call__(self, images, enc):
        x = Stem(self.base, name="stem")(images)
        x = jnp.pad(x, ((0, 0), (0, 0), (0, 0), (0, self.widths[0] - self.base)))
        n, t, fw = images.shape[0], self.target_size, self.f_width
        buf = (jnp.zeros((n, t, t, fw), x.dtype),) * 3
        real_w = enc[1 + MAX_LAYERS:1 + 2 * MAX_LAYERS]
        runs_r = enc[1 + 2 * MAX_LAYERS:1 + 2 * MAX_LAYERS + MAX_STRIDES]
        starts = enc[1 + 2 * MAX_LAYERS + MAX_STRIDES:]

        def width_before(layer):
            return jnp.where(layer > 0, real_w[jnp.clip(layer - 1, 0, MAX_LAYERS - 1)], self.base)

        for r, (m, w) in enumerate(zip(self.runs, self.widths)):
            if r > 0:
                p = starts[r] - 1
                x = MacroLayer(self.widths[r - 1], w, 2, name=f"down{r}")(x, (width_before(p), real_w[p]))
                buf = _push(buf, x, fw, t)
            if m:
                layers = starts[r] + jnp.arange(m)
                on = jnp.arange(m) < runs_r[r]
                r_out = real_w[jnp.clip(layers, 0, MAX_LAYERS - 1)]
                stage = nn.scan(_RunSlot, variable_axes={"params": 0}, split_rngs={"params": True}, length=m)
                (x, buf), _ = stage(w, fw, t, name=f"run{r}")((x, buf), (on, width_before(layers), r_out))
        return buf

    def adapt_params(self, params, enc, scheme):
        """Rescale every initial kernel to the fans of its real channels."""
        out = dict(params)
        real_w = enc[1 + MAX_LAYERS:1 + 2 * MAX_LAYERS].astype(jnp.float32)
        starts = enc[1 + 2 * MAX_LAYERS + MAX_STRIDES:]

        def width_before(layer):
            return jnp.where(layer > 0, real_w[jnp.clip(layer - 1, 0, MAX_LAYERS - 1)], float(self.base))

        def layer_tree(tree, r_in, r_out):
            new = dict(tree)
            for key, fi, fo in (("b0_a", r_in, r_out), ("b0_b", r_out, r_out), ("b1_a", r_out, r_out),
                                ("b1_b", r_out, r_out), ("proj", r_in, r_out)):
                new[key] = {"kernel": initializers.fan_rescale(tree[key]["kernel"], fi, fo, scheme)}
            return new

        for r, m in enumerate(self.runs):
            if r > 0:
                p = starts[r] - 1
                out[f"down{r}"] = layer_tree(params[f"down{r}"], width_before(p), real_w[p])
            if m:
                layers = starts[r] + jnp.arange(m)
                r_out = real_w[jnp.clip(layers, 0, MAX_LAYERS - 1)]
                out[f"run{r}"] = {"layer": layer_tree(params[f"run{r}"]["layer"], width_before(layers), r_out)}
        return out

    def adapt_heads(self, heads, enc, scheme):
        """Rescale the proxy heads to the real widths of the last three layers (deepest first)."""
        L = enc[0]
        real_w = enc[1 + MAX_LAYERS:1 + 2 * MAX_LAYERS]
        return tuple(initializers.rescale_head(h, real_w[jnp.clip(L - 1 - b, 0, MAX_LAYERS - 1)], scheme)
                     for b, h in enumerate(heads))


class TransNASMacro(TransNASBase):
    encoding_shape = (ENC_MACRO,)
    module_fits_all = False
    encoding_max = None

    def __init__(self, name="transnas-macro", base=64, input_size=32, target_size=8, max_programs=2):
        self.name = name
        self._options(base, input_size, target_size)
        if isinstance(max_programs, bool) or not isinstance(max_programs, (int, np.integer)) or max_programs < 1:
            raise SpaceError(f"{name} option max_programs must be an integer >= 1, got {max_programs!r}")
        self.max_programs = int(max_programs)
        self._shapes = {}

    def encode_digits(self, digits: str) -> np.ndarray:
        _check_skeleton(digits, "a TransNAS macro skeleton")
        if not 3 <= len(digits) <= MAX_LAYERS:
            raise SpaceError(f"TransNAS macro skeletons have 3-{MAX_LAYERS} layers, got {digits!r}")
        lay = macro_layout(digits, self.base)
        if lay["k"] > MAX_STRIDES - 1:
            raise SpaceError(f"TransNAS macro skeletons have at most {MAX_STRIDES - 1} stride layers, got {digits!r}")
        e = np.zeros(ENC_MACRO, np.int32)
        L = len(digits)
        e[0] = L
        e[1:1 + L] = [int(d) for d in digits]
        e[1 + MAX_LAYERS:1 + MAX_LAYERS + L] = lay["widths"]
        o = 1 + 2 * MAX_LAYERS
        e[o:o + lay["k"] + 1] = lay["runs"]
        e[o + MAX_STRIDES:o + MAX_STRIDES + lay["k"] + 1] = lay["starts"]
        return e

    def parse(self, raw) -> np.ndarray:
        if isinstance(raw, np.ndarray):
            raw = raw.tolist()
        if isinstance(raw, str):
            parts = raw.strip().split("-")
            if len(parts) == 3 and parts[2] == "basic" and parts[0].isdigit():
                return self.encode_digits(parts[1])
            if len(parts) == 1:
                return self.encode_digits(parts[0])
            raise SpaceError(f"not a TransNAS macro architecture (expected '64-XXXX[XX]-basic'): {raw!r}")
        if isinstance(raw, (list, tuple)) and len(raw) == ENC_MACRO:
            return self.encode_digits("".join(str(int(d)) for d in raw[1:1 + int(raw[0])]))
        raise SpaceError(f"not a TransNAS macro architecture (expected '64-XXXX[XX]-basic'): {str(raw)[:80]!r}")

    def digits(self, encoding) -> str:
        e = np.asarray(encoding).reshape(-1)
        return "".join(str(int(d)) for d in e[1:1 + int(e[0])])

    def arch_id(self, encoding) -> str:
        return f"64-{self.digits(encoding)}-basic"

    def graphs(self, encoding) -> list:
        names = {"1": "plain", "2": "ch x2", "3": "stride 2", "4": "stride 2, ch x2"}
        d = self.digits(encoding)
        nodes = ["stem"] + [f"{i + 1}" for i in range(len(d))]
        edges = [(i, i + 1, names[t]) for i, t in enumerate(d)]
        return [{"title": f"TransNAS macro skeleton {self.arch_id(encoding)} (residual layers)",
                 "nodes": nodes, "edges": edges}]

    def check_encodings(self, encodings):
        super().check_encodings(encodings)
        for e in np.asarray(encodings):
            if not 3 <= int(e[0]) <= MAX_LAYERS:
                raise SpaceError(f"invalid encoding: {int(e[0])} layers")
            try:
                again = self.encode_digits(self.digits(e))
            except SpaceError as err:
                raise SpaceError(f"invalid encoding: {err}") from None
            if not np.array_equal(again, e):
                raise SpaceError("invalid encoding (its widths or runs do not follow from its digits)")

    # --- shape buckets ---------------------------------------------------------------
    def signature(self, e) -> tuple:
        """(run slots per level, padded width per level) of one architecture."""
        e = np.asarray(e).reshape(-1)
        lay = macro_layout(self.digits(e), self.base)
        return tuple(lay["runs"]), macro_level_widths(e)

    def _res(self, k):
        h = -(-(-(-self.input_size // 2)) // 2)
        out = [h]
        for _ in range(k):
            h = -(-h // 2)
            out.append(h)
        return out

    def bucket_of(self, encodings) -> np.ndarray:
        """Shape buckets, at most `max_programs` per stride count (`spaces.buckets.merge_shapes`;
        cost = padded width^2 x resolution^2 over the real layers of each level)."""
        encs = np.asarray(encodings).reshape(-1, ENC_MACRO)
        groups = {}
        for i, e in enumerate(encs):
            groups.setdefault(self.signature(e), []).append(i)
        def merge(a, b):
            return tuple(max(x, y) for x, y in zip(a[0], b[0])), tuple(max(x, y) for x, y in zip(a[1], b[1]))

        layers = np.zeros((len(encs), MAX_STRIDES), np.float64)   # real layers per level
        for i, e in enumerate(encs):
            runs = macro_layout(self.digits(e), self.base)["runs"]
            layers[i, :len(runs)] = np.asarray(runs) + (np.arange(len(runs)) > 0)

        def unit(sig):
            res = np.asarray(self._res(len(sig[0]) - 1), np.float64)
            u = np.square(np.asarray(sig[1], np.float64) * res)
            return np.r_[u, np.zeros(MAX_STRIDES - len(u))]

        merged = merge_shapes(groups, self.max_programs, lambda sig: len(sig[0]), merge, unit, lambda m: layers[m].sum(0))
        return bucket_ids(merged, self._shapes, len(encs))

    def module(self, bucket=None):
        if bucket is None:
            sig = self.signature(self.parse("64-4111-basic"))
        else:
            sig = {v: k for k, v in self._shapes.items()}[int(bucket)]
        return MacroNet(self.base, sig[0], sig[1], self.target_size)

    @property
    def feature_channels(self) -> tuple:
        return (self.module().f_width,) * 3

    def feature_channels_of(self, bucket) -> tuple:
        return (self.module(bucket).f_width,) * 3

    # --- counts ----------------------------------------------------------------------
    def macs(self, encodings) -> np.ndarray:
        out = []
        for e in np.asarray(encodings).reshape(-1, ENC_MACRO):
            h = -(-self.input_size // 2)
            total = ops.conv_macs(h, h, 3, self.base // 2, 3)
            h = -(-h // 2)
            total += ops.conv_macs(h, h, self.base // 2, self.base, 3)
            for ci, co, s in layer_plan(self.digits(e), self.base):
                ho = -(-h // s)
                total += ops.conv_macs(ho, ho, ci, co, 3) + 3 * ops.conv_macs(ho, ho, co, co, 3)
                if s != 1 or ci != co:
                    total += ho * ho * ci * co
                h = ho
            out.append(total)
        return np.asarray(out, np.float64)

    @property
    def max_macs(self) -> float:
        """The largest MACs of the benchmark's 3,255 skeletons (at this base and input size)."""
        if not hasattr(self, "_max_macs"):
            from . import truth_path
            from .base import read_json
            codes = {a.split("-")[1] for a, _ in read_json(truth_path(self.name, "class_scene"))}
            self._max_macs = float(self.macs(np.stack([self.encode_digits(c) for c in sorted(codes)])).max())
        return self._max_macs
