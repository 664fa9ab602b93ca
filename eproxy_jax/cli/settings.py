"""`eproxy settings`: the named proxy settings (for `--setting NAME`) and each space's default."""
from __future__ import annotations

import json


def add_parser(sub):
    t = sub.add_parser("settings", help="list the named proxy settings (for --setting NAME) and each space's default")
    t.add_argument("--json", action="store_true", help="print one JSON object: every setting resolved in full")
    return t


def run(args) -> int:
    """`eproxy settings`: every named setting (name, description) and the spaces it is the
    default of; `--json`: each resolved in full, with its origin."""
    from .. import setting_spec
    import spaces

    named = setting_spec.named_settings()
    defaults = {sp: setting_spec.space_default(sp) for sp in sorted(spaces.REGISTRY)}
    width = max(map(len, named))
    for name, f in named.items():
        print(f"{name:<{width}}  {f['description']}")
    for name in named:
        users = [sp for sp, n in defaults.items() if n == name]
        if users:
            print(f"{name} is the default setting of: {', '.join(users)}")
    if args.json:
        rows = [{"name": n, "description": f["description"], "origin": f["origin"],
                 "setting": setting_spec.validate(f["setting"])} for n, f in named.items()]
        print(json.dumps({"settings": rows, "space_defaults": defaults}))
    return 0
