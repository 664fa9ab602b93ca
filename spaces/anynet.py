"""The NDS AnyNet spaces (ResNet, ResNeXt-A, ResNeXt-B and the ImageNet variants) with the
architecture as data (pycls `anynet.py`: a stem, then stages of residual basic or bottleneck
blocks, each stage with its own depth, width, stride, bottleneck multiplier and group width).

Conventions of the paper's authors (issue 5): stem width 12 (`stem_w` option), the residual
CIFAR stem (3x3, stride 1) for ResNet and the simple ImageNet stem (3x3, stride 2) for
ResNeXt, a first-stage stride of 8 read as 1, a bottleneck multiplier of 0 read as 1;
`bot_muls`/`num_gs` are accepted for `bms`/`gws`. Features: the ends of the last three stages,
resized to `target_size`, deepest first.

As data: a stage runs at a padded width (the next size of 8 x {1, 1.5, 2, 3, 4, 6, ...} at or
above its real width) with the real channels masked after every BatchNorm, and with a padded
depth (the next power of two): its first block is always on, the others run in one `nn.scan`
whose blocks beyond the real depth are skipped by `lax.cond` (they cost nothing when
architectures are not batched). Grouped 3x3 convolutions are dense convolutions with a
block-diagonal kernel mask (exact; costs up to groups x the FLOPs of that conv). Initial kernels
are rescaled to their real fans (`adapt_params`), and the proxy heads to the real feature
channels (`adapt_heads`). One program per shape signature (block type, stem, strides, padded
widths and depths); `bucket_of` merges shapes until at most `max_programs` (default 4) remain
per (block, stem, strides), padding the cheapest merges first; `programs` reports the count.

Encoding (int32): `[block, stem, n_stages, (depth, width, stride, bottleneck width, group
width) x 4]` (unused stages zero; block 0 basic / 1 bottleneck; stem 0 res_stem_cifar /
1 simple_stem_in / 2 res_stem_in).
"""
from __future__ import annotations

import json

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from eproxy_jax.nn import initializers, ops
from . import SpaceError
from .base import Space
from .buckets import bucket_ids, merge_shapes
from eproxy_jax.nn.layers import BNParams, Kernel, padded_width
from .truth import NDSRecords, Pairs, nds_record_net

BLOCKS = ("res_basic_block", "res_bottleneck_block")
STEMS = ("res_stem_cifar", "simple_stem_in", "res_stem_in")
MAX_STAGES = 4
HEAD = 3
PER_STAGE = 5
ENC_LEN = HEAD + PER_STAGE * MAX_STAGES

# space name -> (default block, default stem, NDS file)
FAMILIES = {
    "nds-resnet": ("res_basic_block", "res_stem_cifar", "ResNet.json"),
    "nds-resnext-a": ("res_bottleneck_block", "simple_stem_in", "ResNeXt-A.json"),
    "nds-resnext-b": ("res_bottleneck_block", "simple_stem_in", "ResNeXt-B.json"),
    "nds-resnext-a-in": ("res_bottleneck_block", "simple_stem_in", "ResNeXt-A_in.json"),
    "nds-resnext-b-in": ("res_bottleneck_block", "simple_stem_in", "ResNeXt-B_in.json"),
}


def padded_depth(d: int) -> int:
    return 1 << max(int(d) - 1, 0).bit_length()


def stages_of(enc) -> list:
    """[(depth, width, stride, bottleneck width, group width)] of the used stages."""
    e = [int(v) for v in np.asarray(enc).reshape(-1)]
    return [tuple(e[HEAD + PER_STAGE * s: HEAD + PER_STAGE * (s + 1)]) for s in range(e[2])]


def group_mask(w_pad: int, wb, gw):
    """`[w_pad, w_pad]` 0/1: input i feeds output o when both are real and in the same group."""
    i = jnp.arange(w_pad)
    same = (i[:, None] // jnp.maximum(gw, 1)) == (i[None, :] // jnp.maximum(gw, 1))
    real = (i < wb)[:, None] & (i < wb)[None, :]
    return (same & real).astype(jnp.float32)


def _bn_mask(x, p, mask):
    return ops.batch_norm(x, p["scale"], p["bias"]) * mask


class Block(nn.Module):
    """One residual block at padded widths `w_in -> w_out` (bottleneck `wb`), stride static;
    `real = (w_in, w_out, wb, gw)` traced. `proj`: the block has a projection shortcut slot
    (first block of a stage); it is used when the real widths differ or the stride is 2."""
    bottleneck: bool
    w_in: int
    w_out: int
    wb: int
    stride: int
    proj: bool

    @nn.compact
    def __call__(self, x, real):
        r_in, r_out, r_wb, gw = real
        m_out = (jnp.arange(self.w_out) < r_out).astype(x.dtype)
        if self.bottleneck:
            m_b = (jnp.arange(self.wb) < r_wb).astype(x.dtype)
            a = _bn_mask(x @ Kernel((1, 1, self.w_in, self.wb), name="a")()[0, 0], BNParams((self.wb,), name="a_bn")(), m_b)
            kb = Kernel((3, 3, self.wb, self.wb), name="b")() * group_mask(self.wb, r_wb, gw)
            b = _bn_mask(ops.conv2d(jax.nn.relu(a), kb, self.stride), BNParams((self.wb,), name="b_bn")(), m_b)
            f = _bn_mask(jax.nn.relu(b) @ Kernel((1, 1, self.wb, self.w_out), name="c")()[0, 0],
                         BNParams((self.w_out,), name="c_bn")(), m_out)
        else:
            a = _bn_mask(ops.conv2d(x, Kernel((3, 3, self.w_in, self.w_out), name="a")(), self.stride),
                         BNParams((self.w_out,), name="a_bn")(), m_out)
            f = _bn_mask(ops.conv2d(jax.nn.relu(a), Kernel((3, 3, self.w_out, self.w_out), name="b")()),
                         BNParams((self.w_out,), name="b_bn")(), m_out)
        if self.proj:
            xs = x[:, ::self.stride, ::self.stride, :]
            p = _bn_mask(xs @ Kernel((1, 1, self.w_in, self.w_out), name="proj")()[0, 0],
                         BNParams((self.w_out,), name="proj_bn")(), m_out)
            if self.stride == 1 and self.w_in == self.w_out:
                p = jnp.where(r_in != r_out, p, x)
            short = p
        else:
            short = x
        return jax.nn.relu(short + f)


class _ScanBlock(nn.Module):
    bottleneck: bool
    w: int
    wb: int

    @nn.compact
    def __call__(self, x, real, on):
        blk = Block(self.bottleneck, self.w, self.w, self.wb, 1, False, name="block")
        if self.is_initializing():
            return blk(x, real), None
        return nn.cond(on, lambda m, y: m(y, real), lambda m, y: y, blk, x), None


class AnyNet(nn.Module):
    """`apply(params, images, enc)` -> features of the last three stages, deepest first."""
    bottleneck: bool
    stem: str
    stem_w: int
    strides: tuple       # per stage (static)
    widths: tuple        # padded, per stage
    bwidths: tuple       # padded bottleneck widths, per stage
    depths: tuple        # padded, per stage
    target_size: int = 8

    @nn.compact
    def __call__(self, images, enc):
        sw = self.stem_w
        k, s = (3, 1) if self.stem == "res_stem_cifar" else ((3, 2) if self.stem == "simple_stem_in" else (7, 2))
        x = ops.conv2d(images, Kernel((k, k, images.shape[-1], sw), name="stem")(), s)
        x = jax.nn.relu(_bn_mask(x, BNParams((sw,), name="stem_bn")(), 1.0))
        if self.stem == "res_stem_in":
            x = ops.max_pool(x, 3, 2, 1)
        feats, w_prev, r_prev = [], sw, jnp.asarray(sw, jnp.int32)
        for i, (st, w, wb, dp) in enumerate(zip(self.strides, self.widths, self.bwidths, self.depths)):
            d_r, w_r, _, wb_r, gw = (enc[HEAD + PER_STAGE * i + j] for j in range(PER_STAGE))
            x = Block(self.bottleneck, w_prev, w, wb, st, True, name=f"s{i}_b0")(x, (r_prev, w_r, wb_r, gw))
            if dp > 1:
                on = jnp.arange(1, dp) < d_r
                stage = nn.scan(_ScanBlock, variable_axes={"params": 0}, split_rngs={"params": True},
                                in_axes=(nn.broadcast, 0), length=dp - 1)
                x, _ = stage(self.bottleneck, w, wb, name=f"s{i}_rest")(x, (w_r, w_r, wb_r, gw), on)
            feats.append(x)
            w_prev, r_prev = w, w_r
        return tuple(ops.resize_nearest(f, self.target_size) for f in reversed(feats[-3:]))

    def adapt_params(self, params, enc, scheme):
        """Rescale every initial kernel to the fans of its real channels (grouped convs: the
        real group width in, as PyTorch counts fans)."""
        out = dict(params)
        r_prev = jnp.float32(self.stem_w)
        for i in range(len(self.widths)):
            _, w_r, _, wb_r, gw = (enc[HEAD + PER_STAGE * i + j].astype(jnp.float32) for j in range(PER_STAGE))
            for name, c_in_r in ((f"s{i}_b0", r_prev), (f"s{i}_rest", w_r)):
                if name not in out:
                    continue
                tree = out[name] if name.endswith("b0") else out[name]["block"]
                new = dict(tree)
                for key, fi_r, fo_r in self._kernels(c_in_r, w_r, wb_r, gw):
                    if key in tree:
                        new[key] = {"kernel": initializers.fan_rescale(tree[key]["kernel"], fi_r, fo_r, scheme)}
                out[name] = new if name.endswith("b0") else {"block": new}
            r_prev = w_r
        return out

    def _kernels(self, c_in_r, w_r, wb_r, gw):
        """(param, real fan-in channels, real fan-out channels) of a block's kernels (the
        padded fans are the kernels' shapes; a grouped conv's fan-in is its group width)."""
        if self.bottleneck:
            return (("a", c_in_r, wb_r), ("b", gw, wb_r), ("c", wb_r, w_r), ("proj", c_in_r, w_r))
        return (("a", c_in_r, w_r), ("b", w_r, w_r), ("proj", c_in_r, w_r))

    def adapt_heads(self, heads, enc, scheme):
        """Rescale the proxy heads to the real widths of the stages they read (deepest first)."""
        n = len(self.widths)
        return tuple(initializers.rescale_head(h, enc[HEAD + PER_STAGE * (n - 1 - b) + 1], scheme)
                     for b, h in enumerate(heads))


# --- records -> encodings ------------------------------------------------------------------

def _list(net, *keys):
    for k in keys:
        if k in net and net[k] is not None:
            return net[k]
    return None


def _int(v, what):
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or v != int(v):
        raise SpaceError(f"{what} must be an integer, got {v!r}")
    return int(v)


class AnyNetSpace(Space):
    truth_readers = (NDSRecords(), Pairs())   # an NDS release file, or [[arch, value], ...]
    encoding_shape = (ENC_LEN,)
    module_fits_all = False
    encoding_max = None

    def __init__(self, name="nds-resnet", stem_w=12, max_programs=4, input_size=32, target_size=None):
        if name not in FAMILIES:
            raise SpaceError(f"unknown NDS AnyNet space {name!r}")
        for key, v, lo in (("stem_w", stem_w, 1), ("max_programs", max_programs, 1), ("input_size", input_size, 8)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
                raise SpaceError(f"{name} option {key} must be an integer >= {lo}, got {v!r}")
        self.name = name
        self.block, self.stem, self.nds_file = FAMILIES[name]
        self.stem_w, self.input_size, self.max_programs = int(stem_w), int(input_size), int(max_programs)
        self.target_size = target_size or max(self.input_size // 4, 1)
        self._shapes = {}

    # --- architectures -------------------------------------------------------------
    def parse(self, raw) -> np.ndarray:
        if isinstance(raw, np.ndarray):
            raw = raw.tolist()
        net = nds_record_net(raw, self.name, "an NDS record or its 'net' dict")
        ds, ws, ss = _list(net, "ds", "depths"), _list(net, "ws", "widths"), _list(net, "ss", "strides")
        if not all(isinstance(v, list) for v in (ds, ws, ss)) or not (len(ds) == len(ws) == len(ss)):
            raise SpaceError(f"{self.name}: 'ds', 'ws' and 'ss' must be lists of the same length")
        n = len(ds)
        if not 1 <= n <= MAX_STAGES:
            raise SpaceError(f"{self.name}: 1-{MAX_STAGES} stages supported, got {n}")
        block = net.get("block_type", self.block)
        if block not in BLOCKS:
            raise SpaceError(f"{self.name}: block_type must be one of {', '.join(BLOCKS)}, got {block!r}")
        bms = _list(net, "bms", "bot_muls") or [1.0] * n
        gws = _list(net, "gws", "num_gs") or [1] * n
        if len(bms) != n or len(gws) != n:
            raise SpaceError(f"{self.name}: 'bms'/'gws' must have one entry per stage")
        stem = self.stem
        enc = [BLOCKS.index(block), STEMS.index(stem), n]
        for i in range(n):
            d, w, s = _int(ds[i], "depth"), _int(ws[i], "width"), _int(ss[i], "stride")
            s = 1 if (i == 0 and s == 8) else s
            if d < 1 or w < 1 or s not in (1, 2):
                raise SpaceError(f"{self.name}: stage {i + 1} needs depth >= 1, width >= 1, stride 1 or 2; got {d}, {w}, {s}")
            if block == "res_bottleneck_block":
                bm = bms[i]
                if isinstance(bm, bool) or not isinstance(bm, (int, float)) or bm < 0:
                    raise SpaceError(f"{self.name}: stage {i + 1} bottleneck multiplier must be >= 0, got {bm!r}")
                wb = int(round(w * (bm or 1.0)))
                gw = _int(gws[i], "group width")
                if wb < 1 or gw < 1 or wb % gw:
                    raise SpaceError(f"{self.name}: stage {i + 1} bottleneck width {wb} is not a multiple of group width {gw}")
            else:
                wb, gw = 0, 0
            enc += [d, w, s, wb, gw]
        enc += [0] * (ENC_LEN - len(enc))
        return np.asarray(enc, np.int32)

    def arch_id(self, encoding) -> str:
        e = [int(v) for v in np.asarray(encoding).reshape(-1)]
        st = stages_of(e)
        net = {"block_type": BLOCKS[e[0]], "ds": [s[0] for s in st], "ws": [s[1] for s in st], "ss": [s[2] for s in st]}
        if e[0] == 1:
            net["bms"] = [s[3] / s[1] for s in st]
            net["gws"] = [s[4] for s in st]
        return json.dumps(net, separators=(",", ":"))

    def check_encodings(self, encodings):
        super().check_encodings(encodings)
        for e in np.asarray(encodings):
            try:
                again = self.parse(self.arch_id(e))
            except SpaceError as err:
                raise SpaceError(f"invalid encoding: {err}") from None
            if not np.array_equal(again[:HEAD + PER_STAGE * int(e[2])], e[:HEAD + PER_STAGE * int(e[2])]):
                raise SpaceError("invalid encoding")

    # --- shape buckets ---------------------------------------------------------------
    def signature(self, e) -> tuple:
        """The exact-shape signature of one architecture: (block, stem, strides, padded widths,
        padded bottleneck widths, padded depths)."""
        st = stages_of(e)
        return (int(e[0]), int(e[1]), tuple(s[2] for s in st), tuple(padded_width(s[1]) for s in st),
                tuple(padded_width(s[3]) if e[0] == 1 else 0 for s in st), tuple(padded_depth(s[0]) for s in st))

    @staticmethod
    def _unit_cost(sig) -> np.ndarray:
        """Per stage, the relative cost of one block at the signature's padded widths."""
        _, _, strides, widths, bwidths, _ = sig
        res = np.cumprod([1.0 / (s * s) for s in strides])
        return np.asarray([(w * w + 2 * b * b) * r for w, b, r in zip(widths, bwidths, res)])

    def bucket_of(self, encodings) -> np.ndarray:
        """Shape buckets for a set of architectures, at most `max_programs` of them per
        (block, stem, strides) (`spaces.buckets.merge_shapes`; cost = padded width^2 x real
        depth x resolution: depth padding is free when architectures are not batched, widths
        are what cost)."""
        encs = np.asarray(encodings).reshape(-1, ENC_LEN)
        groups = {}
        for i, e in enumerate(encs):
            groups.setdefault(self.signature(e), []).append(i)
        depths = np.asarray([[s[0] for s in stages_of(e)] + [0] * (MAX_STAGES - int(e[2])) for e in encs], np.float64)

        def merge(a, b):
            return a[:3] + tuple(tuple(max(x, y) for x, y in zip(a[k], b[k])) for k in (3, 4, 5))

        def unit(sig):
            u = self._unit_cost(sig)
            return np.r_[u, np.zeros(MAX_STAGES - len(u))]

        merged = merge_shapes(groups, self.max_programs, lambda sig: sig[:3], merge, unit, lambda m: depths[m].sum(0))
        return bucket_ids(merged, self._shapes, len(encs))

    def module(self, bucket=None):
        if bucket is None:
            sig = self.signature(self.parse(self.default_arch()))
        else:
            sig = {v: k for k, v in self._shapes.items()}[int(bucket)]
        block, stem, strides, widths, bwidths, depths = sig
        return AnyNet(block == 1, STEMS[stem], self.stem_w, strides, widths, bwidths, depths, self.target_size)

    def default_arch(self) -> dict:
        if self.block == "res_basic_block":
            return {"ds": [1, 1, 1], "ws": [16, 32, 64], "ss": [1, 2, 2]}
        return {"ds": [1, 1, 1], "ws": [32, 64, 128], "ss": [1, 2, 2], "bms": [0.25] * 3, "gws": [4] * 3}

    @property
    def feature_channels(self) -> tuple:
        return tuple(reversed(self.module().widths[-3:]))

    def feature_channels_of(self, bucket) -> tuple:
        return tuple(reversed(self.module(bucket).widths[-3:]))

    # --- counts ----------------------------------------------------------------------
    def _walk(self, e, num_classes=None):
        """(MACs per image of the classifier-free network, parameters of the classifier)."""
        e = np.asarray(e).reshape(-1)
        k, s = (3, 1) if e[1] == 0 else ((3, 2) if e[1] == 1 else (7, 2))
        h = -(-self.input_size // s)
        macs = ops.conv_macs(h, h, 3, self.stem_w, k)
        params = k * k * 3 * self.stem_w + 2 * self.stem_w
        if e[1] == 2:
            h = -(-h // 2)
        w_in = self.stem_w
        for d, w, st, wb, gw in stages_of(e):
            for b in range(d):
                stride = st if b == 0 else 1
                ho = -(-h // stride)
                if e[0] == 1:
                    macs += h * h * w_in * wb + ops.conv_macs(ho, ho, wb, wb, 3, wb // gw) + ho * ho * wb * w
                    params += w_in * wb + 2 * wb + 9 * gw * wb + 2 * wb + wb * w + 2 * w
                else:
                    macs += ops.conv_macs(ho, ho, w_in, w, 3) + ops.conv_macs(ho, ho, w, w, 3)
                    params += 9 * w_in * w + 2 * w + 9 * w * w + 2 * w
                if w_in != w or stride != 1:
                    macs += ho * ho * w_in * w
                    params += w_in * w + 2 * w
                w_in, h = w, ho
        if num_classes is not None:
            params += w_in * num_classes + num_classes
        return macs, params

    def macs(self, encodings) -> np.ndarray:
        return np.asarray([self._walk(e)[0] for e in np.asarray(encodings).reshape(-1, ENC_LEN)], np.float64)

    def param_count(self, encodings, num_classes: int = 10) -> np.ndarray:
        return np.asarray([self._walk(e, num_classes)[1] for e in np.asarray(encodings).reshape(-1, ENC_LEN)], np.float64)

    @property
    def max_macs(self) -> float:
        """MACs of the space's default architecture x 64: the NDS ranges are not known without
        the file; `alpha` needs only a fixed scale per space."""
        return float(self.macs(self.parse(self.default_arch())[None])[0] * 64)


SPACE_CLASS = AnyNetSpace
