"""Peer zero-cost proxies on the same spaces and engine as Eproxy.

Every baseline is a pure function of (classifier module, its variables, images[, labels],
encoding) in one file each; `runner.BaselineEngine` runs them over many architectures with
one compiled program per proxy family (the architecture is data: no recompiles).

Sign convention: **higher = better for every baseline** (Eproxy alone is a loss, lower =
better; `eproxy compare` ranks it by its negation). This registry is plain Python, so the
CLI can validate `--proxies` before importing jax.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ProxyInfo:
    program: str          # which compiled program computes it ("analytic": no program)
    data: bool            # reads the image batch
    labels: bool          # needs class labels of the images
    description: str


PROXIES: dict[str, ProxyInfo] = {
    "naswot": ProxyInfo("naswot", True, False,
                        "Mellor et al. 2021: log|K_H|, K_H = sum over ReLUs of N_A - Hamming distance of binary codes"),
    "synflow": ProxyInfo("synflow", False, False,
                         "Tanaka et al. 2020: log sum |theta * dR/dtheta|, |theta|, BN removed, all-ones input, float64"),
    "jacob_cov": ProxyInfo("jacob_cov", True, False,
                           "Mellor et al. v1: -sum(log(v+k) + 1/(v+k)), v eigenvalues of the input-Jacobian correlations"),
    "snip": ProxyInfo("saliency", True, True, "Lee et al. 2019 / Abdelfattah et al. 2021: sum |g * w| of conv/linear weights"),
    "grad_norm": ProxyInfo("saliency", True, True, "Abdelfattah et al. 2021: sum over conv/linear layers of ||g||_2"),
    "fisher": ProxyInfo("saliency", True, True,
                        "Turner et al. 2020 / Abdelfattah et al. 2021: sum over conv/linear outputs of 0.5 mean_n (sum_hw a*g)^2"),
    "plain": ProxyInfo("saliency", True, True, "Abdelfattah et al. 2021 (NASLib): sum g * w of conv/linear weights"),
    "l2_norm": ProxyInfo("saliency", True, True, "Abdelfattah et al. 2021 (NASLib): sum over conv/linear layers of "
                         "||w||_F at PyTorch's default init (the layers the network runs)"),
    "grasp": ProxyInfo("grasp", True, True, "Wang et al. 2020 / Abdelfattah et al. 2021: sum -w * (H g), H the "
                       "Hessian of the loss over conv/linear weights, g its gradient"),
    "epe_nas": ProxyInfo("jacob_cov", True, True, "Lopes et al. 2021: per image class, sum log(|corr| + k) of the "
                         "input-Jacobian correlations; summed over classes"),
    "zen": ProxyInfo("zen", False, False, "Lin et al. 2021 (NASLib): log sum|f(x) - f(x + 0.01 x')| over the pre-pooling "
                     "map + sum of log sqrt(mean BN running variance), N(0,1) weights, Gaussian inputs"),
    "params": ProxyInfo("analytic", False, False, "parameters of the benchmark's classifier (the space's analytic "
                        "count, else counted on the network: generic.count_active)"),
    "flops": ProxyInfo("analytic", False, False, "FLOPs of the benchmark's classifier (NB201: conv/linear MACs + "
                       "pooling; elsewhere the space's conv MACs + the linear layer's)"),
}

BASELINES = tuple(PROXIES)
ALL_PROXIES = ("eproxy",) + BASELINES


# what the generic classifier (`generic.FeatureClassifier`: a space's feature module, pooling,
# linear) supports; naswot, fisher and zen need per-ReLU / per-conv / per-BatchNorm probes only
# hand-built classifiers have
GENERIC = ("synflow", "jacob_cov", "snip", "grad_norm", "plain", "l2_norm", "grasp", "epe_nas", "params", "flops")


def supported(space) -> tuple:
    """The peer proxies that run on `space`: all of them where it has a hand-built classifier
    (`Space.classifier`, NB201), else `GENERIC`."""
    return BASELINES if space.has_classifier else GENERIC


class ProxyNameError(ValueError):
    """An unknown proxy name (one-line message)."""


class BaselineError(ValueError):
    """The baselines cannot run as asked, e.g. no labels for snip (one-line message)."""


def parse_names(spec: str) -> list:
    """`"eproxy,naswot"` -> ["eproxy", "naswot"] (order kept, duplicates dropped, 'all' = every proxy)."""
    names = []
    for raw in spec.split(","):
        name = raw.strip().lower()
        if not name:
            continue
        if name == "all":
            names.extend(ALL_PROXIES)
            continue
        if name not in ALL_PROXIES:
            raise ProxyNameError(f"unknown proxy {name!r} (available: {', '.join(ALL_PROXIES)})")
        names.append(name)
    out = list(dict.fromkeys(names))
    if not out:
        raise ProxyNameError("--proxies is empty")
    return out
