"""`eproxy` command line.

    eproxy score SPACE [--dataset NAME] [--truth FILE] [--limit N] [--sample-seed S]
                 [--seeds K] [--setting NAME|FILE.json|JSON] [--images SPEC] [--chunk N]
                 [--archs FILE] [--lower-is-better] [--out PATH] [--json] ...
    eproxy settings [--json]

User mistakes exit 2 with one line on stderr. Everything that can be checked without jax
is checked before jax (or tensorflow) is imported, so no import-time log line comes first.

Layout, imports flowing one way: `args` (argument types, UsageError) <- `common` (argument
groups, checks, run identity, set-up shared by commands) <- one module per command (`score`,
`dps`, `compare`, `search`, `bench`, `merge`, `settings`, `draw`, each with `add_parser(sub)`
and `run(args)`) <- `parser` (`build_parser`) <- `dispatch` (`main`).
"""
from .args import EXIT_USAGE, ArgError, UsageError
from .common import check_out_file, checkout_env, default_results_path, draw_limit, score_meta, truth_identity
from .dispatch import main

__all__ = ["main", "EXIT_USAGE", "ArgError", "UsageError", "check_out_file", "checkout_env", "default_results_path",
           "draw_limit", "score_meta", "truth_identity"]
