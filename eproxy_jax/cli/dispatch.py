"""`eproxy`'s entry point: parse, run the command's module, and turn user mistakes into one
line on stderr and exit 2 (argparse errors, the checks, the core's user-facing errors, a file
that cannot be read or written); a signal ends the run with one line (`runguard`)."""
from __future__ import annotations

import sys

from .. import runguard
from . import bench, compare, completion, dps, draw, merge, score, search, settings
from .args import EXIT_USAGE, ArgError, UsageError
from .parser import build_parser

# command name -> its run(args) -> exit status (each validates what needs no jax first)
COMMANDS = {
    "score": score.run, "dps": dps.run, "compare": compare.run, "search": search.run,
    "bench": bench.run, "merge": merge.run, "settings": settings.run, "draw": draw.run,
    "completion": lambda args: completion.run(args, build_parser()),
}


def main(argv=None) -> int:
    saved = runguard.install()   # first: a signal at any later moment ends the run with one line
    ctx = {"prog": "eproxy"}   # error lines start with the command, as argparse's own do
    try:
        code = _dispatch(argv, ctx)
        runguard.check()
        return code
    except runguard.Interrupted as e:
        print(runguard.stopped_line(ctx["prog"], e), file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:   # handlers could not be installed (not the main thread)
        print("eproxy: interrupted; finished results are kept, rerun the same command to resume", file=sys.stderr)
        return 130
    finally:
        runguard.restore(saved)


def _dispatch(argv, ctx) -> int:
    parser = build_parser()
    prog = ctx["prog"]
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            raise UsageError("missing command (try: eproxy score nb201 --limit 200)")
        prog = ctx["prog"] = f"eproxy {args.command}"
        return COMMANDS[args.command](args)
    except UsageError as e:
        line = str(e).splitlines()[0]
        print(line if isinstance(e, ArgError) else f"{prog}: {line}", file=sys.stderr)
        return EXIT_USAGE
    except ValueError as e:
        # SpaceError, SettingError, ImageError, StoreError: user-facing, one line
        from ..baselines import BaselineError, ProxyNameError
        from ..images import ImageError
        from ..memory import MemoryNeedError
        from ..setting_spec import SettingError
        from ..store import StoreError
        from spaces import SpaceError
        if isinstance(e, (SpaceError, SettingError, ImageError, StoreError, ProxyNameError, BaselineError,
                          MemoryNeedError)):
            print(f"{prog}: {str(e).splitlines()[0]}", file=sys.stderr)
            return EXIT_USAGE
        raise
    except OSError as e:
        if e.filename is None:   # not a file's problem: a bug, with its traceback
            raise
        # a file that cannot be written or read (disk full, permissions) where no writer said
        # more: one line naming it; the resumable files are kept by their writers
        print(f"{prog}: {e.filename}: {e.strerror or e}", file=sys.stderr)
        return EXIT_USAGE

