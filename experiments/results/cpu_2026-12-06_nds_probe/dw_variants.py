"""Throwaway: depthwise conv variants, fwd+bwd in jit on CPU: compile s, HLO lines, ms/step."""
import os, sys, time
os.environ.setdefault("EPROXY_CACHE_DIR", "off")
import jax, jax.numpy as jnp
from jax import lax
from eproxy_jax.nn import ops

def taps_dw(x, k, s, d):
    return ops.depthwise_conv2d(x, k, s, d)

def grouped(x, kern, s, d):
    k = kern.shape[0]; p = d * (k - 1) // 2
    return lax.conv_general_dilated(x, kern, (s, s), [(p, p), (p, p)], rhs_dilation=(d, d),
                                    dimension_numbers=("NHWC", "HWIO", "NHWC"), feature_group_count=x.shape[-1])

def rowloop(x, kern, s, d):
    k = kern.shape[0]; p = d * (k - 1) // 2
    n, h, w, c = x.shape
    ho = (h + 2 * p - d * (k - 1) - 1) // s + 1; wo = (w + 2 * p - d * (k - 1) - 1) // s + 1
    xp = jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
    def body(i, out):
        rows = lax.dynamic_slice_in_dim(xp, i * d, (ho - 1) * s + 1, axis=1)[:, ::s]
        wr = lax.dynamic_index_in_dim(kern[:, :, 0, :], i, 0, keepdims=False)
        for j in range(k):
            out = out + rows[:, :, j * d: j * d + (wo - 1) * s + 1: s, :] * wr[j]
        return out
    return lax.fori_loop(0, k, body, jnp.zeros((n, ho, wo, c), x.dtype))

VARIANTS = {"taps": taps_dw, "grouped": grouped, "rowloop": rowloop}

def bench(name, shape, k, s, d, reps=20):
    f = VARIANTS[name]
    x = jax.random.normal(jax.random.PRNGKey(0), shape)
    kern = jax.random.normal(jax.random.PRNGKey(1), (k, k, 1, shape[-1]))
    def loss(x, kern):
        y = f(jax.nn.relu(x), kern, s, d)
        return jnp.sum(y * y)
    g = jax.jit(jax.grad(loss, argnums=(0, 1)))
    t0 = time.perf_counter(); low = g.lower(x, kern); c = low.compile(); tc = time.perf_counter() - t0
    lines = sum(1 for ln in low.as_text().splitlines() if " = " in ln)
    jax.block_until_ready(c(x, kern))
    ts = []
    for _ in range(reps):
        t = time.perf_counter(); jax.block_until_ready(c(x, kern)); ts.append(time.perf_counter() - t)
    ts.sort()
    return tc, lines, 1e3 * ts[len(ts) // 2], c(x, kern)

def main():
    names = sys.argv[1].split(",")
    for shape in ([16, 8, 8, 24], [16, 16, 16, 16], [16, 32, 32, 32], [16, 16, 16, 64]):
        for k, s, d in ((3, 1, 1), (5, 1, 1), (7, 1, 1), (3, 2, 1), (3, 1, 2), (5, 1, 2)):
            ref = None
            row = []
            for nm in names:
                tc, lines, ms, out = bench(nm, shape, k, s, d)
                if ref is None: ref = out
                err = max(float(jnp.max(jnp.abs(a - b)) / (jnp.max(jnp.abs(a)) + 1e-9)) for a, b in zip(out, ref))
                row.append(f"{nm} c{tc:5.2f}s l{lines:5d} {ms:7.3f}ms e{err:.0e}")
            print(shape, f"k{k}s{s}d{d}", " | ".join(row), flush=True)


def _tapsum(xp, kern, k, d, s, ho, wo):
    wk = kern.reshape(k * k, -1)
    out = None
    for i in range(k):
        for j in range(k):
            t = xp[:, i * d: i * d + (ho - 1) * s + 1: s, j * d: j * d + (wo - 1) * s + 1: s, :] * wk[i * k + j]
            out = t if out is None else out + t
    return out


def make_custom(s, d):
    @jax.custom_vjp
    def f(x, kern):
        return fwd(x, kern)[0]

    def geom(x, kern):
        k = kern.shape[0]; p = d * (k - 1) // 2
        n, h, w, c = x.shape
        ho = (h + 2 * p - d * (k - 1) - 1) // s + 1; wo = (w + 2 * p - d * (k - 1) - 1) // s + 1
        return k, p, h, w, ho, wo

    def fwd(x, kern):
        k, p, h, w, ho, wo = geom(x, kern)
        xp = jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
        return _tapsum(xp, kern, k, d, s, ho, wo), (xp, kern)

    def bwd(res, g):
        xp, kern = res
        k = kern.shape[0]; p = d * (k - 1) // 2
        H, W = xp.shape[1], xp.shape[2]
        ho, wo = g.shape[1], g.shape[2]
        dw = jnp.stack([jnp.sum(xp[:, i * d: i * d + (ho - 1) * s + 1: s, j * d: j * d + (wo - 1) * s + 1: s, :] * g,
                                axis=(0, 1, 2)) for i in range(k) for j in range(k)]).reshape(kern.shape)
        e = (k - 1) * d
        lh, lw = (ho - 1) * s + 1, (wo - 1) * s + 1
        gp = lax.pad(g, jnp.zeros((), g.dtype), ((0, 0, 0), (e, H - lh, s - 1), (e, W - lw, s - 1), (0, 0, 0)))
        flip = kern[::-1, ::-1]
        dxp = _tapsum(gp, flip, k, d, 1, H, W)
        return dxp[:, p: H - p, p: W - p, :], dw

    f.defvjp(fwd, bwd)
    return f


def custom(x, kern, s, d):
    return make_custom(s, d)(x, kern)


VARIANTS["custom"] = custom
if __name__ == "__main__":
    main()
