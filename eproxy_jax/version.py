"""The package version and the scoring version, each written once.

`SCORING_VERSION` names the numerics of a score: bump it whenever a code change moves any
architecture's score (the golden-score tests notice such a change). It is part of every
results file's run identity, so a resume never mixes scores of two scoring versions.
"""
__version__ = "0.1.0"
SCORING_VERSION = 10
