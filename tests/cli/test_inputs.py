"""Hostile inputs: each is refused with exit 2 and one stderr line naming the entry or file,
at the shared reading point (spaces.base: read_json / loads_json / arch_from_text /
encode_table; images._read), before anything compiles."""
import json
import struct
import zlib

import numpy as np
import pytest

from conftest import TINY_CLI
from eproxy_jax import cli
from spaces import SpaceError, load_space

A = ["|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
     "|avg_pool_3x3~0|+|none~0|skip_connect~1|+|nor_conv_1x1~0|none~1|avg_pool_3x3~2|",
     "|nor_conv_1x1~0|+|skip_connect~0|nor_conv_1x1~1|+|nor_conv_3x3~0|avg_pool_3x3~1|skip_connect~2|"]
DEEP = "[" * 100_000


def run(argv, capsys):
    rc = cli.main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    return rc, err


def truth_file(tmp_path, text, name="t.json"):
    f = tmp_path / name
    f.write_text(text)
    return str(f)


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e999", "1" + "0" * 400])
def test_non_finite_truth_is_refused_naming_the_record(tmp_path, capsys, value):
    f = truth_file(tmp_path, f'[["{A[0]}", 70.0], ["{A[1]}", {value}], ["{A[2]}", 60.0]]')
    rc, err = run(["score", "nb201", "--truth", f, *TINY_CLI], capsys)
    assert rc == 2 and len(err) == 1, err
    assert "record #1" in err[0] and A[1] in err[0] and "non-finite" in err[0], err


def test_non_finite_in_a_space_layout_is_refused(tmp_path):
    # NASLib's NB301 dict goes through the same check (encode_table)
    table = load_space("nb301").load_truth("cifar10")
    arch = load_space("nb301").arch_id(table[0][0])
    f = truth_file(tmp_path, json.dumps({"nasbench301": {"cifar10": {arch: {"val_accuracy": float("nan")}}}}))
    with pytest.raises(SpaceError, match="record #0 .*non-finite"):
        load_space("nb301").load_truth(None, f)


def test_conflicting_duplicates_are_refused_naming_the_architecture(tmp_path, capsys):
    f = truth_file(tmp_path, json.dumps([[A[0], 70.0], [A[1], 50.0], [A[0], 71.0]]))
    rc, err = run(["score", "nb201", "--truth", f, *TINY_CLI], capsys)
    assert rc == 2 and len(err) == 1, err
    assert A[0] in err[0] and "different values" in err[0] and "#0: 70.0" in err[0] and "#2: 71.0" in err[0], err


def test_exact_duplicates_are_kept_once_with_a_note(tmp_path, capsys):
    # the same cell spelled twice (NB201 strings are canonical) with the same value
    f = truth_file(tmp_path, json.dumps([[A[0], 70.0], [A[1], 50.0], [A[0], 70.0], [A[2], 60.0], [A[1], 50.0]]))
    sp = load_space("nb201")
    encs, vals = sp.load_truth(None, f)
    err = capsys.readouterr().err
    assert [sp.arch_id(e) for e in encs] == A and vals.tolist() == [70.0, 50.0, 60.0]
    assert "2 exact duplicate record(s) dropped" in err and "record #2" in err


def test_limit_above_the_table_says_so(capsys):
    encs, truth = np.arange(5)[:, None], np.arange(5.0)
    e, t = cli.draw_limit(encs, truth, 9, 0)
    assert len(e) == 5 and "--limit 9 exceeds the 5 architectures" in capsys.readouterr().err
    cli.draw_limit(encs, truth, 5, 0)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("flag", ["--truth", "--archs", "--setting"])
def test_deep_json_files_are_refused(tmp_path, capsys, flag):
    f = truth_file(tmp_path, DEEP)
    rc, err = run(["score", "nb201", flag, f, *TINY_CLI], capsys)
    assert rc == 2 and len(err) == 1 and "nested too deeply" in err[0] and "t.json" in err[0], err


def test_deep_json_inline_setting_and_draw_are_refused(tmp_path, capsys):
    rc, err = run(["score", "nb201", "--setting", '{"a":' * 100_000 + "1" + "}" * 100_000], capsys)
    assert rc == 2 and len(err) == 1 and "inline setting" in err[0] and "nested too deeply" in err[0], err
    for space in ("nb201", "nb101", "nds-darts"):
        rc, err = run(["draw", space, DEEP, "--out", str(tmp_path / "x.png")], capsys)
        assert rc == 2 and len(err) == 1 and "nested too deeply" in err[0], (space, err)


def test_deep_json_inside_a_record_string_is_refused():
    for space in ("nb101", "nds-darts", "nbmr"):
        with pytest.raises(SpaceError, match="nested too deeply"):
            load_space(space).parse(DEEP)


def test_huge_integer_in_truth_is_refused(tmp_path, capsys):
    f = truth_file(tmp_path, f'[["{A[0]}", {"7" * 5000}]]')
    rc, err = run(["score", "nb201", "--truth", f, *TINY_CLI], capsys)
    assert rc == 2 and len(err) == 1 and "too many digits" in err[0] and "t.json" in err[0], err


def _png_header_only(path, width, height):
    """A PNG whose header claims width x height (no pixel data: Pillow refuses it on open)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))


def test_decompression_bomb_image_is_refused(tmp_path, capsys):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(16):
        _png_header_only(folder / f"big{i:02d}.png", 20000, 20000)
    rc, err = run(["score", "nb201", "--limit", "2", "--images", str(folder), *TINY_CLI], capsys)
    assert rc == 2 and len(err) == 1 and "big00.png" in err[0] and "pixels" in err[0], err


@pytest.mark.parametrize("text", ["{[1]: 2}", "{{1}: 2}", "[" * 10_000])
def test_nb301_bad_literals_are_refused(text, tmp_path, capsys):
    with pytest.raises(SpaceError):
        load_space("nb301").parse(text)
    rc, err = run(["draw", "nb301", text, "--out", str(tmp_path / "x.png")], capsys)
    assert rc == 2 and len(err) == 1, err


def test_a_program_past_the_free_memory_is_refused_before_it_runs(tmp_path, capsys, monkeypatch):
    from conftest import TINY_SETTING
    from eproxy_jax import memory
    import jax
    assert memory.available_bytes(jax.local_devices()[0]) > 2 ** 20          # /proc/meminfo read
    monkeypatch.setattr(memory, "available_bytes", lambda device: 4096)
    f = truth_file(tmp_path, json.dumps([[a, 50.0 + i] for i, a in enumerate(A)]))
    s = truth_file(tmp_path, json.dumps(TINY_SETTING), "s.json")
    out = tmp_path / "r.csv"
    rc, err = run(["score", "nb201", "--truth", f, "--setting", s, "--chunk", "2", *TINY_CLI, "--quiet",
                   "--out", str(out)], capsys)
    assert rc == 2 and len(err) == 1, err
    assert "GiB (XLA's estimate" in err[0] and "0.00 GiB is available on cpu" in err[0] and "--chunk 2" in err[0], err
    rows = out.read_text().splitlines() if out.exists() else []
    assert not [ln for ln in rows if ln and not ln.startswith(("#", "arch"))]      # nothing scored
