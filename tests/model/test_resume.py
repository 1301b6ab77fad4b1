"""Ctrl-C during ``train`` and a rerun: the checkpoint each epoch, resuming, starting over, the message."""

from __future__ import annotations

import json

import numpy as np
import pytest

from spotidance.model.bundle import read_bundle
from tests.helpers.cli import run_captured
from tests.helpers.frames import pattern_dataset


def run_cli(*args: str) -> tuple[int, str, str]:
    return run_captured(list(args))

EPOCHS = 3
#: Several batches per epoch: Keras shuffles their order with Python's `random`, whose state a resume must restore.
BATCH = 4


def quiet(_line: str) -> None:
    pass


def stop_after_epoch(n: int):
    """An ``echo`` that records the lines and raises Ctrl-C on the summary line of epoch ``n``
    (written after that epoch's checkpoint)."""
    lines: list[str] = []

    def echo(line: str) -> None:
        lines.append(line)
        if line.startswith(f"epoch {n}/"):
            raise KeyboardInterrupt

    echo.lines = lines  # type: ignore[attr-defined]
    return echo


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return pattern_dataset(tmp_path_factory.mktemp("resume") / "ds", {"a": 4, "b": 4, "c": 4}, frames=2)


@pytest.fixture(scope="module")
def uninterrupted(dataset, tmp_path_factory):
    from spotidance.model.train import train

    out = tmp_path_factory.mktemp("whole") / "model"
    return train(dataset, model_name="binary-1d", out=out, epochs=EPOCHS, batch_size=BATCH, seed=3, progress=False, echo=quiet,
                 spec_augment=True)  # fmt: skip


def test_ctrl_c_after_epoch_1_then_rerun_resumes_with_the_same_result(dataset, uninterrupted, tmp_path):
    from spotidance.model.train import TrainingInterrupted, checkpoint_folder, train

    out = tmp_path / "model"
    kwargs = {"model_name": "binary-1d", "out": out, "epochs": EPOCHS, "batch_size": BATCH, "seed": 3, "progress": False,
              "spec_augment": True}  # fmt: skip
    with pytest.raises(TrainingInterrupted) as interrupted:
        train(dataset, echo=stop_after_epoch(1), **kwargs)
    assert interrupted.value.epochs_done == 1 and not interrupted.value.finished
    assert "rerun the same command to resume from epoch 2" in interrupted.value.message
    assert isinstance(interrupted.value, KeyboardInterrupt)  # callers that know only Ctrl-C still see it
    folder = checkpoint_folder(out)
    assert folder.name == ".model.partial" and folder.parent == out.parent
    assert sorted(p.name for p in folder.iterdir()) == ["epoch-1.npz", "state.json"] and not out.exists()
    assert json.loads((folder / "state.json").read_text())["epochs_done"] == 1

    lines: list[str] = []
    resumed = train(dataset, echo=lines.append, **kwargs)
    assert any(line.startswith("resuming from the checkpoint") and "continuing at epoch 2" in line for line in lines)
    assert not any(line.startswith("epoch 1/") for line in lines)  # epoch 1 was not trained again
    assert [line.split(":")[0] for line in lines if line.startswith("epoch ")] == ["epoch 2/3", "epoch 3/3"]
    assert not folder.exists()  # removed once the bundle is written
    assert resumed.split == uninterrupted.split
    assert resumed.epochs_run == EPOCHS == len(resumed.metrics["history"]["loss"])
    assert resumed.metrics["resumed_after_epoch"] == 1 and uninterrupted.metrics["resumed_after_epoch"] is None
    # on this machine (CPU, one process) the resumed run is the uninterrupted one, weight for weight
    assert resumed.metrics["history"] == uninterrupted.metrics["history"]
    assert resumed.metrics["test_tracks"] == uninterrupted.metrics["test_tracks"]
    a, b = read_bundle(out).keras_model(), read_bundle(uninterrupted.model_dir).keras_model()
    for x, y in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(x, y)


def test_a_rerun_with_other_settings_starts_over(dataset, tmp_path):
    from spotidance.model.train import TrainingInterrupted, checkpoint_folder, train

    out = tmp_path / "model"
    with pytest.raises(TrainingInterrupted):
        train(dataset, model_name="binary-1d", out=out, epochs=2, seed=3, progress=False, echo=stop_after_epoch(1))
    lines: list[str] = []
    result = train(dataset, model_name="binary-1d", out=out, epochs=2, seed=4, progress=False, echo=lines.append)
    assert any("other settings or another dataset (seed differ); starting over" in line for line in lines)
    assert [line.split(":")[0] for line in lines if line.startswith("epoch ")] == ["epoch 1/2", "epoch 2/2"]
    assert result.metrics["resumed_after_epoch"] is None and not checkpoint_folder(out).exists()


def test_ctrl_c_after_the_last_epoch_resumes_without_training(dataset, tmp_path, monkeypatch):
    from spotidance.model import train as module

    out = tmp_path / "model"

    def interrupted_scoring(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(module, "_score_sides", interrupted_scoring)
        with pytest.raises(module.TrainingInterrupted) as interrupted:
            module.train(dataset, model_name="binary-1d", out=out, epochs=1, seed=3, progress=False, echo=quiet)
    assert interrupted.value.finished and "without training again" in interrupted.value.message
    lines: list[str] = []
    result = module.train(dataset, model_name="binary-1d", out=out, epochs=1, seed=3, progress=False, echo=lines.append)
    assert not any(line.startswith("epoch ") for line in lines) and result.epochs_run == 1 and result.best_epoch == 1
    assert read_bundle(out).metrics["epochs_run"] == 1


def test_the_cli_says_exactly_what_a_rerun_does(tmp_path, monkeypatch):
    from spotidance.commands import train as command
    from spotidance.model.train import TrainingInterrupted, checkpoint_folder

    out = tmp_path / "model"

    def interrupted(*args, **kwargs):
        raise TrainingInterrupted(checkpoint=checkpoint_folder(out), epochs_done=4, finished=False)

    monkeypatch.setattr(command, "train", interrupted)
    code, _stdout, stderr = run_cli("train", str(tmp_path), "--model", "binary-1d", "--out", str(out), "--quiet")
    assert code == 130
    assert stderr.startswith("spotidance: interrupted; epochs 1-4 are saved in ") and stderr.count("\n") == 1
    assert "rerun the same command to resume from epoch 5" in stderr and str(checkpoint_folder(out)) in stderr
