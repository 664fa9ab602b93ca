"""Peer proxies: each against float64 numpy on a tiny network, the NB201 classifier's
wiring (ReLU kernel, gates, counts), vmapped == mapped architectures, NaN/Inf handling."""
import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eproxy_jax.baselines import common, parse_names, ProxyNameError
from eproxy_jax.baselines.jacob_cov import jacob_cov
from eproxy_jax.baselines.naswot import naswot
from eproxy_jax.baselines import BaselineError
from eproxy_jax.baselines.runner import BaselineEngine
from eproxy_jax.baselines.saliency import saliencies
from eproxy_jax.baselines.synflow import synflow
from eproxy_jax.engine import CompileCounter
from spaces import nb201


class TinyNet(nn.Module):
    """x -> linear (gated) -> ReLU -> linear + bias (gated): the classifier protocol in two layers."""
    hidden: int = 16
    classes: int = 3
    bn: bool = True

    @nn.compact
    def __call__(self, images, enc):
        n = images.shape[0]
        x = images.reshape(n, -1)
        k1 = nb201.Kernel((1, 1, x.shape[1], self.hidden), name="l1")()
        g1 = self.variable("gates", "l1_out", jnp.zeros, (n, self.hidden)).value
        h = nb201.gated(x @ k1[0, 0], g1)
        gram = nb201.relu_gram(h)
        g2 = self.variable("gates", "l2_out", jnp.zeros, (n, self.classes)).value
        z = nb201.gated(nb201.Linear(self.classes, name="l2")(jax.nn.relu(h)), g2)
        return z, gram, jax.nn.relu(h)


@pytest.fixture(scope="module")
def tiny():
    rng = np.random.default_rng(0)
    images = rng.normal(size=(6, 2, 2, 3)).astype(np.float32)
    labels = np.array([0, 1, 2, 1, 0, 2])
    net = TinyNet()
    v = common.init_variables(net, jax.random.PRNGKey(3), jnp.asarray(images), (1,))
    w1 = np.asarray(v["params"]["l1"]["kernel"][0, 0], np.float64)
    w2 = np.asarray(v["params"]["l2"]["kernel"][0, 0], np.float64)
    b = np.asarray(v["params"]["l2"]["bias"], np.float64)
    return net, v, images, labels, w1, w2, b


def _forward(x, w1, w2, b):
    h = x @ w1
    a = np.maximum(h, 0)
    return h, a, a @ w2 + b


def test_pytorch_default_init(tiny):
    _, _, images, _, w1, w2, b = tiny
    assert np.abs(w1).max() <= 1 / np.sqrt(12) and np.abs(w2).max() <= 1 / np.sqrt(16)
    assert np.abs(b).max() <= 1 / np.sqrt(16) and np.abs(b).max() > 0  # linear bias drawn, not zero


def test_naswot_by_hand(tiny):
    net, v, images, _, w1, w2, b = tiny
    h, _, _ = _forward(images.reshape(6, -1).astype(np.float64), w1, w2, b)
    c = (h > 0).astype(np.float64)
    k = c @ c.T + (1 - c) @ (1 - c).T
    assert np.all(np.diag(k) == 16)
    want = np.linalg.slogdet(k)[1]
    got = jax.jit(lambda v, x: naswot(net, v, x, jnp.zeros(1, jnp.int32)))(v, images)
    np.testing.assert_allclose(float(got), want, rtol=1e-5)


def test_synflow_by_hand_in_float64(tiny):
    net, v, images, _, w1, w2, b = tiny
    a1, a2 = np.abs(w1), np.abs(w2)
    h = np.ones(12) @ a1                       # >= 0: the ReLU passes everything
    dw1 = np.outer(np.ones(12), a2.sum(1))     # dR/dW1_ij = sum_k |W2|_jk
    dw2 = np.outer(h, np.ones(3))              # dR/dW2_jk = h_j
    want = np.log((a1 * dw1).sum() + (a2 * dw2).sum())
    v1 = common.init_variables(net, jax.random.PRNGKey(3), jnp.ones((1, 2, 2, 3)), (1,))
    with jax.enable_x64(True):
        got = jax.jit(lambda v: synflow(net, v, (2, 2, 3), jnp.zeros(1, jnp.int32)))(v1)
    assert got.dtype == jnp.float32
    np.testing.assert_allclose(float(got), want, rtol=1e-6)


def test_saliencies_by_hand(tiny):
    net, v, images, labels, w1, w2, b = tiny
    x = images.reshape(6, -1).astype(np.float64)
    h, a, z = _forward(x, w1, w2, b)
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    dz = (p - np.eye(3)[labels]) / 6           # d mean CE / d logits
    dw2 = a.T @ dz
    dh = (dz @ w2.T) * (h > 0)
    dw1 = x.T @ dh
    snip = np.abs(dw1 * w1).sum() + np.abs(dw2 * w2).sum()
    grad_norm = np.linalg.norm(dw1) + np.linalg.norm(dw2)
    fisher = 0.5 * ((h * dh) ** 2).mean(0).sum() + 0.5 * ((z * dz) ** 2).mean(0).sum()
    got = jax.jit(lambda v, x, y: saliencies(net, v, x, y, jnp.zeros(1, jnp.int32)))(v, images, labels)
    np.testing.assert_allclose(float(got["snip"]), snip, rtol=1e-4)
    np.testing.assert_allclose(float(got["grad_norm"]), grad_norm, rtol=1e-4)
    np.testing.assert_allclose(float(got["fisher"]), fisher, rtol=1e-4)


def test_jacob_cov_by_hand(tiny):
    net, v, images, _, w1, w2, b = tiny
    h, _, _ = _forward(images.reshape(6, -1).astype(np.float64), w1, w2, b)
    jac = (h > 0).astype(np.float64) @ w1.T    # d sum(relu(h_n)) / d x_n, one row per image
    ev = np.linalg.eigvalsh(np.corrcoef(jac))
    want = -np.sum(np.log(ev + 1e-5) + 1 / (ev + 1e-5))
    got = jax.jit(lambda v, x: jacob_cov(net, v, x, jnp.zeros(1, jnp.int32)))(v, images)
    np.testing.assert_allclose(float(got), want, rtol=1e-3)


def _grads(x, labels, w1, w2, b):
    """Mean cross-entropy's gradients (dW1, dW2) of the two-layer net, float64."""
    h, a, z = _forward(x, w1, w2, b)
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    dz = (p - np.eye(3)[labels]) / len(x)
    return x.T @ ((dz @ w2.T) * (h > 0)), a.T @ dz


def test_plain_and_l2_norm_by_hand(tiny):
    net, v, images, labels, w1, w2, b = tiny
    x = images.reshape(6, -1).astype(np.float64)
    dw1, dw2 = _grads(x, labels, w1, w2, b)
    assert (dw1 != 0).all() and (dw2 != 0).all()   # every weight takes part: l2_norm counts them all
    got = jax.jit(lambda v, x, y: saliencies(net, v, x, y, jnp.zeros(1, jnp.int32)))(v, images, labels)
    np.testing.assert_allclose(float(got["plain"]), (dw1 * w1).sum() + (dw2 * w2).sum(), rtol=1e-4)
    np.testing.assert_allclose(float(got["l2_norm"]), np.linalg.norm(w1) + np.linalg.norm(w2), rtol=1e-5)


def test_l2_norm_leaves_out_channel_pairs_without_gradient():
    from eproxy_jax.baselines.saliency import _used_norms
    w = jnp.arange(1.0, 17.0).reshape(1, 1, 4, 4)
    g = jnp.ones_like(w).at[..., 2, :].set(0.0)   # input channel 2 never reached the loss
    np.testing.assert_allclose(float(_used_norms(w, g)), np.linalg.norm(np.delete(np.asarray(w)[0, 0], 2, 0)))
    stacked = jnp.stack([w, 2 * w])               # leading axis: two layers, one norm each
    np.testing.assert_allclose(np.asarray(_used_norms(stacked, jnp.ones_like(stacked))),
                               [np.linalg.norm(w), 2 * np.linalg.norm(w)], rtol=1e-6)


def test_grasp_against_a_finite_difference_hessian(tiny):
    from eproxy_jax.baselines.grasp import grasp
    net, v, images, labels, w1, w2, b = tiny
    x = images.reshape(6, -1).astype(np.float64)
    g1, g2 = _grads(x, labels, w1, w2, b)
    eps = 1e-5   # H g by central differences of the exact gradient along g (bias held fixed)
    p1, p2 = _grads(x, labels, w1 + eps * g1, w2 + eps * g2, b)
    m1, m2 = _grads(x, labels, w1 - eps * g1, w2 - eps * g2, b)
    want = -((w1 * (p1 - m1)).sum() + (w2 * (p2 - m2)).sum()) / (2 * eps)
    got = jax.jit(lambda v, x, y: grasp(net, v, x, y, jnp.zeros(1, jnp.int32)))(v, images, labels)
    np.testing.assert_allclose(float(got), want, rtol=2e-3)


def _epe_nas_published(jac, labels, n_classes):
    """The EPE-NAS authors' per-class score, loop for loop (numpy, float64)."""
    per_class = {}
    for i, label in enumerate(labels):
        per_class[label] = np.vstack((per_class[label], jac[i])) if label in per_class else jac[i]
    scores = {}
    for c, rows in per_class.items():
        try:
            corrs = np.corrcoef(rows)
            s = np.sum(np.log(abs(corrs) + 1e-5))
            if n_classes > 100:
                s /= len(corrs)
        except TypeError:   # one image: a 0-d correlation has no len()
            continue
        scores[c] = s
    if n_classes <= 100:
        return sum(abs(s) for s in scores.values())
    return sum(abs(scores[c] - scores[d]) for c in scores for d in scores) / len(scores)


def test_epe_nas_by_hand(tiny):
    from eproxy_jax.baselines.epe_nas import from_jacobian
    from eproxy_jax.baselines.jacob_cov import input_jacobian
    net, v, images, labels, w1, w2, b = tiny
    h, _, _ = _forward(images.reshape(6, -1).astype(np.float64), w1, w2, b)
    jac = (h > 0).astype(np.float64) @ w1.T
    got_jac, outputs = input_jacobian(net, v, jnp.asarray(images), jnp.zeros(1, jnp.int32))
    assert outputs == 16
    np.testing.assert_allclose(np.asarray(got_jac).reshape(6, -1), jac, rtol=1e-5, atol=1e-6)
    rng = np.random.default_rng(1)
    many = rng.normal(size=(9, 20))
    lab = np.array([0, 1, 1, 2, 2, 2, 3, 3, 0])
    lone = np.array([0, 1, 1, 2, 2, 2, 3, 3, 4])   # class 4 has one image
    for rows, y in ((jac, labels), (many, lab), (many, lone)):
        for outputs in (16, 101):   # the authors' two rules, by the network's output length
            want = _epe_nas_published(rows, list(y), outputs)
            got = from_jacobian(jnp.asarray(rows, jnp.float32), jnp.asarray(y), 10, outputs)
            np.testing.assert_allclose(float(got), want, rtol=1e-4, err_msg=f"{outputs}")


def test_proxy_names():
    assert parse_names("eproxy, NASWOT,eproxy") == ["eproxy", "naswot"]
    assert len(parse_names("all")) == 14   # eproxy and NASLib's 13 zero-cost proxies
    with pytest.raises(ProxyNameError, match="unknown proxy 'zenn'"):
        parse_names("naswot,zenn")


class TinyBNNet(nn.Module):
    """x -> 1x1 conv -> BatchNorm -> ReLU -> 1x1 conv -> BatchNorm -> ReLU (recorded as the
    pre-pooling map) -> pooling -> linear: what zen reads, in two layers."""
    hidden: int = 5

    @nn.compact
    def __call__(self, images, enc):
        from eproxy_jax.nn import layers, ops
        h = ops.conv2d(images, nb201.Kernel((1, 1, images.shape[-1], self.hidden), name="c1")())
        h = jax.nn.relu(layers.BatchNorm(name="bn1")(h))
        h = ops.conv2d(h, nb201.Kernel((1, 1, self.hidden, self.hidden), name="c2")())
        h = jax.nn.relu(layers.BatchNorm(name="bn2")(h))
        if self.is_mutable_collection("stats"):
            self.sow("stats", "pre_pool", h)
        pooled = jnp.mean(h, axis=(1, 2))
        return nb201.Linear(3, name="head")(pooled), None, pooled


def test_zen_by_hand_in_float64():
    """zen against PyTorch's procedure written out in numpy: N(0,1) weights, BN scale 1 and
    offset 0, two train-mode passes updating each BN's running variance (momentum 0.1,
    unbiased), log of the mean L1 distance of the pre-pooling maps plus the BN terms."""
    from eproxy_jax.baselines.zen import gaussian_params, zen
    net = TinyBNNet()
    shape = (6, 3, 3, 4)
    v = common.init_variables(net, jax.random.PRNGKey(3), jnp.zeros(shape), (1,))
    key = jax.random.PRNGKey(7)
    got = float(jax.jit(lambda v: zen(net, v, shape, key, jnp.zeros(1, jnp.int32)))(v))
    k_w, k_x, k_mix = jax.random.split(key, 3)
    p = jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), gaussian_params(v["params"], k_w))
    assert np.all(p["bn1"]["scale"] == 1) and np.all(p["bn2"]["bias"] == 0) and np.all(p["head"]["bias"] == 0)
    w1, w2 = p["c1"]["kernel"][0, 0], p["c2"]["kernel"][0, 0]
    assert 0.5 < w1.std() < 1.5 and abs(w2.mean()) < 0.5          # N(0, 1), not PyTorch's uniform
    x = np.asarray(jax.random.normal(k_x, shape, jnp.float32), np.float64)
    mixed = x + 0.01 * np.asarray(jax.random.normal(k_mix, shape, jnp.float32), np.float64)
    running = {"bn1": np.ones(5), "bn2": np.ones(5)}

    def bn(h, name):
        flat = h.reshape(-1, h.shape[-1])
        running[name] = 0.9 * running[name] + 0.1 * flat.var(0, ddof=1)
        return (h - flat.mean(0)) / np.sqrt(flat.var(0) + 1e-5)

    def forward(inp):
        h = np.maximum(bn(inp @ w1, "bn1"), 0)
        return np.maximum(bn(h @ w2, "bn2"), 0)

    diff = np.abs(forward(x) - forward(mixed)).sum(axis=(1, 2, 3)).mean()
    want = np.log(diff) + sum(np.log(np.sqrt(r.mean())) for r in running.values())
    np.testing.assert_allclose(got, want, rtol=1e-4)


def test_zen_reads_every_batchnorm_the_nb201_cell_runs(tiny_space, sample_encodings):
    """The NB201 classifier records one BN variance per BatchNorm the architecture runs (stem,
    each conv edge of every cell, two per reduction block, the last); -1 marks edges without
    one. Through the engine: finite for live cells, -inf for the cell cut off from its input."""
    net = tiny_space.classifier(10)
    x = jnp.asarray(np.random.default_rng(1).normal(size=(3, 16, 16, 3)), jnp.float32)
    v = common.init_variables(net, jax.random.PRNGKey(0), x, (6,))
    for enc in sample_encodings:
        _, state = net.apply(v, x, jnp.asarray(enc), mutable=["stats"])
        leaves = [np.ravel(a) for path, a in jax.tree_util.tree_flatten_with_path(state["stats"])[0]
                  if "pre_pool" not in jax.tree_util.keystr(path)]
        recorded = np.concatenate(leaves)
        n_conv = int(np.isin(enc, (2, 3)).sum())
        assert (recorded >= 0).sum() == 1 + 3 * n_conv + 4 + 1
    out = BaselineEngine(tiny_space, ["zen"], np.asarray(x), chunk=2).score(sample_encodings)["zen"]
    assert np.isneginf(out[2]) and np.isfinite(np.delete(out, 2)).all()


# --- the NB201 classifier ----------------------------------------------------------------

def _relu_units(enc, c, hw, cells=1):
    """ReLU units NB201's classifier runs for one image: every conv edge's ReLU, the reduction
    blocks' two ReLUs, and the last ReLU before pooling."""
    n_conv = int(np.isin(enc, (2, 3)).sum())
    units = 0
    for s in range(3):
        cs, h = c * 2 ** s, hw // 2 ** s
        units += cells * n_conv * cs * h * h
        if s:
            units += (cs // 2) * (2 * h) ** 2 + cs * h * h
    return units + 4 * c * (hw // 4) ** 2


def test_classifier_relu_kernel_counts_every_relu(tiny_space, sample_encodings):
    net = tiny_space.classifier(10)
    x = jnp.asarray(np.random.default_rng(1).normal(size=(3, 16, 16, 3)), jnp.float32)
    v = common.init_variables(net, jax.random.PRNGKey(0), x, (6,))
    apply = jax.jit(lambda v, e: net.apply(v, x, e))
    for enc in sample_encodings:
        logits, gram, pooled = apply(v, jnp.asarray(enc))
        chex.assert_shape(logits, (3, 10))
        chex.assert_shape(pooled, (3, 16))
        np.testing.assert_array_equal(np.diag(np.asarray(gram)), _relu_units(enc, 4, 16))


def test_param_and_flop_counts(tiny_space):
    none = np.zeros((1, 6), np.int32)
    conv3_first = none.copy()
    conv3_first[0, 0] = 3
    pool_first = none.copy()
    pool_first[0, 0] = 4
    # one 3x3 conv edge per cell: 9 C^2 weights + 2 C BN affine per stage
    added = sum(9 * c * c + 2 * c for c in (4, 8, 16))
    assert tiny_space.param_count(conv3_first)[0] - tiny_space.param_count(none)[0] == added
    # the classifier net's real kernels of the same edge (our cells' BN is affine-free)
    v = jax.eval_shape(lambda: tiny_space.classifier(10).init(jax.random.PRNGKey(0), jnp.zeros((1, 16, 16, 3)),
                                                             jnp.zeros(6, jnp.int32)))["params"]
    assert sum(int(np.prod(v[f"stage{s}"]["cell"]["conv3x3"]["kernel"].shape[2:])) for s in range(3)) \
        == sum(9 * c * c for c in (4, 8, 16))
    macs3 = sum(9 * c * c * (16 // 2 ** s) ** 2 for s, c in enumerate((4, 8, 16)))
    assert tiny_space.flops(conv3_first)[0] - tiny_space.flops(none)[0] == macs3
    assert tiny_space.flops(pool_first)[0] - tiny_space.flops(none)[0] == sum(
        9 * c * (16 // 2 ** s) ** 2 for s, c in enumerate((4, 8, 16)))
    assert tiny_space.param_count(pool_first)[0] == tiny_space.param_count(none)[0]


def test_vmapped_architectures_equal_mapped(tiny_space, sample_encodings):
    """Under vmap an edge computes every op and selects: the unselected ops must add nothing
    to the ReLU kernel, the gradients or the gates (the mapped path runs only the selected op)."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(4, 16, 16, 3)).astype(np.float32)
    labels = rng.integers(0, 10, 4)
    names = ["naswot", "snip", "grad_norm", "fisher", "plain", "l2_norm"]
    encs = sample_encodings[[0, 1, 3]]
    a = BaselineEngine(tiny_space, names, x, labels, chunk=4, arch_vmap=1).score(encs)
    b = BaselineEngine(tiny_space, names, x, labels, chunk=4, arch_vmap=2).score(encs)
    for p in names:
        np.testing.assert_allclose(a[p], b[p], rtol=2e-4, err_msg=p)
    # cells with fewer convolutions have fewer weights in use
    n_conv = np.isin(encs, (2, 3)).sum(1)
    assert np.all(np.diff(a["l2_norm"][np.argsort(n_conv)]) >= 0) and len(set(n_conv)) > 1


def test_grasp_through_the_engine(tiny_space, sample_encodings):
    """grasp's program (a second backward pass through the convolutions' custom VJP) on NB201
    cells, with a chunk to pad: finite for a conv cell and a conv-free one, and not equal."""
    rng = np.random.default_rng(4)
    x, labels = rng.normal(size=(4, 16, 16, 3)).astype(np.float32), rng.integers(0, 10, 4)
    free = nb201.parse_string("|skip_connect~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|none~1|skip_connect~2|")
    out = BaselineEngine(tiny_space, ["grasp"], x, labels, chunk=2).score(np.stack([sample_encodings[0], free,
                                                                                     sample_encodings[0]]))
    assert np.isfinite(out["grasp"]).all() and out["grasp"][0] != out["grasp"][1]
    assert out["grasp"][0] == out["grasp"][2]


def test_engine_nan_inf_and_no_recompiles(tiny_space, sample_encodings):
    """The all-`none` cell cuts the input off: synflow is exactly 0 (log -inf), jacob_cov's
    Jacobian rows are constant (NaN); other cells stay finite. One compile per program,
    however many chunks and architectures."""
    x = np.random.default_rng(3).normal(size=(4, 16, 16, 3)).astype(np.float32)
    eng = BaselineEngine(tiny_space, ["synflow", "jacob_cov", "epe_nas", "params"], x, np.arange(4) % 2, chunk=2)
    encs = np.concatenate([sample_encodings, sample_encodings[:1]])  # 5 archs: 3 chunks, last padded
    out = eng.score(encs)
    assert np.isneginf(out["synflow"][2]) and np.isnan(out["jacob_cov"][2]) and np.isnan(out["epe_nas"][2])
    for p in ("synflow", "jacob_cov", "epe_nas"):
        assert np.all(np.isfinite(np.delete(out[p], 2))), p
    assert out["synflow"][0] == out["synflow"][4]
    before = CompileCounter.compiles
    again = eng.score(tiny_space.all_encodings()[::997])  # 16 other cells
    assert CompileCounter.compiles == before and len(eng._compiled) == 2
    assert np.isfinite(again["params"]).all()


def test_engine_errors(tiny_space):
    x = np.zeros((4, 16, 16, 3), np.float32)
    with pytest.raises(BaselineError, match="need class labels"):
        BaselineEngine(tiny_space, ["snip"], x, None)
    with pytest.raises(BaselineError, match="labels must lie in"):
        BaselineEngine(tiny_space, ["fisher"], x, np.array([0, 1, 2, 10]), num_classes=10)
    with pytest.raises(BaselineError, match="unknown baseline"):
        BaselineEngine(tiny_space, ["eproxy"], x)


def test_compare_ranks_each_proxy_in_its_direction():
    from eproxy_jax.cli.compare import rank_metrics
    truth = np.array([70.0, 80.0, 90.0, 60.0, 85.0])
    assert rank_metrics("naswot", truth * 2, truth)["spearman"] == 1.0      # higher = better
    assert rank_metrics("eproxy", -truth, truth)["spearman"] == 1.0         # a loss: lower = better
    # non-finite baselines rank last whatever their sign: -inf (synflow of 0) and NaN
    v = np.array([1.0, 2.0, 3.0, -np.inf, np.nan])
    assert rank_metrics("synflow", v, np.array([3.0, 4.0, 5.0, 1.0, 1.0]))["spearman"] > 0.9
    v = np.array([1.0, 2.0, 3.0, np.inf, 0.5])
    assert rank_metrics("snip", v, np.array([3.0, 4.0, 5.0, 1.0, 2.0]))["spearman"] > 0.9


def test_api_baseline_scores(tiny_space, sample_encodings):
    import eproxy_jax as ep
    out = ep.baseline_scores(tiny_space, sample_encodings, ["params", "flops"])
    np.testing.assert_array_equal(out["params"], tiny_space.param_count(sample_encodings))
    assert out["flops"][0] > out["flops"][2]  # a conv-heavy cell costs more than the empty one
