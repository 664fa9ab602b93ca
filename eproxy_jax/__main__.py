import sys

from . import runguard

runguard.install()   # before anything slow: a signal from here on ends the run with one line
try:
    from .cli import main
    code = main()
except runguard.Interrupted as e:   # while the CLI loads, or between main's return and exit
    print(runguard.stopped_line("eproxy", e), file=sys.stderr)
    code = e.exit_code
sys.exit(code)
