"""NAS-Bench-MR (Ding et al., 2021): multi-resolution (HRNet-like) networks with the architecture
as data. Network code: dingmyu/NCP `models/supernet.py` `MultiResolutionNet` with its defaults
(BasicBlock, ReLU, input stride 4, fuse only neighbouring branches, direct downsampling, the FCN
transform; read, not copied).

- stem: ConvBNReLU 3x3 stride 2 (3 -> c0), ConvBNReLU 3x3 stride 2 (c0 -> c1);
- per entry `[n, [blocks], [channels]]` of `inverted_residual_setting`: a *fuse* module then a
  *parallel* module. Fuse: output branch i < min(n_in, n) = ReLU(sum over input branches
  j in {i-1, i, i+1} of ConvBNReLU(x_j)) with a 3x3 conv for j = i, a 3x3 stride-2 conv for
  j = i - 1, and a 1x1 conv then nearest x2 upsampling (bilinear to the branch's size) for
  j = i + 1; new branches i >= n_in are ConvBNReLU 3x3 stride 2 of fused branch i - 1.
  Parallel: `blocks[i]` BasicBlocks on branch i (conv3x3-BN-ReLU-conv3x3-BN + x, ReLU);
- transform: the last module's branches bilinearly resized to branch 0's size, concatenated,
  ConvBNReLU 1x1 to `last_channel` (the class's default `segmentation` mode).

Features (the Eproxy authors' protocol): the transform's output, then the branches of the
modules at positions L-3 and L-5 of the L = 2 x entries fuse/parallel modules (the parallel
modules of the second- and third-last entries), each branch bilinearly resized to
`target_size` and concatenated; deepest first. Needs at least 3 entries.

As data: `modules` (default 16) module slots run in one `nn.scan`, the architecture's entries
in the *last* slots (earlier slots skipped by `lax.cond`, so the feature modules sit at fixed
slots); every slot has 4 branches at padded widths (one per branch, the next of
8 x {1, 1.5, 2, 3, 4, ...}), real channels masked after every BN, branches a module does not
have masked to zero, blocks beyond a branch's count skipped by `lax.cond`, every initial
kernel rescaled to its real fans. `bucket_of` merges padded shapes until at most
`max_programs` (default 4) remain.

Encoding (int32): `[S, c0, c1, last]` then per slot `[n_out, blocks x 4, channels x 4, n_in,
input channels x 4]` (the input side repeats the previous entry, or the stem for the first).
"""
from __future__ import annotations

import json

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from eproxy_jax.nn import initializers, ops
from . import SpaceError
from eproxy_jax.nn.layers import BNParams, Kernel, padded_width
from .base import Space, arch_json
from .buckets import bucket_ids, merge_shapes

NB = 4          # branches
HEAD = 4
PER_SLOT = 2 + 3 * NB   # n_out, blocks x 4, channels x 4, n_in, input channels x 4
MAX_BLOCKS = 4


def slot_fields(row):
    """(n_out, blocks[4], out_ch[4], n_in, in_ch[4]) of one slot row."""
    return row[0], row[1:1 + NB], row[1 + NB:1 + 2 * NB], row[1 + 2 * NB], row[2 + 2 * NB:2 + 3 * NB]



def _bn(x, p, mask):
    return ops.batch_norm(x, p["scale"], p["bias"]) * mask


def _mask(width, real, dtype=jnp.float32):
    return (jnp.arange(width) < real).astype(dtype)


class _Block(nn.Module):
    w: int

    @nn.compact
    def __call__(self, x, m):
        a = jax.nn.relu(_bn(ops.conv2d(x, Kernel((3, 3, self.w, self.w), name="a")()), BNParams((self.w,), name="a_bn")(), m))
        b = _bn(ops.conv2d(a, Kernel((3, 3, self.w, self.w), name="b")()), BNParams((self.w,), name="b_bn")(), m)
        return jax.nn.relu(b + x)


class _ScanBlock(nn.Module):
    w: int

    @nn.compact
    def __call__(self, x, m, on):
        blk = _Block(self.w, name="block")
        if self.is_initializing():
            return blk(x, m), None
        return nn.cond(on, lambda mdl, y: mdl(y, m), lambda mdl, y: y, blk, x), None


class Slot(nn.Module):
    """One fuse + parallel module pair at padded branch widths `widths` and sizes `sizes`."""
    widths: tuple
    sizes: tuple
    target_size: int

    def concat_feature(self, xs):
        return jnp.concatenate([ops.resize_bilinear(x, self.target_size) for x in xs], -1)

    @nn.compact
    def __call__(self, xs, row):
        n_out, blocks, out_ch, n_in, in_ch = slot_fields(row)
        W = self.widths
        ys = []
        for i in range(NB):
            m = _mask(W[i], jnp.where(i < n_out, out_ch[i], 0))
            acc = 0.0
            for j in (i - 1, i, i + 1):
                if not 0 <= j < NB:
                    continue
                if j == i + 1:
                    k, s = Kernel((1, 1, W[j], W[i]), name=f"f{i}{j}")(), 1
                else:
                    k, s = Kernel((3, 3, W[j], W[i]), name=f"f{i}{j}")(), (2 if j == i - 1 else 1)
                t = ops.conv2d(xs[j], k, s) if k.shape[0] == 3 else xs[j] @ k[0, 0]
                t = jax.nn.relu(_bn(t, BNParams((W[i],), name=f"f{i}{j}_bn")(), m))
                if j == i + 1:
                    t = jnp.repeat(jnp.repeat(t, 2, axis=1), 2, axis=2)
                    t = ops.resize_bilinear(t, self.sizes[i])
                acc = acc + t * (j < n_in).astype(t.dtype)
            y = jax.nn.relu(acc)
            if i > 0:
                hr = ops.conv2d(ys[i - 1], Kernel((3, 3, W[i - 1], W[i]), name=f"hr{i}")(), 2)
                hr = jax.nn.relu(_bn(hr, BNParams((W[i],), name=f"hr{i}_bn")(), m))
                y = jnp.where(i < n_in, y, hr)
            ys.append(y * (i < n_out).astype(y.dtype))
        out = []
        for i in range(NB):
            m = _mask(W[i], jnp.where(i < n_out, out_ch[i], 0))
            on = jnp.arange(MAX_BLOCKS) < jnp.where(i < n_out, blocks[i], 0)
            stage = nn.scan(_ScanBlock, variable_axes={"params": 0}, split_rngs={"params": True},
                            in_axes=(nn.broadcast, 0), length=MAX_BLOCKS)
            y, _ = stage(W[i], name=f"branch{i}")(ys[i], m, on)
            out.append(y)
        return tuple(out)


class _ScanSlot(nn.Module):
    widths: tuple
    sizes: tuple
    target_size: int
    feature_slots: tuple   # slot indices whose outputs are features

    @nn.compact
    def __call__(self, carry, inp):
        xs, feats = carry
        idx, row = inp
        slot = Slot(self.widths, self.sizes, self.target_size, name="slot")

        def run(mdl, c):
            xs, feats = c
            ys = mdl(xs, row)
            f = mdl.concat_feature(ys)
            return ys, tuple(jnp.where(idx == s, f, fv) for s, fv in zip(self.feature_slots, feats))

        if self.is_initializing():
            return run(slot, (xs, feats)), None
        return nn.cond(row[0] > 0, run, lambda mdl, c: c, slot, (xs, feats)), None


class MRNet(nn.Module):
    """`apply(params, images, enc)` -> (transform, parallel module of entry S-2, of entry S-3),
    each at `target_size`."""
    stem_w: int          # padded c0
    widths: tuple        # padded width per branch (branch 0 also holds c1)
    last_w: int          # padded last_channel
    modules: int
    input_size: int
    target_size: int = 8

    @property
    def sizes(self) -> tuple:
        h = -(-(-(-self.input_size // 2)) // 2)
        out = []
        for _ in range(NB):
            out.append(h)
            h = -(-h // 2)
        return tuple(out)

    @nn.compact
    def __call__(self, images, enc):
        c0, c1, last = enc[1], enc[2], enc[3]
        rows = enc[HEAD:].reshape(self.modules, PER_SLOT)
        W, R = self.widths, self.sizes
        x = ops.conv2d(images, Kernel((3, 3, images.shape[-1], self.stem_w), name="stem0")(), 2)
        x = jax.nn.relu(_bn(x, BNParams((self.stem_w,), name="stem0_bn")(), _mask(self.stem_w, c0)))
        x = ops.conv2d(x, Kernel((3, 3, self.stem_w, W[0]), name="stem1")(), 2)
        x = jax.nn.relu(_bn(x, BNParams((W[0],), name="stem1_bn")(), _mask(W[0], c1)))
        n, t = images.shape[0], self.target_size
        xs = (x,) + tuple(jnp.zeros((n, R[i], R[i], W[i]), x.dtype) for i in range(1, NB))
        feats = (jnp.zeros((n, t, t, sum(W)), x.dtype),) * 2
        fslots = (self.modules - 2, self.modules - 3)
        stage = nn.scan(_ScanSlot, variable_axes={"params": 0}, split_rngs={"params": True}, length=self.modules)
        (xs, feats), _ = stage(W, R, t, fslots, name="modules")((xs, feats), (jnp.arange(self.modules), rows))
        cat = jnp.concatenate([ops.resize_bilinear(y, R[0]) for y in xs], -1)
        y = cat @ Kernel((1, 1, sum(W), self.last_w), name="transform")()[0, 0]
        y = jax.nn.relu(_bn(y, BNParams((self.last_w,), name="transform_bn")(), _mask(self.last_w, last)))
        return (ops.resize_bilinear(y, t),) + feats

    def adapt_params(self, params, enc, scheme):
        """Rescale every initial kernel to the fans of its real channels."""
        c0, c1, last = (enc[i].astype(jnp.float32) for i in (1, 2, 3))
        rows = enc[HEAD:].reshape(self.modules, PER_SLOT).astype(jnp.float32)
        out_ch, in_ch = rows[:, 1 + NB:1 + 2 * NB], rows[:, 2 + 2 * NB:]
        fr = initializers.fan_rescale
        out = dict(params)
        out["stem0"] = {"kernel": fr(params["stem0"]["kernel"], 3.0, c0, scheme)}
        out["stem1"] = {"kernel": fr(params["stem1"]["kernel"], c0, c1, scheme)}
        out["transform"] = {"kernel": fr(params["transform"]["kernel"], jnp.sum(out_ch[-1]), last, scheme)}
        slot = dict(params["modules"]["slot"])
        for i in range(NB):
            for j in (i - 1, i, i + 1):
                if 0 <= j < NB:
                    slot[f"f{i}{j}"] = {"kernel": fr(slot[f"f{i}{j}"]["kernel"], in_ch[:, j], out_ch[:, i], scheme)}
            if i > 0:
                slot[f"hr{i}"] = {"kernel": fr(slot[f"hr{i}"]["kernel"], out_ch[:, i - 1], out_ch[:, i], scheme)}
            br = dict(slot[f"branch{i}"]["block"])
            for key in ("a", "b"):
                br[key] = {"kernel": fr(br[key]["kernel"], out_ch[:, i:i + 1], out_ch[:, i:i + 1], scheme)}
            slot[f"branch{i}"] = {"block": br}
        out["modules"] = {"slot": slot}
        return out

    def adapt_heads(self, heads, enc, scheme):
        """Rescale the proxy heads to the real channels of the features they read."""
        rows = enc[HEAD:].reshape(self.modules, PER_SLOT)
        real = (enc[3], jnp.sum(rows[self.modules - 2, 1 + NB:1 + 2 * NB]), jnp.sum(rows[self.modules - 3, 1 + NB:1 + 2 * NB]))
        return tuple(initializers.rescale_head(h, r, scheme) for h, r in zip(heads, real))


def _int(v, what):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
        raise SpaceError(f"{what} must be a positive integer, got {v!r}")
    return int(v)


class NBMR(Space):
    module_fits_all = False
    encoding_max = None

    def __init__(self, name="nbmr", modules=16, max_programs=4, input_size=32, target_size=8):
        for key, v, lo in (("modules", modules, 3), ("max_programs", max_programs, 1), ("input_size", input_size, 8),
                           ("target_size", target_size, 1)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
                raise SpaceError(f"{name} option {key} must be an integer >= {lo}, got {v!r}")
        self.name = name
        self.modules, self.max_programs = int(modules), int(max_programs)
        self.input_size, self.target_size = int(input_size), int(target_size)
        self.encoding_shape = (HEAD + PER_SLOT * self.modules,)
        self._shapes = {}

    # --- architectures -------------------------------------------------------------
    def record(self, raw) -> dict:
        if isinstance(raw, str):
            raw = arch_json(raw, "not a NAS-Bench-MR record (JSON object expected)")
        if not isinstance(raw, dict):
            raise SpaceError(f"not a NAS-Bench-MR record (expected an object with input_channel, "
                             f"inverted_residual_setting, last_channel): {str(raw)[:80]!r}")
        for key in ("input_channel", "inverted_residual_setting", "last_channel"):
            if key not in raw:
                raise SpaceError(f"field {key!r} missing")
        return raw

    def parse(self, raw) -> np.ndarray:
        if isinstance(raw, np.ndarray):
            raw = raw.tolist()
        if isinstance(raw, list) and len(raw) == self.encoding_shape[0]:
            raw = self.to_record(np.asarray(raw))
        r = self.record(raw)
        ic = r["input_channel"]
        if not (isinstance(ic, list) and len(ic) == 2):
            raise SpaceError(f"field 'input_channel' must be [c0, c1], got {ic!r}")
        c0, c1 = (_int(v, "field 'input_channel'") for v in ic)
        last = _int(r["last_channel"], "field 'last_channel'")
        st = r["inverted_residual_setting"]
        if not isinstance(st, list) or not 3 <= len(st) <= self.modules:
            raise SpaceError(f"field 'inverted_residual_setting' must list 3-{self.modules} modules "
                             f"(option modules), got {len(st) if isinstance(st, list) else repr(st)}")
        e = np.zeros(self.encoding_shape, np.int32)
        e[:HEAD] = [len(st), c0, c1, last]
        n_prev, ch_prev = 1, [c1, 0, 0, 0]
        first = self.modules - len(st)
        for k, ent in enumerate(st):
            where = f"field 'inverted_residual_setting' entry {k}"
            if not (isinstance(ent, list) and len(ent) == 3 and isinstance(ent[1], list) and isinstance(ent[2], list)):
                raise SpaceError(f"{where} must be [n_branches, [blocks], [channels]], got {ent!r}")
            n = _int(ent[0], f"{where} n_branches")
            if n > NB or len(ent[1]) != n or len(ent[2]) != n:
                raise SpaceError(f"{where} needs 1-{NB} branches with one block count and one width each, got {ent!r}")
            blocks = [_int(b, f"{where} blocks") for b in ent[1]]
            chans = [_int(c, f"{where} channels") for c in ent[2]]
            if max(blocks) > MAX_BLOCKS:
                raise SpaceError(f"{where} has more than {MAX_BLOCKS} blocks in a branch: {blocks}")
            row = [n] + blocks + [0] * (NB - n) + chans + [0] * (NB - n) + [n_prev] + ch_prev
            o = HEAD + PER_SLOT * (first + k)
            e[o:o + PER_SLOT] = row
            n_prev, ch_prev = n, chans + [0] * (NB - n)
        return e

    def to_record(self, encoding) -> dict:
        e = [int(v) for v in np.asarray(encoding).reshape(-1)]
        S = e[0]
        st = []
        for s in range(self.modules - S, self.modules):
            row = e[HEAD + PER_SLOT * s: HEAD + PER_SLOT * (s + 1)]
            n = row[0]
            st.append([n, row[1:1 + n], row[1 + NB:1 + NB + n]])
        return {"input_channel": [e[1], e[2]], "inverted_residual_setting": st, "last_channel": e[3]}

    def arch_id(self, encoding) -> str:
        return json.dumps(self.to_record(encoding), separators=(", ", ": "))

    def check_encodings(self, encodings):
        super().check_encodings(encodings)
        for e in np.asarray(encodings):
            if not 3 <= int(e[0]) <= self.modules:
                raise SpaceError(f"invalid encoding: {int(e[0])} modules")
            try:
                again = self.parse(self.to_record(e))
            except SpaceError as err:
                raise SpaceError(f"invalid encoding: {err}") from None
            if not np.array_equal(again, e):
                raise SpaceError("invalid encoding (not the canonical encoding of its record)")

    # --- shape buckets ---------------------------------------------------------------
    def signature(self, e) -> tuple:
        """(padded c0, padded branch widths, padded last_channel)."""
        e = np.asarray(e).reshape(-1)
        rows = e[HEAD:].reshape(self.modules, PER_SLOT)
        w = [int(rows[:, 1 + NB + b].max()) for b in range(NB)]
        w[0] = max(w[0], int(e[2]))
        return padded_width(int(e[1])), tuple(padded_width(max(v, 1)) for v in w), padded_width(int(e[3]))

    def bucket_of(self, encodings) -> np.ndarray:
        """Shape buckets, at most `max_programs` (`spaces.buckets.merge_shapes` over the padded
        branch widths; cost = padded width^2 x resolution^2 x (blocks + 2 fuse convs) per branch,
        summed over the members; the stem and transform widths are the members' maxima)."""
        encs = np.asarray(encodings).reshape((-1,) + self.encoding_shape)
        by_widths = {}   # exact branch widths -> members; the stem and transform take the members' maxima
        for i, e in enumerate(encs):
            by_widths.setdefault(self.signature(e)[1], []).append(i)
        groups = {}
        for w, m in by_widths.items():
            sigs = [self.signature(encs[i]) for i in m]
            groups[(max(s[0] for s in sigs), w, max(s[2] for s in sigs))] = m
        rows = encs[:, HEAD:].reshape(len(encs), self.modules, PER_SLOT)
        load = (2.0 * rows[:, :, 1:1 + NB] + 2.0 * (rows[:, :, 1 + NB:1 + 2 * NB] > 0)).sum(1)  # [n, NB]
        res = np.square(np.asarray(MRNet(8, (8,) * NB, 8, self.modules, self.input_size).sizes, np.float64))

        def merge(a, b):
            return max(a[0], b[0]), tuple(max(x, y) for x, y in zip(a[1], b[1])), max(a[2], b[2])

        merged = merge_shapes(groups, self.max_programs, lambda sig: 0, merge,
                              lambda sig: np.square(np.asarray(sig[1], np.float64)) * res, lambda m: load[m].sum(0))
        return bucket_ids(merged, self._shapes, len(encs))

    def default_record(self) -> dict:
        return {"input_channel": [16, 16], "inverted_residual_setting": [[1, [1], [16]], [2, [1, 1], [16, 32]],
                                                                           [3, [1, 1, 1], [16, 32, 64]], [4, [1, 1, 1, 1], [16, 32, 64, 128]]],
                "last_channel": 128}

    def module(self, bucket=None):
        if bucket is None:
            sig = self.signature(self.parse(self.default_record()))
        else:
            sig = {v: k for k, v in self._shapes.items()}[int(bucket)]
        return MRNet(sig[0], sig[1], sig[2], self.modules, self.input_size, self.target_size)

    def feature_channels_of(self, bucket) -> tuple:
        m = self.module(bucket)
        return (m.last_w, sum(m.widths), sum(m.widths))

    @property
    def feature_channels(self) -> tuple:
        return self.feature_channels_of(None)

    # --- counts ----------------------------------------------------------------------
    def _macs_one(self, e) -> float:
        r = self.to_record(e)
        c0, c1 = r["input_channel"]
        R = MRNet(8, (8,) * NB, 8, self.modules, self.input_size).sizes
        h = -(-self.input_size // 2)
        total = ops.conv_macs(h, h, 3, c0, 3) + ops.conv_macs(R[0], R[0], c0, c1, 3)
        n_in, ch_in = 1, [c1]
        for n, blocks, chans in r["inverted_residual_setting"]:
            for i in range(n):
                if i < min(n_in, n):
                    for j in (i - 1, i, i + 1):
                        if 0 <= j < n_in:
                            total += ops.conv_macs(R[i], R[i], ch_in[j], chans[i], 1 if j == i + 1 else 3)
                else:
                    total += ops.conv_macs(R[i], R[i], chans[i - 1], chans[i], 3)
                total += blocks[i] * 2 * ops.conv_macs(R[i], R[i], chans[i], chans[i], 3)
            n_in, ch_in = n, chans
        total += R[0] * R[0] * sum(ch_in) * r["last_channel"]
        return float(total)

    def macs(self, encodings) -> np.ndarray:
        return np.asarray([self._macs_one(e) for e in np.asarray(encodings).reshape((-1,) + self.encoding_shape)])

    @property
    def max_macs(self) -> float:
        big = {"input_channel": [128, 128], "last_channel": 128,
               "inverted_residual_setting": [[4, [4] * 4, [128] * 4]] * min(self.modules, 16)}
        return self._macs_one(self.parse(big))


SPACE_CLASS = NBMR
