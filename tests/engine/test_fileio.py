"""Bounded reading of files a user can hand us: regular files only, size-capped, errors that name the file."""

from __future__ import annotations

import os
import sys

import pytest

from engine.errors import BundleError, FacetError
from engine.fileio import check_regular_file, load_json_bounded, parse_json, read_regular_file
from tests.robustness.hostile_files import guarded

posix_only = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs (POSIX)")


def test_reads_a_regular_file(tmp_path) -> None:
    p = tmp_path / "a.json"
    p.write_text('{"a": [1, 2]}', encoding="utf-8")
    assert read_regular_file(p, 100) == b'{"a": [1, 2]}'
    assert load_json_bounded(p, 100) == {"a": [1, 2]}


def test_refuses_a_file_over_the_cap_naming_it(tmp_path) -> None:
    p = tmp_path / "big.json"
    p.write_bytes(b" " * 2000)
    with pytest.raises(BundleError, match="big.json.*more than"):
        read_regular_file(p, 1000, "manifest", BundleError)


def test_missing_file_and_folder(tmp_path) -> None:
    with pytest.raises(FacetError, match="does not exist"):
        read_regular_file(tmp_path / "nope", 10)
    with pytest.raises(FacetError, match="a folder"):
        read_regular_file(tmp_path, 10)


@posix_only
def test_fifo_is_refused_without_blocking(tmp_path) -> None:
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    with pytest.raises(FacetError, match="FIFO"):
        guarded(load_json_bounded, fifo, 1000)


@pytest.mark.skipif(not os.path.exists("/dev/zero") or sys.platform == "win32", reason="needs /dev/zero")
def test_symlink_to_a_device_is_refused(tmp_path) -> None:
    link = tmp_path / "manifest.json"
    link.symlink_to("/dev/zero")
    with pytest.raises(FacetError, match="character device"):
        guarded(read_regular_file, link, 1000)


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs /proc")
def test_a_file_that_reports_no_size_is_still_capped() -> None:
    with pytest.raises(FacetError, match="more than"):
        read_regular_file("/proc/self/status", 10)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ("{not json", "not valid JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
    ],
)
def test_parse_errors_are_one_line_facet_errors(text, match) -> None:
    with pytest.raises(FacetError, match=match) as info:
        parse_json(text, "deep.json", "code file")
    assert "deep.json" in str(info.value) and "\n" not in str(info.value)


def test_check_regular_file_returns_the_stat(tmp_path) -> None:
    p = tmp_path / "x"
    p.write_bytes(b"abc")
    assert check_regular_file(p, 3).st_size == 3


def test_nesting_deeper_than_the_limit_is_refused() -> None:
    assert parse_json("[[[1]]]", "x") == [[[1]]]
    with pytest.raises(FacetError, match="nested too deeply"):
        parse_json("[" * 200 + "]" * 200, "x.json")
    with pytest.raises(FacetError, match="nested too deeply"):
        parse_json('{"a": ' * 10 + "1" + "}" * 10, "x.json", max_depth=5)
