"""Architecture search with the proxy: regularized (aging) evolution over a pool of
architectures, as pure `init / ask / tell` on a `flax.struct.dataclass` state (the DPS style).

The pool is a fixed array of encodings `[N, *encoding_shape]` (NB201: the whole space; other
spaces: a truth table or the user's list). Members are pool indices. `ask` returns indices
not evaluated before: random ones until `population` members have been told (or always, for
random search), then children: a tournament of `sample` members picks the fittest parent and
the child is an unevaluated pool member nearest to it (fewest encoding entries changed: a
one-op mutation on NB201, ties broken at random). Fitness is `-score`; NaN counts as worst.
Every architecture is evaluated at most once, so the budget counts proxy runs. When the pool
is exhausted `ask` returns -1.
"""
from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class SearchState:
    members: jnp.ndarray   # [population] int32 pool indices (ring buffer, oldest at told % population)
    fitness: jnp.ndarray   # [population] float32, -inf where empty or NaN
    seen: jnp.ndarray      # [pool] bool: asked or told before
    told: jnp.ndarray      # int32: architectures evaluated so far
    best: jnp.ndarray      # int32 pool index of the fittest evaluated (-1 before any)
    best_fitness: jnp.ndarray
    population: int = struct.field(pytree_node=False, default=64)
    sample: int = struct.field(pytree_node=False, default=16)


@partial(jax.jit, static_argnames=("pool_size", "population", "sample"))
def init(pool_size: int, population: int = 64, sample: int = 16) -> SearchState:
    if not 1 <= sample <= population:
        raise ValueError("sample must be in [1, population]")
    return SearchState(
        members=jnp.zeros((population,), jnp.int32),
        fitness=jnp.full((population,), -jnp.inf, jnp.float32),
        seen=jnp.zeros((pool_size,), bool),
        told=jnp.zeros((), jnp.int32),
        best=jnp.full((), -1, jnp.int32),
        best_fitness=jnp.full((), -jnp.inf, jnp.float32),
        population=population, sample=sample)


@partial(jax.jit, static_argnames=("n", "random_only"))
def ask(key, state: SearchState, pool, n: int = 16, random_only: bool = False) -> jnp.ndarray:
    """`n` distinct pool indices never asked before (-1 once the pool is exhausted)."""
    pool = pool.reshape(pool.shape[0], -1)
    members = jnp.minimum(state.told, state.population)

    def one(seen, xs):
        i, k = xs
        k_tour, k_tie = jax.random.split(k)
        prio = jax.random.uniform(k_tour, (state.population,))
        prio = jnp.where(jnp.arange(state.population) < members, prio, -1.0)
        contestants = jnp.argsort(-prio)[: state.sample]
        parent = state.members[contestants[jnp.argmax(state.fitness[contestants])]]
        dist = jnp.sum(pool != pool[parent], axis=1).astype(jnp.float32)
        random_phase = random_only | (state.told + i < state.population)
        dist = jnp.where(random_phase, 0.0, dist)
        # ties at random: a uniform offset below 1 never reorders different distances
        cost = jnp.where(seen, jnp.inf, dist + 0.5 * jax.random.uniform(k_tie, dist.shape))
        child = jnp.argmin(cost).astype(jnp.int32)
        child = jnp.where(jnp.isinf(cost[child]), -1, child)
        return seen.at[child].set(True, mode="drop"), child

    _, kids = jax.lax.scan(one, state.seen, (jnp.arange(n), jax.random.split(key, n)))
    return kids


@jax.jit
def tell(state: SearchState, indices, fitness) -> SearchState:
    """Insert evaluated pool indices (each replaces the oldest member); entries with index -1
    (an exhausted pool) are ignored. NaN fitness counts as the worst."""
    indices = jnp.asarray(indices, jnp.int32)
    fitness = jnp.asarray(fitness, jnp.float32)
    valid = indices >= 0
    fit = jnp.where(jnp.isnan(fitness) | ~valid, -jnp.inf, fitness)
    order = jnp.cumsum(valid) - 1
    slots = jnp.where(valid, (state.told + order) % state.population, state.population)
    i = jnp.argmax(fit)
    better = valid[i] & (fit[i] > state.best_fitness)
    return state.replace(
        members=state.members.at[slots].set(indices, mode="drop"),
        fitness=state.fitness.at[slots].set(fit, mode="drop"),
        seen=state.seen.at[jnp.where(valid, indices, state.seen.shape[0])].set(True, mode="drop"),
        told=state.told + jnp.sum(valid).astype(jnp.int32),
        best=jnp.where(better, indices[i], state.best),
        best_fitness=jnp.where(better, fit[i], state.best_fitness),
    )
