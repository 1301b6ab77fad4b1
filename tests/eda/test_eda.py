"""``spotidance eda``: reading labelled and historical CSVs, tests and ranking, report, bad input, CLI."""

from __future__ import annotations

import base64
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from spotidance.core.errors import SpotidanceError
from spotidance.eda import run as eda
from tests.helpers.eda_data import FEATURES, playlist, ranking_rows, write_csv


def brute_cliffs_delta(a, b) -> float:
    a, b = np.asarray(a)[:, None], np.asarray(b)[None, :]
    return float(np.mean(a > b) - np.mean(a < b))


@pytest.mark.parametrize("separator,shift", [("danceability", 0.25), ("tempo", -8.0)])
def test_two_labels_the_separating_feature_ranks_first(tmp_path, separator, shift):
    rng = np.random.default_rng(len(separator))
    a = write_csv(tmp_path / "alpha.csv", playlist(rng, 40))
    b = write_csv(tmp_path / "beta.csv", playlist(rng, 35, shift={separator: shift}))
    result = eda.run_report([a, b], out_dir=tmp_path / "out", figures=False)
    top = result.ranking.iloc[0]
    assert top["feature"] == separator and top["test"] == "Mann-Whitney U"
    assert result.labels == ["alpha", "beta"]
    assert top["highest"] == ("beta" if shift > 0 else "alpha")
    # Cliff's delta of every feature equals the brute-force P(a > b) - P(a < b)
    frame = eda.read_labelled_csvs([a, b]).frame
    for _, row in result.ranking.iterrows():
        f = row["feature"]
        delta = brute_cliffs_delta(frame.loc[frame.label == "alpha", f], frame.loc[frame.label == "beta", f])
        assert row["effect_size"] == pytest.approx(abs(delta), abs=1e-12)
    summary = result.summary.loc[("beta", separator)]
    values = frame.loc[frame.label == "beta", separator]
    assert summary["mean"] == pytest.approx(values.mean()) and summary["q3"] == pytest.approx(values.quantile(0.75))
    text = eda.format_ranking(result)
    assert ranking_rows(text)[0][1] == separator and str(result.report) in text
    assert (tmp_path / "out" / "report.html").is_file() and (tmp_path / "out" / "ranking.csv").is_file()


def test_three_labels_from_label_columns_kruskal_and_holm_pairs(tmp_path):
    from scipy.stats import kruskal, mannwhitneyu

    rng = np.random.default_rng(7)
    paths = []
    for i, (name, shift) in enumerate([("minimal", -0.3), ("peak-time", 0.0), ("hard", 0.3)]):
        columns = playlist(rng, 25 + i, shift={"energy": shift})
        columns["label"] = [name] * len(columns["track_id"])
        columns["valence"][i] = ""  # a missing value: that feature's pairs take the unbatched path
        paths.append(write_csv(tmp_path / f"file{i}.csv", columns))
    result = eda.run_report([tmp_path], out_dir=tmp_path / "out", figures=False)
    assert result.labels == ["minimal", "peak-time", "hard"]
    top = result.ranking.iloc[0]
    assert top["feature"] == "energy" and top["test"] == "Kruskal-Wallis" and top["highest"] == "hard"
    frame = eda.read_labelled_csvs(paths).frame
    h, p = kruskal(*[frame.loc[frame.label == label, "energy"] for label in result.labels])
    assert top["effect_size"] == pytest.approx(h / (len(frame) - 1)) and top["p_value"] == pytest.approx(p)
    pairs = result.pairwise[result.pairwise.feature == "energy"]
    assert len(pairs) == 3 and (pairs["p_holm"] >= pairs["p_value"]).all()
    assert (result.pairwise["p_holm"] <= 1).all() and len(result.pairwise) == 3 * len(FEATURES)
    for row in result.pairwise.itertuples():  # the vectorised pairwise tests equal one scipy call each
        a = frame.loc[frame.label == row.label_a, row.feature].dropna()
        b = frame.loc[frame.label == row.label_b, row.feature].dropna()
        expected = mannwhitneyu(a, b)
        assert (row.U, row.p_value) == pytest.approx((expected.statistic, expected.pvalue))
        assert row.cliffs_delta == pytest.approx(brute_cliffs_delta(a, b))


def test_holm_adjustment():
    assert eda.holm([0.01, 0.04, 0.03, float("nan")])[:3] == pytest.approx([0.03, 0.06, 0.06])
    assert eda.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


def test_cramers_v_is_one_for_perfect_association_and_near_zero_for_none():
    assert eda.cramers_v(np.array([[10, 0], [0, 10]])) == pytest.approx(1.0)
    rng = np.random.default_rng(2)
    keys = rng.integers(0, 12, size=(2, 40))  # two labels, keys drawn independently of the label
    table = np.array([np.bincount(k, minlength=12) for k in keys]).T
    table = table[table.sum(axis=1) > 0]
    assert eda.cramers_v(table) < 0.2


def test_historical_layout_and_dirty_values_are_read_and_counted(tmp_path):
    ids = ["6j3HojCSc3I4gK8vb0sN7S", "3Pl9W7zSfrcoNXjTBFG5cv", "0abcdefghijklmnopqrstu"]
    header = ["", "album_date", "track_id", "track_pop", "tempo", "track_id", "energy", "key"]
    old = write_csv(tmp_path / "techno.csv", {
        "i": [0, 1, 2], "d": ["2015-04-03", "2009", "2019-02-22"], "t": ids, "p": [10, 11, 12],
        "tempo": [124.0, "n/a", 126.5], "t2": ids, "energy": [0.5, "", 0.7], "key": [7, 5, 11],
    }, header=header)  # fmt: skip
    new = write_csv(tmp_path / "edm.csv", {"tempo": [128, 127], "energy": [0.9, 0.8], "key": [1, 2]})
    data = eda.read_labelled_csvs([old, new])
    cols = list(data.frame.columns)
    assert not any(c.startswith("Unnamed") or c.endswith(".1") for c in cols)
    assert "track_popularity" in cols and "track_pop" not in cols and "track_popularity" not in data.features
    assert data.features == ["energy", "key", "tempo"]
    assert data.frame.loc[data.frame.label == "techno", "album_date"].tolist() == ["2015-04-03", "2009", "2019-02-22"]
    q = data.quality.set_index(["label", "feature"])
    assert (q.loc[("techno", "tempo"), "non_numeric"], q.loc[("techno", "tempo"), "missing"]) == (1, 0)
    assert (q.loc[("techno", "energy"), "non_numeric"], q.loc[("techno", "energy"), "missing"]) == (0, 1)
    assert data.frame.loc[data.frame.label == "techno", "tempo"].mean() == pytest.approx(125.25)


def test_one_csv_with_several_labels_in_a_chosen_column(tmp_path):
    rng = np.random.default_rng(9)
    columns = playlist(rng, 30, shift={})
    columns["class"] = ["House"] * 12 + ["Trance"] * 18
    columns["energy"] = [v + (0.5 if c == "Trance" else 0.0) for v, c in zip(columns["energy"], columns["class"])]
    path = write_csv(tmp_path / "subgenres.csv", columns)
    data = eda.read_labelled_csvs([path], label_column="class")
    assert data.labels == ["House", "Trance"] and "class" not in data.frame.columns
    assert data.frame["label"].value_counts().to_dict() == {"Trance": 18, "House": 12}
    result = eda.run_report([path], out_dir=tmp_path / "out", figures=False, label_column="class")
    assert result.ranking.iloc[0]["feature"] == "energy"
    with pytest.raises(SpotidanceError, match="only one label"):
        eda.read_labelled_csvs([path])  # no `label` column: the file name is the only label


def test_octave_errors_are_flagged(tmp_path):
    rng = np.random.default_rng(3)
    a, b = playlist(rng, 20), playlist(rng, 20)
    median = float(np.median(a["tempo"]))
    a["tempo"][3], a["tempo"][8] = median / 2 + 0.4, 2 * median - 1.0
    data = eda.read_labelled_csvs([write_csv(tmp_path / "a.csv", a), write_csv(tmp_path / "b.csv", b)])
    flags = eda.octave_flags(data)
    assert sorted(flags["track_name"]) == ["t3", "t8"]
    assert set(flags["looks_like"]) == {"half tempo", "double tempo"}


def _bad_inputs(tmp_path: Path) -> dict[str, list[Path]]:
    rng = np.random.default_rng(0)
    good = write_csv(tmp_path / "good.csv", playlist(rng, 10))
    (tmp_path / "zero.csv").write_bytes(b"")
    (tmp_path / "header.csv").write_text("tempo,energy\n")
    (tmp_path / "binary.csv").write_bytes(bytes(rng.integers(128, 256, 3000, dtype=np.uint8)))
    (tmp_path / "nocsv").mkdir()
    return {
        "empty file": [good, tmp_path / "zero.csv"],
        "header only": [good, tmp_path / "header.csv"],
        "not text": [good, tmp_path / "binary.csv"],
        "no numeric features": [good, write_csv(tmp_path / "text.csv", {"track_name": ["a", "b"], "artist_name": ["x", "y"]})],
        "single label": [good],
        "one-row label": [good, write_csv(tmp_path / "tiny.csv", {"tempo": [120], "energy": [0.5]})],
        "missing file": [good, tmp_path / "nope.csv"],
        "folder without CSVs": [good, tmp_path / "nocsv"],
    }


@pytest.mark.parametrize("case", ["empty file", "header only", "not text", "no numeric features", "single label",
                                  "one-row label", "missing file", "folder without CSVs"])  # fmt: skip
def test_bad_input_is_one_line_and_leaves_no_report(tmp_path, case):
    inputs = _bad_inputs(tmp_path)[case]
    with pytest.raises(SpotidanceError) as info:
        eda.run_report(inputs, out_dir=tmp_path / "out")
    assert "\n" not in str(info.value) and str(info.value)
    assert not (tmp_path / "out").exists()


def test_unwritable_out_dir_is_an_error(tmp_path):
    rng = np.random.default_rng(1)
    inputs = [write_csv(tmp_path / "a.csv", playlist(rng, 5)), write_csv(tmp_path / "b.csv", playlist(rng, 5))]
    (tmp_path / "taken").write_text("a file, not a folder")
    with pytest.raises(SpotidanceError, match="cannot write the report"):
        eda.run_report(inputs, out_dir=tmp_path / "taken" / "out", figures=False)


class _Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "img":
            self.sources.append(dict(attrs).get("src", ""))


def test_full_report_is_self_contained_html_with_every_figure_embedded(tmp_path):
    rng = np.random.default_rng(11)
    paths = []
    for name, s in (("techno", 0.3), ("edm", -0.2), ("dnb", 0.0)):
        columns = playlist(rng, 30, shift={"instrumentalness": s})
        columns["mode"] = list(rng.integers(0, 2, 30))  # a discrete feature: bars, no KDE
        columns["bpm / 2"] = list(rng.normal(60, 2, 30))  # a user feature whose name is no file name
        paths.append(write_csv(tmp_path / f"{name}.csv", columns))
    result = eda.run_report(paths, out_dir=tmp_path / "out")
    out = tmp_path / "out"
    svgs = sorted(p.name for p in out.glob("*.svg"))
    assert {"dist_tempo.svg", "dist_instrumentalness.svg", "boxplots.svg", "correlation.svg", "ranking.svg",
            "projection.svg"} <= set(svgs)  # fmt: skip
    assert {f"dist_{f}.svg" for f in FEATURES + ("mode",)} <= set(svgs)
    assert "bpm / 2" in result.features and [p for p in svgs if p.startswith("dist_bpm_2-")]
    assert all(p.parent == out for p in result.files)
    assert {"counts.csv", "missing.csv", "summary.csv", "ranking.csv", "pairwise.csv", "octave_flags.csv"} <= {p.name for p in out.glob("*.csv")}
    parser = _Images()
    text = result.report.read_text(encoding="utf-8")
    parser.feed(text)
    parser.close()
    assert "html" in parser.tags and "table" in parser.tags
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in text
    assert len(parser.sources) == len(svgs)
    for src in parser.sources:  # every figure is embedded as SVG, identical to its file
        assert src.startswith("data:image/svg+xml;base64,")
        svg = base64.b64decode(src.split(",", 1)[1])
        assert svg.lstrip().startswith(b"<?xml") and b"<svg" in svg[:2000]
    # the summary first, then tempo and instrumentalness first among the distributions
    order = [text.index('id="summary"'), *[text.index(f"(dist_{f}.svg)") for f in ("tempo", "instrumentalness", "danceability")]]
    assert order == sorted(order)
    assert result.files[-1] == result.report and not list(out.glob(".*.tmp"))


def test_seed_playlists_summary_and_ranking(shared_dir, tmp_path):
    seed = shared_dir / "data" / "seed-spotify-playlists"
    result = eda.run_report([seed / "techno.csv", seed / "edm.csv"], out_dir=tmp_path / "out", figures=False)
    assert round(result.summary.loc[("techno", "tempo"), "mean"], 1) == 124.0
    assert round(result.summary.loc[("edm", "tempo"), "mean"], 1) == 127.6
    assert "instrumentalness" in result.ranking["feature"].head(2).tolist()
    counts = result.counts.set_index("label")
    assert (counts.loc["techno", "rows"], counts.loc["edm", "rows"]) == (878, 929)
    assert (counts.loc["techno", "duplicates"], counts.loc["edm", "duplicates"]) == (1, 6)


def test_cli_prints_ranking_and_errors_in_one_line(tmp_path):
    rng = np.random.default_rng(5)
    a = write_csv(tmp_path / "a.csv", playlist(rng, 12, shift={"valence": 0.4}))
    b = write_csv(tmp_path / "b.csv", playlist(rng, 12))
    run = [sys.executable, "-m", "spotidance", "eda"]
    ok = subprocess.run([*run, str(a), str(b), "--out", str(tmp_path / "rep"), "--no-figures", "--quiet"],
                        capture_output=True, text=True)  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert ranking_rows(ok.stdout)[0][1] == "valence" and str(tmp_path / "rep" / "report.html") in ok.stdout
    assert ok.stdout.splitlines()[0].startswith("A and b are")  # the summary comes first
    bad = subprocess.run([*run, str(a), "--out", str(tmp_path / "bad")], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stdout == ""
    assert len(bad.stderr.strip().splitlines()) == 1 and bad.stderr.startswith("spotidance: error: only one label")
    assert not (tmp_path / "bad").exists()


def test_importing_eda_and_local_features_loads_no_heavy_library():
    code = ("import sys, spotidance.eda.run, spotidance.eda.report, spotidance.analyze.features\n"
            "print(','.join(m for m in ('pandas', 'scipy', 'matplotlib', 'seaborn', 'librosa') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_extreme_and_infinite_values_neither_crash_nor_squash_the_figures(tmp_path):
    """A tempo of 1e300 (a broken export) and inf: counted, left out of figures and classifier, no traceback."""
    rng = np.random.default_rng(4)
    a, b = playlist(rng, 40), playlist(rng, 40, shift={"loudness": 4.0})
    a["tempo"][0], a["tempo"][1] = 1e300, float("inf")
    files = [write_csv(tmp_path / "techno.csv", a), write_csv(tmp_path / "edm.csv", b)]
    done = subprocess.run([sys.executable, "-m", "spotidance", "eda", *map(str, files), "--out", str(tmp_path / "out"), "-q"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "overflow" not in done.stderr
    assert (tmp_path / "out" / "report.html").is_file()
    assert "e+300" not in done.stdout and "1000000000" not in done.stdout
