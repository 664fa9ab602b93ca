"""`eproxy completion`: the script is generated from the parser, so every command and option is
in it, and bash completes commands, options, choices, spaces and named settings with it."""
import shutil
import subprocess

import pytest

from eproxy_jax.cli import main
from eproxy_jax.cli.completion import _subparsers
from eproxy_jax.cli.parser import build_parser


@pytest.fixture(scope="module")
def bash_script(tmp_path_factory):
    from eproxy_jax.cli.completion import script
    path = tmp_path_factory.mktemp("completion") / "eproxy.bash"
    path.write_text(script(build_parser(), "bash"))
    return path


def _complete(script_path, *words) -> list:
    """What bash offers for the command line `words` (the last one being completed)."""
    line = " ".join(f"'{w}'" for w in words)
    cmd = (f"source '{script_path}'; COMP_WORDS=({line}); COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 )); "
           "COMPREPLY=(); _eproxy; printf '%s\\n' \"${COMPREPLY[@]}\"")
    r = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return [w for w in r.stdout.splitlines() if w]


needs_bash = pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")


def test_every_command_and_option_is_in_the_script(bash_script):
    text = bash_script.read_text()
    for name, p in _subparsers(build_parser()).items():
        assert f'"{name} "*)' in text, name
        for a in p._actions:
            for o in a.option_strings:
                if o.startswith("--"):
                    assert o in text, (name, o)


@needs_bash
def test_bash_parses_it_and_completes(bash_script):
    assert subprocess.run(["bash", "-n", str(bash_script)]).returncode == 0
    assert _complete(bash_script, "eproxy", "sc") == ["score"]
    assert set(_complete(bash_script, "eproxy", "s")) == {"score", "search", "settings"}
    assert _complete(bash_script, "eproxy", "score", "--conv") == ["--conv-impl"]
    assert _complete(bash_script, "eproxy", "score", "--conv-impl", "") == ["custom", "im2col", "xla"]
    assert _complete(bash_script, "eproxy", "score", "nb2") == ["nb201"]
    assert "nds-darts" in _complete(bash_script, "eproxy", "dps", "nds-d")
    assert "default_macs" in _complete(bash_script, "eproxy", "search", "--setting", "default")
    assert _complete(bash_script, "eproxy", "bench", "--space", "transnas-m") == ["transnas-macro", "transnas-micro"]
    assert _complete(bash_script, "eproxy", "score", "--limit", "") == []          # a number: nothing offered
    assert _complete(bash_script, "eproxy", "completion", "") == ["bash", "zsh"]


def test_the_command_prints_it_and_refuses_other_shells(capsys):
    assert main(["completion", "zsh"]) == 0
    out = capsys.readouterr().out
    assert "bashcompinit" in out and "complete -o default -F _eproxy eproxy" in out
    assert main(["completion", "fish"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "invalid choice" in err[0]
