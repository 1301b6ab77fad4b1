"""``spotidance eda``: the summary it leads with, the warnings where data are not comparable, key and mode."""

from __future__ import annotations

import numpy as np
import pytest

from spotidance.core.errors import SpotidanceError
from spotidance.eda import camelot, category_name, feature_title, format_value
from spotidance.eda import run as eda
from tests.helpers.eda_data import playlist, ranking_rows, three_genres, write_csv


def two_playlists(tmp_path, *, n: int = 40, seed: int = 1, a_extra=None, b_extra=None):
    """Two labels (techno louder-instrumental, edm not) as CSVs; ``*_extra`` edit the columns before writing."""
    rng = np.random.default_rng(seed)
    a = playlist(rng, n, shift={"instrumentalness": 0.3})
    b = playlist(rng, n, shift={"instrumentalness": -0.3})
    for columns, extra in ((a, a_extra), (b, b_extra)):
        columns["instrumentalness"] = list(np.clip(columns["instrumentalness"], 0, 1))
        if extra:
            extra(columns)
    return write_csv(tmp_path / "techno.csv", a), write_csv(tmp_path / "edm.csv", b)


# ------------------------------------------------------------------------------------ warnings


def test_a_0_1_feature_on_a_0_100_scale_in_one_input_is_warned_and_not_compared(tmp_path):
    def percent(columns):
        columns["energy"] = [round(v * 100, 2) for v in columns["energy"]]

    paths = two_playlists(tmp_path, b_extra=percent)
    result = eda.run_report(paths, out_dir=tmp_path / "out", figures=False)
    scale = [w for w in result.warnings if w.kind == "scale"]
    assert [w.feature for w in scale] == ["energy"] and "edm.csv" in scale[0].message
    row = result.comparison.set_index("feature").loc["energy"]
    assert not row["ranked"] and row["test"] == "none" and "scales" in row["note"]
    assert "energy" not in result.ranking["feature"].tolist()
    assert "energy" not in result.separability.features
    assert result.answer[-1].startswith("Read with care: 1 warning")
    text = eda.format_ranking(result)
    assert "warning: energy is a 0-1 feature but reaches" in text.replace("\n  ", " ")
    assert 'class="warn"' in result.report.read_text(encoding="utf-8")


def test_values_just_above_1_are_not_a_scale_mismatch(tmp_path):
    def nudge(columns):
        columns["energy"][0] = 1.02  # noise, not percentages

    result = eda.run_report(two_playlists(tmp_path, b_extra=nudge), out_dir=tmp_path / "out", figures=False)
    assert result.warnings == [] and "energy" in result.ranking["feature"].tolist()


def _with_sources(sources: list[str]):
    def edit(columns):
        n = len(columns["tempo"])
        columns["features_source"] = [sources[i % len(sources)] for i in range(n)]
        for i in range(n):  # locally computed rows: no danceability, louder energy
            if columns["features_source"][i] == "local":
                columns["danceability"][i] = ""
                columns["energy"][i] = round(columns["energy"][i] + 0.2, 4)

    return edit


def test_different_feature_source_mixes_compare_one_source_and_say_which(tmp_path):
    paths = two_playlists(tmp_path, a_extra=_with_sources(["spotify"]), b_extra=_with_sources(["spotify", "local"]))
    result = eda.run_report(paths, out_dir=tmp_path / "out", figures=False)
    [warning] = [w for w in result.warnings if w.kind == "sources"]
    assert "only the 60 tracks whose features came from spotify are compared" in warning.message
    assert "edm: spotify 50%, local 50%" in warning.message
    counts = result.counts.set_index("label")
    assert (counts.loc["techno", "rows"], counts.loc["edm", "rows"]) == (40, 20)
    assert counts.loc["edm", "features_source"] == "spotify 100%"
    assert result.separability.rows == 60
    # pooled on request: every row, still warned
    pooled = eda.run_report(paths, out_dir=tmp_path / "pooled", figures=False, features_source="all")
    assert pooled.counts.set_index("label").loc["edm", "rows"] == 40
    assert [w.kind for w in pooled.warnings] == ["sources"] and "pooled" in pooled.warnings[0].message
    # one named source that a label lacks: one line, nothing written
    with pytest.raises(SpotidanceError, match="label 'techno' has 0 rows with features_source 'local'") as info:
        eda.run_report(paths, out_dir=tmp_path / "none", features_source="local")
    assert "\n" not in str(info.value) and not (tmp_path / "none").exists()


def test_the_same_source_mix_in_every_label_is_not_warned(tmp_path):
    paths = two_playlists(tmp_path, a_extra=_with_sources(["spotify", "reccobeats"]),
                          b_extra=_with_sources(["spotify", "reccobeats"]))  # fmt: skip
    result = eda.run_report(paths, out_dir=tmp_path / "out", figures=False)
    assert result.warnings == [] and result.counts["rows"].sum() == 80


def test_a_feature_missing_for_a_whole_label_is_warned_and_not_compared(tmp_path):
    def no_valence(columns):
        columns["valence"] = [""] * len(columns["valence"])

    result = eda.run_report(two_playlists(tmp_path, b_extra=no_valence), out_dir=tmp_path / "out", figures=False)
    [warning] = result.warnings
    assert (warning.kind, warning.feature) == ("missing", "valence") and "no values for edm" in warning.message
    row = result.comparison.set_index("feature").loc["valence"]
    assert not row["ranked"] and row["note"] == "no values for a whole label"
    assert "valence" not in result.separability.features


# ------------------------------------------------------------------------------------ key, mode


def test_key_and_mode_are_categories_with_names_and_no_means(tmp_path):
    def keys(minor_share: float, key: int):
        def edit(columns):
            n = len(columns["tempo"])
            columns["key"] = [key if i % 3 else (key + 5) % 12 for i in range(n)]
            columns["key"][0] = -1  # Spotify: no key detected
            columns["mode"] = [0 if i < minor_share * n else 1 for i in range(n)]
        return edit

    paths = two_playlists(tmp_path, a_extra=keys(0.9, 9), b_extra=keys(0.2, 7))
    result = eda.run_report(paths, out_dir=tmp_path / "out")
    table = result.comparison.set_index("feature")
    for feature in ("key", "mode"):
        assert table.loc[feature, "test"] == "chi-square" and table.loc[feature, "effect"] == "Cramer's V"
        assert np.isnan(table.loc[feature, "mean techno"]) and table.loc[feature, "highest"] == ""
    assert table.loc["key", "typical techno"] == "A (67%)" and table.loc["key", "typical edm"] == "G (67%)"
    assert table.loc["mode", "typical techno"] == "minor (90%)" and table.loc["mode", "typical edm"] == "major (80%)"
    assert result.summary.loc[("techno", "key"), "count"] == 39  # -1 is missing, not a key
    assert eda.read_labelled_csvs(paths).quality.set_index(["label", "feature"]).loc[("techno", "key"), "missing"] == 1
    text = eda.format_ranking(result)
    rows = {row[1]: row for row in ranking_rows(text)}
    assert rows["mode"][2:4] == ["Cramer's", "V"] and "minor" in rows["mode"]
    html_text = result.report.read_text(encoding="utf-8")
    assert "A minor (8A)" in html_text and "G major (9B)" in html_text  # the key table with Camelot codes
    assert "mean" not in " ".join(rows["key"])


def test_names_units_and_camelot():
    assert [category_name("key", k) for k in (0, 1, 9, 11)] == ["C", "C♯/D♭", "A", "B"]
    assert category_name("mode", 0) == "minor" and category_name("mode", 1.0) == "major"
    # the Camelot wheel: C major 8B, A minor 8A, G major 9B, E minor 9A, F minor 4A, B major 1B
    assert [camelot(0, 1), camelot(9, 0), camelot(7, 1), camelot(4, 0), camelot(5, 0), camelot(11, 1)] == \
        ["8B", "8A", "9B", "9A", "4A", "1B"]  # fmt: skip
    assert format_value("tempo", 124.04) == "124.0 BPM" and format_value("loudness", -9.71) == "−9.7 dB"
    assert format_value("duration_ms", 396774) == "6.6 min" and format_value("energy", 0.6849) == "0.68"
    assert feature_title("duration_ms") == "duration (min)" and feature_title("energy") == "energy"


def test_median_ties_are_not_given_to_the_first_label(tmp_path):
    def signature(threes: int):
        def edit(columns):
            columns["time_signature"] = [3 if i < threes else 4 for i in range(len(columns["tempo"]))]
        return edit

    result = eda.run_report(two_playlists(tmp_path, a_extra=signature(6), b_extra=signature(1)), out_dir=tmp_path / "o",
                            figures=False)  # fmt: skip
    row = result.comparison.set_index("feature").loc["time_signature"]
    assert row["highest"] == "techno = edm" and row["delta"] < 0
    assert row["note"].endswith("same median, edm higher by rank")


# ------------------------------------------------------------------------------------ the summary


def test_summary_on_the_seed_playlists(shared_dir, tmp_path):
    seed = shared_dir / "data" / "seed-spotify-playlists"
    result = eda.run_report([seed / "techno.csv", seed / "edm.csv"], out_dir=tmp_path / "out", figures=False)
    sep = result.separability
    # The issue measured 95.3 % with key as a number 0-11; as categories (one-hot) it is 95.0 %.
    assert sep.accuracy == pytest.approx(0.950, abs=0.004) and sep.spread < 0.02 and len(sep.folds) == 5
    assert len(sep.features) == 12 and "duration_ms" not in sep.features
    assert sep.chance == pytest.approx(929 / 1807) and sep.rows == 1807
    assert sep.top == ["loudness", "instrumentalness"] and sep.top_accuracy == pytest.approx(0.918, abs=0.003)
    first, *rest = result.answer
    assert first.startswith("Techno and edm are clearly separable") and "95.0% of the 1,807 tracks" in first
    assert rest[0] == "What differs most:"
    assert rest[1] == "- loudness: higher in edm (median −4.5 dB vs −9.5 dB in techno, 5.1 dB more; |Cliff's δ| 0.91)"
    assert rest[2].startswith("- instrumentalness: higher in techno (median 0.86 vs 0.01 in edm")
    assert result.warnings == []
    assert eda.format_ranking(result).startswith("Techno and edm are clearly separable")


def test_summary_of_three_labels(tmp_path):
    result = eda.run_report(three_genres(tmp_path), out_dir=tmp_path / "out", figures=False)
    sep = result.separability
    assert sep.chance == pytest.approx(1 / 3) and sep.rows == 180
    assert 0.75 < sep.accuracy < 1.0  # dnb is apart by tempo; techno and edm overlap
    tempo = result.ranking.iloc[0]
    assert tempo["feature"] == "tempo" and tempo["highest"] == "dnb"
    assert result.answer[0].startswith("The 3 labels (techno, edm, dnb) are")
    assert result.answer[2].startswith("- tempo: highest in dnb (median 175.1 BPM), lowest in techno (125.1 BPM; ε² 0.")
    # random keys: not named, whatever their effect size, since the difference could be chance
    assert result.comparison.set_index("feature").loc["key", "p_holm"] > 0.05
    assert not any(line.startswith("- key") for line in result.answer)


def test_no_comparable_feature_still_gives_a_summary(tmp_path):
    a = write_csv(tmp_path / "a.csv", {"tempo": [120, 121, 122], "duration_ms": [1, 2, 3]})
    b = write_csv(tmp_path / "b.csv", {"tempo": [120, 121, 122], "duration_ms": [4, 5, 6]})
    result = eda.run_report([a, b], out_dir=tmp_path / "out", figures=False)
    assert result.separability is not None and result.separability.features == ["tempo"]
    assert result.answer[1].startswith("No feature differs")
