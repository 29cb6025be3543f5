"""CelebA label parsing: the official text format, CSV in both value conventions, partitions, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from engine.data import read_attribute_csv, read_attribute_file, read_partition
from engine.errors import DatasetError

GOOD = """3
Smiling  Eyeglasses Blond_Hair
000001.jpg  1 -1 -1
000002.jpg -1  1 -1
000003.jpg  1  1  1

"""


def write(tmp_path, text, name="list_attr_celeba.txt"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_reads_official_format_with_extra_spaces(tmp_path):
    table = read_attribute_file(write(tmp_path, GOOD))
    assert table.files == ["000001.jpg", "000002.jpg", "000003.jpg"]
    assert table.names == ["Smiling", "Eyeglasses", "Blond_Hair"]
    assert table.values.dtype == np.int8
    np.testing.assert_array_equal(table.values, [[1, -1, -1], [-1, 1, -1], [1, 1, 1]])


def test_select_reorders_and_refuses_unknown_names(tmp_path):
    table = read_attribute_file(write(tmp_path, GOOD))
    sub = table.select(["Blond_Hair", "Smiling"])
    assert sub.names == ["Blond_Hair", "Smiling"]
    np.testing.assert_array_equal(sub.values[:, 0], [-1, -1, 1])
    with pytest.raises(DatasetError, match="Male.*known: Smiling, Eyeglasses, Blond_Hair"):
        table.select(["Smiling", "Male"])


def test_zero_is_read_as_absent(tmp_path):
    table = read_attribute_file(write(tmp_path, "1\nA B\nx.jpg 0 1\n"))
    np.testing.assert_array_equal(table.values, [[-1, 1]])


@pytest.mark.parametrize(
    ("text", "line", "what"),
    [
        ("4\nA B\nx.jpg 1 -1\ny.jpg 1 1\n", 1, "header says 4 rows but the file has 2"),
        ("2\nA B\nx.jpg 1 -1\ny.jpg 1\n", 4, "got 2 columns"),
        ("2\nA B\nx.jpg 1 -1 1\ny.jpg 1 1\n", 3, "got 4 columns"),
        ("2\nA B\nx.jpg 1 2\ny.jpg 1 1\n", 3, "'2' for B"),
        ("2\nA B\nx.jpg 1 yes\ny.jpg 1 1\n", 3, "'yes' for B"),
        ("2\nA B\nx.jpg 1 1\nx.jpg 1 -1\n", 4, "duplicate file name 'x.jpg'"),
        ("1\nA A\nx.jpg 1 1\n", 2, "duplicate attribute name 'A'"),
        ("two\nA B\nx.jpg 1 1\n", 1, "number of rows"),
    ],
)
def test_malformed_files_name_file_and_line(tmp_path, text, line, what):
    path = write(tmp_path, text)
    with pytest.raises(DatasetError) as err:
        read_attribute_file(path)
    assert str(path) in str(err.value)
    assert f"line {line}:" in str(err.value)
    assert what in str(err.value)


def test_missing_file_is_a_dataset_error(tmp_path):
    with pytest.raises(DatasetError, match="no such label file"):
        read_attribute_file(tmp_path / "nope.txt")


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ("a.jpg,1,0\nb.jpg,0,1\n", [[1, -1], [-1, 1]]),
        ("a.jpg,1,-1\nb.jpg,-1,1\n", [[1, -1], [-1, 1]]),
    ],
)
def test_csv_both_value_conventions(tmp_path, rows, expected):
    table = read_attribute_csv(write(tmp_path, "file,Smiling,Bangs\n" + rows, "labels.csv"))
    assert table.files == ["a.jpg", "b.jpg"]
    assert table.names == ["Smiling", "Bangs"]
    np.testing.assert_array_equal(table.values, expected)


@pytest.mark.parametrize(
    ("rows", "line", "what"),
    [
        ("a.jpg,1,0\nb.jpg,0\n", 3, "expected 3 columns, got 2"),
        ("a.jpg,1,0\nb.jpg,0,2\n", 3, "'2' for Bangs"),
        ("a.jpg,1,0\na.jpg,0,1\n", 3, "duplicate file name"),
    ],
)
def test_csv_malformed(tmp_path, rows, line, what):
    path = write(tmp_path, "file,Smiling,Bangs\n" + rows, "labels.csv")
    with pytest.raises(DatasetError, match=f"line {line}: .*{what}"):
        read_attribute_csv(path)


def test_partition(tmp_path):
    parts = read_partition(write(tmp_path, "a.jpg 0\nb.jpg 1\n\nc.jpg  2\n", "list_eval_partition.txt"))
    assert parts == {"a.jpg": 0, "b.jpg": 1, "c.jpg": 2}
    with pytest.raises(DatasetError, match="line 2: partition '3'"):
        read_partition(write(tmp_path, "a.jpg 0\nb.jpg 3\n", "p2.txt"))
    with pytest.raises(DatasetError, match="line 2: duplicate"):
        read_partition(write(tmp_path, "a.jpg 0\na.jpg 1\n", "p3.txt"))
