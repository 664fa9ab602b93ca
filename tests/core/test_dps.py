"""DPS ask/tell: determinism, random phase, mutation rate, aging, selection, genome codec."""
import json

import chex
import jax
import jax.numpy as jnp
import numpy as np

from eproxy_jax import dps, setting_spec
from eproxy_jax.setting import ProxySetting


def test_ask_is_deterministic_and_random_phase_first():
    st = dps.init(jax.random.PRNGKey(0), population=6, sample=3, mutation=0.2, max_evals=20)
    a = dps.ask(jax.random.PRNGKey(1), st, n=6)
    b = dps.ask(jax.random.PRNGKey(1), st, n=6)
    chex.assert_trees_all_equal(a, b)
    chex.assert_shape(a, (6, dps.N_GENES))
    assert bool(jnp.all((a >= 0) & (a < dps.CARDINALITIES)))
    assert len({tuple(np.asarray(g)) for g in a}) == 6  # random genomes in the random phase


def test_mutation_rate_and_parent_is_tournament_winner():
    st = dps.init(jax.random.PRNGKey(0), population=4, sample=4, mutation=0.2, max_evals=8)
    genomes = dps.random_genomes(jax.random.PRNGKey(2), 4)
    st = dps.tell(st, genomes, jnp.array([0.1, 0.9, 0.3, float("nan")]))
    kids = dps.ask(jax.random.PRNGKey(3), st, n=4000)
    # with sample == population every tournament picks member 1 (fitness 0.9)
    changed = np.asarray(kids != genomes[1])
    # a resampled gene keeps its value with probability 1/cardinality
    expected = 0.2 * (1 - 1 / dps.CARDINALITIES)
    np.testing.assert_allclose(changed.mean(0), expected, atol=0.03)


def test_oldest_member_is_replaced_and_best_tracked():
    st = dps.init(jax.random.PRNGKey(0), population=3, sample=2, mutation=0.2, max_evals=10)
    g = dps.random_genomes(jax.random.PRNGKey(5), 5)
    st = dps.tell(st, g[:3], jnp.array([0.5, 0.2, 0.7]))
    st = dps.tell(st, g[3:4], jnp.array([0.1]))
    chex.assert_trees_all_equal(st.genomes[0], g[3])  # slot of the oldest (told first)
    chex.assert_trees_all_equal(st.genomes[1:], g[1:3])
    st = dps.tell(st, g[4:5], jnp.array([float("nan")]))
    chex.assert_trees_all_equal(st.genomes[1], g[4])
    assert float(st.fitness[1]) == -np.inf  # NaN counts as the worst
    assert float(st.best_fitness) == np.float32(0.7)
    chex.assert_trees_all_equal(st.best_genome, g[2])
    assert int(st.told) == 5
    assert np.isnan(float(st.history_fitness[4])) and float(st.history_fitness[3]) == np.float32(0.1)


def test_evolution_improves_a_toy_fitness():
    """Fitness = fraction of genes at their maximum value: aging evolution must climb."""
    target = jnp.asarray(dps.CARDINALITIES - 1)

    def fitness(g):
        return jnp.mean((g == target).astype(jnp.float32), axis=-1)

    key = jax.random.PRNGKey(0)
    st = dps.init(key, population=20, sample=5, mutation=0.1, max_evals=400)
    for _ in range(400 // 4):
        key, k = jax.random.split(key)
        g = dps.ask(k, st, n=4)
        st = dps.tell(st, g, fitness(g))
    first = float(jnp.max(st.history_fitness[:20]))
    assert float(st.best_fitness) > first + 0.2


def test_genome_setting_round_trip_through_json():
    for i in range(20):
        g = np.asarray(dps.random_genomes(jax.random.PRNGKey(i), 1)[0])
        d = dps.decode(g)
        v = setting_spec.validate(json.loads(json.dumps(d)))
        s = ProxySetting.from_dict(v)
        back = s.to_dict()
        assert setting_spec.validate(back) == v
        g2 = dps.encode(v)
        # active genes survive the round trip
        assert dps.decode(g2) == d
    default = setting_spec.validate({"init": "kaiming_normal", "barrier_init": "xavier_uniform"})
    assert dps.decode(dps.encode(default))["c_out"] == [128, 128, 128]


def test_tell_counts_only_the_valid_rows():
    """A short last batch: padded rows are neither inserted nor recorded (same shapes, no recompile)."""
    st = dps.init(jax.random.PRNGKey(0), population=3, sample=2, mutation=0.2, max_evals=5)
    g = dps.random_genomes(jax.random.PRNGKey(7), 3)
    st = dps.tell(st, g, jnp.array([0.3, 0.9, 0.8]), jnp.int32(1))
    assert int(st.told) == 1
    chex.assert_trees_all_equal(st.genomes[0], g[0])
    assert float(st.fitness[1]) == -np.inf and float(st.best_fitness) == np.float32(0.3)
    assert np.isnan(np.asarray(st.history_fitness)[1:]).all()


def test_keeps_default_rule():
    from eproxy_jax.dps_run import keeps_default
    assert keeps_default(0.3, 0.5) and keeps_default(0.5, 0.5)          # a tie keeps the paper's default
    assert not keeps_default(0.6, 0.5)
    assert keeps_default(float("nan"), 0.5) and keeps_default(None, -0.2)   # an undefined best never beats it
    assert not keeps_default(0.1, float("nan")) and not keeps_default(None, None)   # an undefined default never stays
