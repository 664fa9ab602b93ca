"""Discrete Proxy Search (DPS): regularized (aging) evolution over Eproxy's own settings,
as pure `init / ask / tell` functions on a `flax.struct.dataclass` state (evosax style).

A genome is an int32 vector of value indices, one per gene (`GENES`). The population is a
ring buffer: `tell` writes each new member over the oldest one. `ask` returns random
genomes until `population` members have been told (the random phase), then children: for
each, a tournament of `sample` distinct members picks the fittest parent and every gene is
resampled with probability `mutation`. NaN fitness counts as the worst.
"""
from __future__ import annotations

import itertools
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from .setting_spec import INIT_NAMES, SIGNALS

LR = tuple(round(0.5 + 0.1 * i, 1) for i in range(11))           # 0.5 .. 1.5
ALPHA = tuple(round(-0.5 + 0.1 * i, 1) for i in range(11))       # -0.5 .. 0.5
BRANCHES = (1, 2, 3)
INITS = INIT_NAMES[:4]                                           # xavier_u/n, kaiming_u/n
SIGNAL_SETS = tuple(tuple(s for s, on in zip(SIGNALS, bits) if on)
                    for bits in itertools.product((0, 1), repeat=len(SIGNALS)) if any(bits))  # 31 subsets
KERNELS = (1, 3, 7)
CHANNELS = (16, 32, 64, 128, 256, 512)
LEVELS = (0.5, 1.0, 1.5, 2.0)
MAX_BRANCHES = 3

GLOBAL_GENES = (("lr", LR), ("alpha", ALPHA), ("branches", BRANCHES), ("init", INITS), ("barrier_init", INITS))
BRANCH_GENES = (("signals", SIGNAL_SETS), ("head_kernel", KERNELS), ("barrier_kernel", KERNELS),
                ("c_out", CHANNELS), ("c_last", CHANNELS), ("level", LEVELS))
GENES = GLOBAL_GENES + tuple((f"{n}[{b}]", v) for b in range(MAX_BRANCHES) for n, v in BRANCH_GENES)
CARDINALITIES = np.asarray([len(v) for _, v in GENES], np.int32)
N_GENES = len(GENES)


@struct.dataclass
class DPSState:
    genomes: jnp.ndarray        # [population, N_GENES] int32 (ring buffer, oldest at told % population)
    fitness: jnp.ndarray        # [population] float32, -inf where empty or NaN
    told: jnp.ndarray           # int32: settings evaluated so far
    best_genome: jnp.ndarray    # [N_GENES]
    best_fitness: jnp.ndarray   # float32
    history_genomes: jnp.ndarray  # [max_evals, N_GENES], in evaluation order
    history_fitness: jnp.ndarray  # [max_evals] (NaN kept as NaN)
    population: int = struct.field(pytree_node=False, default=40)
    sample: int = struct.field(pytree_node=False, default=10)
    mutation: float = struct.field(pytree_node=False, default=0.2)


def random_genomes(key, n: int) -> jnp.ndarray:
    u = jax.random.uniform(key, (n, N_GENES))
    return jnp.minimum((u * CARDINALITIES).astype(jnp.int32), CARDINALITIES - 1)


@partial(jax.jit, static_argnames=("population", "sample", "mutation", "max_evals"))
def init(key, population: int = 40, sample: int = 10, mutation: float = 0.2, max_evals: int = 200) -> DPSState:
    del key  # the state starts empty; randomness enters through ask
    if not 1 <= sample <= population:
        raise ValueError("sample must be in [1, population]")
    return DPSState(
        genomes=jnp.zeros((population, N_GENES), jnp.int32),
        fitness=jnp.full((population,), -jnp.inf, jnp.float32),
        told=jnp.zeros((), jnp.int32),
        best_genome=jnp.zeros((N_GENES,), jnp.int32),
        best_fitness=jnp.full((), -jnp.inf, jnp.float32),
        history_genomes=jnp.zeros((max_evals, N_GENES), jnp.int32),
        history_fitness=jnp.full((max_evals,), jnp.nan, jnp.float32),
        population=population, sample=sample, mutation=mutation,
    )


@partial(jax.jit, static_argnames=("n",))
def ask(key, state: DPSState, n: int = 1) -> jnp.ndarray:
    """`n` genomes to evaluate next (all children come from the current population)."""
    k_rand, k_tour, k_mut, k_val = jax.random.split(key, 4)
    fresh = random_genomes(k_rand, n)
    members = jnp.minimum(state.told, state.population)
    # tournament: `sample` distinct members among those told, via random priorities
    prio = jax.random.uniform(k_tour, (n, state.population))
    prio = jnp.where(jnp.arange(state.population) < members, prio, -1.0)
    contestants = jnp.argsort(-prio, axis=1)[:, : state.sample]
    fit = state.fitness[contestants]
    parent = state.genomes[contestants[jnp.arange(n), jnp.argmax(fit, axis=1)]]
    mutate = jax.random.uniform(k_mut, (n, N_GENES)) < state.mutation
    child = jnp.where(mutate, random_genomes(k_val, n), parent)
    random_phase = (state.told + jnp.arange(n)) < state.population
    return jnp.where(random_phase[:, None], fresh, child)


@jax.jit
def tell(state: DPSState, genomes, fitness, n_valid=None) -> DPSState:
    """Insert evaluated genomes (each replaces the oldest member) and record history.
    Only the first `n_valid` rows count (default all): a short last batch keeps the shapes
    of the others, so nothing recompiles."""
    genomes = jnp.asarray(genomes, jnp.int32)
    fitness = jnp.asarray(fitness, jnp.float32)
    n = genomes.shape[0]
    if n > state.population:
        raise ValueError("tell at most `population` genomes at once")
    valid = jnp.arange(n) < (n if n_valid is None else n_valid)
    sel = jnp.where(jnp.isnan(fitness), -jnp.inf, fitness)
    sel_valid = jnp.where(valid, sel, -jnp.inf)
    slots = jnp.where(valid, (state.told + jnp.arange(n)) % state.population, state.population)
    hist = jnp.where(valid, state.told + jnp.arange(n), state.history_fitness.shape[0])
    i = jnp.argmax(sel_valid)
    better = sel_valid[i] > state.best_fitness
    return state.replace(
        genomes=state.genomes.at[slots].set(genomes, mode="drop"),
        fitness=state.fitness.at[slots].set(sel, mode="drop"),
        told=state.told + jnp.sum(valid).astype(jnp.int32),
        best_genome=jnp.where(better, genomes[i], state.best_genome),
        best_fitness=jnp.where(better, sel_valid[i], state.best_fitness),
        history_genomes=state.history_genomes.at[hist].set(genomes, mode="drop"),
        history_fitness=state.history_fitness.at[hist].set(fitness, mode="drop"),
    )


def decode(genome, max_branches: int = MAX_BRANCHES, max_channels: int = CHANNELS[-1],
           max_kernel: int = KERNELS[-1]) -> dict:
    """Genome -> setting dict (the format of `setting_spec`; only the active branches, at
    most `max_branches`, the number of feature maps of the space). `max_channels` and
    `max_kernel` cap the channel and kernel genes (a cheaper, restricted search)."""
    g = [int(v) for v in np.asarray(genome)]
    out = {name: values[g[i]] for i, (name, values) in enumerate(GLOBAL_GENES)}
    out["branches"] = b = min(out["branches"], max_branches)
    per = {name: [] for name, _ in BRANCH_GENES}
    off = len(GLOBAL_GENES)
    for br in range(b):
        for j, (name, values) in enumerate(BRANCH_GENES):
            v = values[g[off + br * len(BRANCH_GENES) + j]]
            if name in ("c_out", "c_last"):
                v = min(v, max_channels)
            elif name in ("head_kernel", "barrier_kernel"):
                v = min(v, max_kernel)
            per[name].append(list(v) if name == "signals" else v)
    out.update(per)
    return out


def encode(setting: dict) -> np.ndarray:
    """Setting dict (validated, values on the DPS grids) -> genome; inactive branches copy branch 0."""
    g = np.zeros(N_GENES, np.int32)
    for i, (name, values) in enumerate(GLOBAL_GENES):
        v = setting[name]
        g[i] = _index(values, v, name)
    off = len(GLOBAL_GENES)
    b = setting["branches"]
    for br in range(MAX_BRANCHES):
        src = br if br < b else 0
        for j, (name, values) in enumerate(BRANCH_GENES):
            v = setting[name][src]
            v = tuple(s for s in SIGNALS if s in v) if name == "signals" else v
            g[off + br * len(BRANCH_GENES) + j] = _index(values, v, f"{name}[{src}]")
    return g


def _index(values, v, name):
    for i, x in enumerate(values):
        if x == v or (isinstance(x, float) and isinstance(v, (int, float)) and abs(x - v) < 1e-6):
            return i
    raise ValueError(f"setting field {name}={v!r} is not on the DPS grid {values}")
