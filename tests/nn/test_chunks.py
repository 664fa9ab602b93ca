"""The one chunk runner (`eproxy_jax.chunks`): padded chunks, and programs compiled under an
explicit `Lowering` that no later call or later program can change."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from eproxy_jax import chunks
from eproxy_jax.chunks import Lowering, compile_program
from eproxy_jax.nn import edge_groups, ops
from ynn import convolutions_in_ynn


def test_padded_chunks_cover_every_position_once_padded_and_masked():
    a = np.arange(7) * 10
    b = np.arange(7, dtype=np.float32)
    got = list(chunks.padded_chunks(np.array([6, 0, 2, 3, 5]), 2, a, b))
    assert [idx.tolist() for idx, _, _ in got] == [[6, 0], [2, 3], [5]]
    idx, (pa, pb), valid = got[-1]
    assert pa.tolist() == [50, 50] and pb.tolist() == [5.0, 5.0]   # the last row repeated
    assert valid.tolist() == [True, False]
    assert all(v.all() for _, _, v in got[:-1])
    assert list(chunks.padded_chunks(np.zeros(0, int), 4, a)) == []


def test_round_chunk():
    assert chunks.round_chunk(5, 4) == 8 and chunks.round_chunk(8, 4) == 8
    assert chunks.round_chunk(0, 3) == 3 and chunks.round_chunk(7, 1) == 7


def test_lowering_is_a_checked_value():
    assert Lowering("im2col", True) == Lowering(conv_impl="im2col", archs_batched=True)
    assert len({Lowering(), Lowering(), Lowering(bn_mode="affine")}) == 2
    with pytest.raises(ValueError, match="conv_impl must be one of"):
        Lowering(conv_impl="cudnn")
    with pytest.raises(ValueError, match="bn_mode must be one of"):
        Lowering(bn_mode="eval")
    with pytest.raises(ValueError, match="cpu_convs must be one of"):
        Lowering(cpu_convs="onednn")
    cpu = jax.default_backend() == "cpu"
    assert Lowering.for_archs(1) == Lowering("custom" if cpu else "xla", False, cpu_convs="xla")
    assert Lowering().cpu_convs == "xla" and Lowering.for_archs(1, cpu_convs="ynn").cpu_convs == "ynn"
    assert Lowering.for_archs(4, "xla").archs_batched


def _conv_relu(x, w):
    return jax.nn.relu(ops.conv2d(x, w))


def test_cpu_convs_xla_takes_the_convolutions_from_ynnpack():
    """`cpu_convs='xla'` is a compile option of the program: its convolution is not in a
    YNNPACK fusion, where XLA:CPU's default puts one of 32 channels, and the values agree."""
    if jax.default_backend() != "cpu":
        pytest.skip("a CPU compile option")
    x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 8, 8, 32)), jnp.float32)
    w = jnp.asarray(np.random.default_rng(1).normal(size=(3, 3, 32, 32)) * 0.1, jnp.float32)
    assert Lowering(cpu_convs="ynn").compiler_options() == {}
    default, _ = compile_program(_conv_relu, Lowering(cpu_convs="ynn"), x, w)
    own, _ = compile_program(_conv_relu, Lowering(cpu_convs="xla"), x, w)
    if not convolutions_in_ynn(default.as_text()):
        pytest.skip("this XLA:CPU puts no convolution in YNNPACK (the option has nothing to take)")
    assert convolutions_in_ynn(own.as_text()) == 0 and "convolution(" in own.as_text()
    np.testing.assert_allclose(own(x, w), default(x, w), rtol=1e-5, atol=1e-5)


def test_active_sets_every_switch_and_restores_it():
    before = (ops._conv_impl[0], ops._bn_mode[0], edge_groups._archs_batched[0], jax.config.jax_enable_x64)
    with Lowering("im2col", False, "affine", True).active():
        assert (ops._conv_impl[0], ops._bn_mode[0], edge_groups._archs_batched[0]) == ("im2col", "affine", False)
        assert jax.config.jax_enable_x64
    assert (ops._conv_impl[0], ops._bn_mode[0], edge_groups._archs_batched[0], jax.config.jax_enable_x64) == before


def _bn(x):
    return ops.batch_norm(x, jnp.float32(2.0), jnp.float32(1.0))


def test_a_compiled_program_keeps_its_lowering_after_the_block():
    x = jnp.arange(8, dtype=jnp.float32).reshape(2, 2, 2, 1)
    affine, _ = compile_program(_bn, Lowering(bn_mode="affine"), x)
    train, _ = compile_program(_bn, Lowering(bn_mode="train"), x)
    np.testing.assert_allclose(affine(x), 2 * x + 1)          # called outside any block
    assert abs(float(jnp.mean(train(x))) - 1.0) < 1e-5          # normalised: mean = the bias


def _conv_branch(x, w):
    return ops.conv2d(x, w)


def _switched(i, x, w):
    # the branch functions are the same objects in every trace: lax.switch caches their
    # traces by identity, so a lowering must not reuse a trace made under another one
    return lax.switch(i, (_conv_branch, _conv_branch), x, w)


def test_programs_of_two_lowerings_are_traced_apart():
    x = jnp.ones((1, 4, 4, 2), jnp.float32)
    w = jnp.ones((3, 3, 2, 3), jnp.float32)
    i = jnp.int32(0)
    texts = {}
    for impl in ("custom", "im2col", "custom"):
        prog, _ = compile_program(_switched, Lowering(conv_impl=impl), i, x, w)
        texts.setdefault(impl, []).append(prog.as_text())
        np.testing.assert_allclose(prog(i, x, w), _conv_branch(x, w), rtol=1e-5)
    assert all("convolution" in t for t in texts["custom"])
    assert "convolution" not in texts["im2col"][0]               # patches and a matmul
