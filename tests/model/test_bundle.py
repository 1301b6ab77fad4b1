"""The model bundle: round trip, LiteRT export, versioning and refusals, atomic writes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from spotidance.model import bundle as bundle_mod
from spotidance.model.bundle import BUNDLE_VERSION, check_config, read_bundle, write_bundle
from spotidance.audio.config import SpectrogramConfig
from spotidance.core.errors import SpotidanceError
from spotidance.model.bundle import load_runner
from spotidance.model.runners import KerasRunner, LiteRTRunner
from tests.helpers.audio import tone
from tests.helpers.tiny_bundle import LABELS, tiny_bundle, tiny_model


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return tiny_bundle(tmp_path_factory)


@pytest.fixture()
def copy(model_dir, tmp_path) -> Path:
    """A private copy of the session bundle, free to damage."""
    return Path(shutil.copytree(model_dir, tmp_path / "copy"))


def real_frames(config: SpectrogramConfig) -> np.ndarray:
    from spotidance.audio.spectrogram import frames_from_audio

    y = np.concatenate([tone(9, sample_rate=config.sample_rate, seed=1), tone(9, sample_rate=config.sample_rate, seed=2, freq=1500)])
    return frames_from_audio(y, config=config)


def test_round_trip_reads_back_everything_written(model_dir):
    b = read_bundle(model_dir)
    assert b.model_name == "tiny-test"
    assert b.labels == LABELS
    assert b.config == SpectrogramConfig()
    assert b.training == {"seed": 7, "epochs": 0, "optimizer": "adam"}
    assert b.metrics == {"track": {"accuracy": 0.5, "macro_f1": None}}  # NaN becomes null: strict JSON
    assert b.split == {"train": ["a", "b"], "validation": ["c"], "test": ["d"]}
    assert b.has_tflite
    assert b.manifest["bundle_version"] == BUNDLE_VERSION
    assert b.manifest["format"] == "spotidance-model"
    assert b.created.endswith("+00:00")
    assert set(b.files) == {"model.keras", "model.tflite", "metrics.json", "split.json", "learning_curves.png"}
    for name in b.files:
        assert b.verified_file(name).is_file()
    # no temporary folders left next to the bundle
    assert sorted(p.name for p in model_dir.parent.iterdir() if p.name.startswith(".")) == []


def test_keras_and_litert_agree_on_real_frames(model_dir):
    b = read_bundle(model_dir)
    frames = real_frames(b.config)
    assert len(frames) == 6
    keras_probs = KerasRunner(b.keras_model()).predict(frames)
    litert_probs = LiteRTRunner(model_dir / "model.tflite").predict(frames)
    assert keras_probs.shape == litert_probs.shape == (6, len(LABELS))
    np.testing.assert_allclose(litert_probs, keras_probs, atol=1e-4, rtol=0)
    np.testing.assert_allclose(keras_probs.sum(axis=1), 1.0, atol=1e-5)
    # the check is meaningful only if the outputs are not saturated one-hot vectors
    assert 0.05 < float(keras_probs.max(axis=1).min()) < 0.999
    # one batch or frame by frame: the same answers (the runner resizes its input)
    one_by_one = np.concatenate([LiteRTRunner(model_dir / "model.tflite").predict(f[None]) for f in frames])
    np.testing.assert_allclose(one_by_one, litert_probs, atol=1e-6)
    assert b.manifest["tflite"]["exported"] and b.manifest["tflite"]["max_abs_diff"] <= 1e-4


def test_load_runner_prefers_litert_and_can_be_forced(model_dir):
    b = read_bundle(model_dir)
    assert load_runner(b).backend == "litert"
    assert load_runner(b, backend="keras").backend == "keras"
    with pytest.raises(SpotidanceError, match="unknown backend"):
        load_runner(b, backend="onnx")


def _one_line_error(path, match: str) -> str:
    with pytest.raises(SpotidanceError) as info:
        read_bundle(path)
    message = str(info.value)
    assert "\n" not in message
    assert match in message, message
    return message


def _edit_manifest(folder: Path, **changes) -> None:
    manifest = json.loads((folder / "bundle.json").read_text())
    manifest.update(changes)
    (folder / "bundle.json").write_text(json.dumps(manifest))


def test_refuses_a_newer_bundle_version(copy):
    _edit_manifest(copy, bundle_version=BUNDLE_VERSION + 1, spotidance_version="9.0")
    message = _one_line_error(copy, "newer spotidance")
    assert "upgrade" in message and str(BUNDLE_VERSION + 1) in message


def test_refuses_unknown_format_and_bad_version(copy):
    _edit_manifest(copy, bundle_version="one")
    _one_line_error(copy, "invalid bundle_version")
    _edit_manifest(copy, format="something-else", bundle_version=1)
    _one_line_error(copy, "not a spotidance model bundle")


def test_refuses_corrupt_json(copy):
    text = (copy / "metrics.json").read_text()
    (copy / "metrics.json").write_text(text[: len(text) // 2])
    _one_line_error(copy, "metrics.json: corrupt JSON")
    (copy / "bundle.json").write_text("{not json")
    _one_line_error(copy, "bundle.json: corrupt JSON")


def test_refuses_missing_files_and_non_bundles(copy, tmp_path):
    (copy / "model.tflite").unlink()
    _one_line_error(copy, "missing model.tflite")
    (copy / "bundle.json").unlink()
    _one_line_error(copy, "not a model bundle")
    _one_line_error(tmp_path / "nowhere", "no such model folder")
    (tmp_path / "file").write_text("x")
    _one_line_error(tmp_path / "file", "not a model folder")


def test_refuses_a_manifest_with_unknown_spectrogram_settings(copy):
    manifest = json.loads((copy / "bundle.json").read_text())
    manifest["spectrogram"]["window"] = "blackman"
    (copy / "bundle.json").write_text(json.dumps(manifest))
    _one_line_error(copy, "unknown settings")


def test_damaged_model_file_is_refused_when_loaded(copy):
    data = bytearray((copy / "model.tflite").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / "model.tflite").write_bytes(bytes(data))
    b = read_bundle(copy)  # reading the description is still fine
    with pytest.raises(SpotidanceError, match="model.tflite is damaged"):
        load_runner(b)


def test_check_config_refuses_data_framed_differently(model_dir):
    b = read_bundle(model_dir)
    check_config(b, SpectrogramConfig())  # same settings: accepted
    with pytest.raises(SpotidanceError) as info:
        check_config(b, SpectrogramConfig(hop_length=256, normalize="frame"), what="dataset frames/")
    message = str(info.value)
    assert "\n" not in message
    assert "dataset frames/ was framed differently" in message
    assert "hop_length: 512 vs 256" in message and "normalize: 'none' vs 'frame'" in message
    assert "n_mels" not in message  # only the settings that differ


def test_write_refuses_a_model_that_does_not_fit_the_frames(tmp_path):
    config = SpectrogramConfig()
    model = tiny_model(config, 2)
    with pytest.raises(SpotidanceError, match="does not match the 3 labels"):
        write_bundle(tmp_path / "m", model=model, model_name="x", labels=["a", "b", "c"], config=config,
                     training={}, metrics={}, split={})
    with pytest.raises(SpotidanceError, match="input shape"):
        write_bundle(tmp_path / "m", model=model, model_name="x", labels=["a", "b"], config=SpectrogramConfig(n_mels=64),
                     training={}, metrics={}, split={})
    assert not (tmp_path / "m").exists()


def test_write_never_clobbers_a_folder_that_is_not_a_bundle(tmp_path):
    target = tmp_path / "precious"
    target.mkdir()
    (target / "notes.txt").write_text("keep me")
    config = SpectrogramConfig()
    with pytest.raises(SpotidanceError, match="not empty and not a model bundle"):
        write_bundle(target, model=tiny_model(config, 2), model_name="x", labels=["a", "b"], config=config,
                     training={}, metrics={}, split={})
    assert (target / "notes.txt").read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["precious"]


def test_rewrite_replaces_a_bundle_and_an_interrupted_rewrite_keeps_the_old_one(copy, monkeypatch):
    config = SpectrogramConfig()
    model = tiny_model(config, 2, seed=1)
    write_bundle(copy, model=model, model_name="second", labels=["x", "y"], config=config,
                 training={}, metrics={"n": 1}, split={"train": [], "validation": [], "test": []})
    b = read_bundle(copy)
    assert (b.model_name, b.labels, b.metrics) == ("second", ["x", "y"], {"n": 1})
    assert not (copy / "learning_curves.png").exists()  # nothing left over from the old bundle

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(bundle_mod, "_export_tflite", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_bundle(copy, model=model, model_name="third", labels=["x", "y"], config=config,
                     training={}, metrics={}, split={})
    assert read_bundle(copy).model_name == "second"
    assert sorted(p.name for p in copy.parent.iterdir()) == ["copy"]  # no temporary folders left


def test_real_architectures_round_trip(tmp_path):
    from spotidance.model import architectures as models
    config = SpectrogramConfig()
    frames = real_frames(config)
    for name in ("binary-1d", "multiclass-2d"):
        out = write_bundle(tmp_path / name, model=models.build_model(name, n_labels=2, config=config), model_name=name,
                           labels=["a", "b"], config=config, training={}, metrics={}, split={})
        b = read_bundle(out)
        assert b.has_tflite, b.manifest["tflite"]
        np.testing.assert_allclose(load_runner(b).predict(frames), load_runner(b, backend="keras").predict(frames), atol=1e-4)
