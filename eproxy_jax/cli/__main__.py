"""`python -m eproxy_jax.cli`: the `eproxy` command (as `python -m eproxy_jax`)."""
import sys

from . import main

sys.exit(main())
