"""``core.tables``: screen-column widths, number alignment, one line per row."""

from __future__ import annotations

import numpy as np
import pytest

from spotidance.core.tables import display_width, format_table, is_number


@pytest.mark.parametrize("text, width", [
    ("", 0), ("abc", 3), ("東京", 4), ("ｔｅｃｈｎｏ", 12), ("e\u0301", 1), ("a\u200db", 2), ("ミックス.mp3", 12),
    ("Beyoncé", 7), ("한국어", 6),
])
def test_display_width_counts_screen_columns(text, width):
    assert display_width(text) == width


@pytest.mark.parametrize("value", [1, -2, 0.5, np.float32(1.5), np.int64(3), "0.25", "-3", "+1e-3", "1,234", "12%",
                                   " 7 ", "nan", "3."])
def test_numbers(value):
    assert is_number(value)


@pytest.mark.parametrize("value", [True, "", "abc", "1.2.3", "2024-01-01", "12 bpm", "-", ".", "1,23", None, "e5", ".e3"])
def test_not_numbers(value):
    assert not is_number(value)


def test_wide_characters_keep_columns_aligned():
    rows = [["東京ナイト.mp3", "techno", 0.91], ["plain.mp3", "house", 0.5], ["Ame\u0301lie.mp3", "trance", 0.333]]
    text = format_table(rows, headers=["file", "label", "p"])
    assert text.splitlines() == [
        "file            label       p",
        "--------------  ------  -----",
        "東京ナイト.mp3  techno   0.91",
        "plain.mp3       house     0.5",
        "Ame\u0301lie.mp3      trance  0.333",
    ]
    assert {display_width(line) for line in text.splitlines()} == {29}


def test_numbers_right_aligned_text_left_aligned():
    rows = [["a", 1, "0.5", "x"], ["bbbb", 100, "12.25", "yy"], ["cc", 7, "", "zzz"]]
    text = format_table(rows, headers=["name", "n", "p", "tag"])
    assert text.splitlines() == [
        "name    n      p  tag",
        "----  ---  -----  ---",
        "a       1    0.5  x",
        "bbbb  100  12.25  yy",
        "cc      7         zzz",
    ]


def test_a_column_with_any_text_is_left_aligned():
    text = format_table([["1"], ["n/a"], ["22"]], headers=["v"])
    assert text.splitlines()[2:] == ["1", "n/a", "22"]


def test_a_newline_in_a_cell_cannot_split_a_row():
    rows = [["evil\nname.mp3", "techno"], ["tab\there\r\n.mp3", "house"]]
    text = format_table(rows, headers=["file\nname", "label"])
    lines = text.splitlines()
    assert len(lines) == 4 and text.count("\n") == 3
    assert lines[0].startswith("file name") and lines[2].startswith("evil name.mp3")
    assert lines[3].startswith("tab here  .mp3")


def test_floats_are_shortened_and_no_rows_gives_header_and_rule():
    assert format_table([[0.123456, 123456.7]], headers=["a", "b"]).splitlines()[2] == "0.1235  123,457"
    assert format_table([], headers=["file", "n"]) == "file  n\n----  -"
