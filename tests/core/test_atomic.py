"""The one atomic writer every stage uses for small files."""

from __future__ import annotations

import os
import stat

import pytest

from spotidance.core.atomic import write_atomic


def test_text_and_bytes_replace_the_file_with_default_permissions(tmp_path):
    target = tmp_path / "a.csv"
    write_atomic(target, "x,y\r\n1,2\n")
    assert target.read_bytes() == b"x,y\r\n1,2\n"  # line endings untouched
    write_atomic(target, b"\x89PNG")
    assert target.read_bytes() == b"\x89PNG"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask  # readable like any file, not mkstemp's 0600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "meta.json"
    write_atomic(target, "old")

    with pytest.raises(TypeError):
        write_atomic(target, 42)  # type: ignore[arg-type]
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["meta.json"]
