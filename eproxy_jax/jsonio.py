"""Reading JSON a user gave (files, inline text, architecture strings): every way it can fail
turned into one line naming what was read. A bottom-layer module (no jax, no `spaces`): the
spaces, the setting reader and the results store raise their own error class through `error`."""
from __future__ import annotations

import gzip
import json
from pathlib import Path


def json_problem(e: Exception) -> str:
    """Why a JSON text could not be read, in a few words a user can act on."""
    if isinstance(e, RecursionError):
        return "nested too deeply"
    if isinstance(e, json.JSONDecodeError):
        return str(e)
    if "integer string conversion" in str(e):   # Python's int-string limit (4,300 digits)
        return "a number has too many digits"
    return str(e).splitlines()[0] if str(e) else type(e).__name__


def loads_json(text: str, what: str, error=ValueError) -> object:
    """`json.loads`, every way it can fail (syntax, nesting too deep for the parser, a number
    past Python's int-string limit) turned into one `error` line naming `what`."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as e:
        raise error(f"{what} is not valid JSON: {json_problem(e)}") from None


def loads_arch(text: str, what: str, error=ValueError) -> object:
    """An architecture string read as JSON (NB101 `[matrix, ops]`, NDS and NB-MR records): its
    value, or one `error` line `what: 'text...' (why)` quoting the start of the text."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as e:
        raise error(f"{what}: {text[:80]!r} ({json_problem(e)})") from None


def read_json(path, error=ValueError) -> object:
    """Read a `.json` or `.json.gz` file, turning I/O and syntax problems into one `error` line."""
    path = Path(path)
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt") as f:
            text = f.read()
    except FileNotFoundError:
        raise error(f"file not found: {path}") from None
    except (OSError, UnicodeDecodeError, EOFError) as e:
        raise error(f"{path} is not valid JSON: {e}") from None
    return loads_json(text, str(path), error)


def arch_from_text(text: str, error=ValueError):
    """An architecture given as text (command line, results file): its JSON value, or the
    string itself where it is not JSON (NB201 and TransNAS strings)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text
    except (ValueError, RecursionError) as e:   # JSON, but too deep or too long a number
        raise error(f"architecture {text[:40]!r}...: {json_problem(e)}") from None
