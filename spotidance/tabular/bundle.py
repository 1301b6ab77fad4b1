"""The tabular model bundle: a :class:`~spotidance.tabular.model.TabularModel` as a folder.

It belongs to the same family as the CNN bundle (``docs/bundle.md``): the same ``format``
(``spotidance-model``), told apart by ``"kind": "tabular"`` in ``bundle.json`` (a CNN bundle has
no ``kind``, read as ``"cnn"``). Tabular ``bundle_version`` 1: members ``gbt``, ``kernel``,
``linear``; version 2 adds the ``forest`` member (extra trees), version 3 the ``mlp`` member (a
perceptron on quantile-normalised features). A bundle is written with the lowest version that holds
its members, so older readers keep reading what they can (they refuse a newer bundle with "written
by a newer spotidance"). Layout::

    MODEL_DIR/
      bundle.json    format, bundle_version, kind, model_name (the recipe), labels,
                     feature_columns, the model's description ("model": components, tree and
                     kernel sizes, novelty threshold), the model card ("card"), created,
                     spotidance_version, and the SHA-256 and size of every other file
      model.npz      the model's arrays (NumPy .npz, no object arrays)
      metrics.json   the training scores (cv.accuracy_mean, ... or test.accuracy, ...)
      split.json     the rows of each CV test fold, or of the train / validation / test parts
      MODEL_CARD.md  the card for people

**No pickle anywhere**: ``model.npz`` is read with ``numpy.load(..., allow_pickle=False)`` (an
object array in it is refused), its checksum is verified first, and every array is checked for
dtype, shape, finiteness and index ranges by :meth:`TabularModel.from_arrays` before use: a bundle
is untrusted input. Writing is atomic: the folder is built under a hidden sibling name and
renamed into place, so a crash leaves the old bundle or the new one, never a mixture (the same
scheme as the CNN writer, shared with the CNN writer through :mod:`spotidance.core.bundle_files`).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from spotidance.core.bundle_files import (
    read_json,
    sha256_file,
    swap_into_place,
    write_text_synced,
)
from spotidance.core.errors import SpotidanceError
from spotidance.tabular.model import TabularModel

BUNDLE_FORMAT = "spotidance-model"
#: The newest tabular bundle version this reader takes. Version 2 added the ``forest`` member
#: (extra trees), version 3 the ``mlp`` member; a bundle is written with the lowest version that
#: holds its members, so older spotidance reads what it can.
BUNDLE_VERSION = 3
KIND = "tabular"
MANIFEST = "bundle.json"
MODEL_FILE = "model.npz"
METRICS_FILE = "metrics.json"
SPLIT_FILE = "split.json"
CARD_FILE = "MODEL_CARD.md"
_HINT = "train a new one with `spotidance train TABLE.csv --model trees`"
#: A model.npz larger than this is refused before reading (the shipped ones are < 3 MB).
_MAX_MODEL_BYTES = 200 * 1024 * 1024


def save_tabular_bundle(out_dir: str | os.PathLike, *, model: TabularModel, metrics: dict[str, Any],
                        split: dict[str, Any] | None = None) -> Path:
    """Write ``model`` as a bundle folder, atomically.

    Parameters
    ----------
    out_dir : path-like
        The bundle folder; an existing bundle there is replaced, any other non-empty folder is
        refused (nothing is deleted).
    model : TabularModel
        With its ``card`` (see :func:`spotidance.tabular.train.train_tabular`).
    metrics : dict
        Written to ``metrics.json`` (NaN / inf become null).
    split : dict, optional
        Written to ``split.json``.

    Returns
    -------
    pathlib.Path
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise SpotidanceError(f"{out}: exists and is not a folder; choose another --out")
    if out.is_dir() and any(out.iterdir()) and not (out / MANIFEST).is_file():
        raise SpotidanceError(f"{out}: folder is not empty and not a model bundle; choose another --out (nothing was changed)")
    arrays, spec = model.to_arrays()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        with open(tmp / MODEL_FILE, "wb") as fh:
            np.savez_compressed(fh, **arrays)
            fh.flush(); os.fsync(fh.fileno())
        _write_json(tmp / METRICS_FILE, metrics)
        _write_json(tmp / SPLIT_FILE, split or {})
        card = _jsonable(dict(model.card))
        write_text_synced(tmp / CARD_FILE, model_card_markdown(card, spec))
        files = {p.name: {"sha256": sha256_file(p), "bytes": p.stat().st_size} for p in sorted(tmp.iterdir()) if p.is_file()}
        import spotidance

        manifest = {
            "format": BUNDLE_FORMAT,
            "bundle_version": bundle_version_for(spec),
            "kind": KIND,
            "spotidance_version": getattr(spotidance, "__version__", "?"),
            "model_name": str(card.get("recipe", {}).get("name", "tabular")),
            "labels": spec["labels"],
            "feature_columns": spec["feature_columns"],
            "model": spec,
            "card": card,
            "created": _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat(),
            "files": files,
        }
        _write_json(tmp / MANIFEST, manifest)
        swap_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def bundle_version_for(spec: dict[str, Any]) -> int:
    """The lowest bundle version that can hold a model description (``to_arrays()[1]``)."""
    components = spec.get("components", [])
    if "mlp" in components:
        return 3
    return 2 if "forest" in components else 1


def load_tabular_bundle(path: str | os.PathLike) -> TabularModel:
    """Load a tabular bundle (NumPy only; no pickle, no LightGBM, no scikit-learn).

    Parameters
    ----------
    path : path-like
        A folder written by :func:`save_tabular_bundle`.

    Returns
    -------
    TabularModel
        With ``card`` set to the bundle's card (plus ``"metrics_file"``: ``metrics.json``'s
        content is not loaded, to keep loading fast).

    Raises
    ------
    SpotidanceError
        One line: not a folder, not a (tabular) bundle, newer version, missing or altered file,
        corrupt JSON, or any invalid array.
    """
    root = Path(path)
    if not root.exists():
        raise SpotidanceError(f"{root}: no such model folder")
    if not root.is_dir():
        raise SpotidanceError(f"{root}: not a model folder")
    manifest = read_json(root / MANIFEST, missing=f"{root}: not a model bundle (no {MANIFEST})", hint=_HINT)
    if not isinstance(manifest, dict) or manifest.get("format") != BUNDLE_FORMAT:
        raise SpotidanceError(f"{root / MANIFEST}: not a spotidance model bundle")
    version = manifest.get("bundle_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise SpotidanceError(f"{root / MANIFEST}: invalid bundle_version {version!r}; {_HINT}")
    if version > BUNDLE_VERSION:
        raise SpotidanceError(f"{root}: bundle version {version} was written by a newer spotidance; upgrade spotidance")
    kind = manifest.get("kind", "cnn")
    if kind != KIND:
        raise SpotidanceError(f"{root}: a {kind} model bundle, not a tabular one; it classifies audio, not feature tables")
    files = manifest.get("files")
    if not isinstance(files, dict) or MODEL_FILE not in files or not isinstance(files[MODEL_FILE], dict):
        raise SpotidanceError(f"{root / MANIFEST}: lists no {MODEL_FILE}; {_HINT}")
    model_file = root / MODEL_FILE
    if not model_file.is_file():
        raise SpotidanceError(f"{root}: incomplete bundle, missing {MODEL_FILE}; restore the folder or {_HINT}")
    size = model_file.stat().st_size
    if size > _MAX_MODEL_BYTES or size != files[MODEL_FILE].get("bytes"):
        raise SpotidanceError(f"{model_file}: is damaged (size mismatch); restore the bundle or {_HINT}")
    data = model_file.read_bytes()
    if hashlib.sha256(data).hexdigest() != files[MODEL_FILE].get("sha256"):
        raise SpotidanceError(f"{model_file}: is damaged (checksum mismatch); restore the bundle or {_HINT}")
    import io

    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (ValueError, OSError, EOFError) as exc:
        raise SpotidanceError(f"{model_file}: unreadable ({' '.join(str(exc).split())[:160]}); {_HINT}") from None
    spec = manifest.get("model")
    if isinstance(spec, dict) and bundle_version_for(spec) > version:
        raise SpotidanceError(f"{root / MANIFEST}: bundle version {version} cannot hold the members it lists; {_HINT}")
    model = TabularModel.from_arrays(arrays, spec, what=str(root))
    card = manifest.get("card")
    model.card = dict(card) if isinstance(card, dict) else {}
    model.card["bundle"] = str(root)
    return model


def read_metrics(path: str | os.PathLike) -> dict[str, Any]:
    """The ``metrics.json`` of a tabular bundle."""
    data = read_json(Path(path) / METRICS_FILE, missing=f"{path}: no {METRICS_FILE}", hint=_HINT)
    return data if isinstance(data, dict) else {}


def model_card_markdown(card: dict[str, Any], spec: dict[str, Any]) -> str:
    """The model card as Markdown (``MODEL_CARD.md``)."""
    m = card.get("metrics", {})
    data = card.get("data", {})
    lines = [f"# Model card: {card.get('name', 'tabular model')}", ""]
    if card.get("description"):
        lines += [str(card["description"]), ""]
    lines += [
        f"- Created: {card.get('created', '?')} by spotidance {card.get('spotidance_version', '?')}",
        (f"- Recipe: `{card.get('recipe', {}).get('name', '?')}` (components: {', '.join(spec.get('components', []))}; "
        f"soft-vote weights {', '.join(f'{k} {v:.3g}' for k, v in (spec.get('weights') or {}).items())})"),
        f"- Labels ({len(spec['labels'])}): {', '.join(spec['labels'])}",
        f"- Label column: `{card.get('label_column', '?')}`",
    ]
    if isinstance(data, dict):
        for key, value in data.items():
            lines.append(f"- Data {key}: {value}")
    if "accuracy_mean" in m:
        lines.append(
            f"- {m.get('k')}-fold stratified CV on the training table: accuracy {100 * m['accuracy_mean']:.1f} % "
            f"+- {100 * m['accuracy_std']:.1f}, macro-F1 {100 * m['macro_f1_mean']:.1f} % +- {100 * m['macro_f1_std']:.1f}"
        )
    elif "test_accuracy" in m:
        lines.append(f"- Held-out test accuracy {100 * m['test_accuracy']:.1f} %, macro-F1 {100 * m['test_macro_f1']:.1f} %")
    nov = spec.get("novelty")
    if nov:
        lines.append(f"- Novelty flag: {nov.get('measure')} above {nov.get('threshold'):.3f} "
                     f"(at most 5 % of training rows flagged out-of-fold)")
    if card.get("notes"):
        lines += ["", str(card["notes"])]
    lines += ["", "## Feature columns (exact names, in order)", "",
              ", ".join(f"`{c}`" for c in spec["feature_columns"]), ""]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------- helpers


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def _write_json(file: Path, obj: Any) -> None:
    write_text_synced(file, json.dumps(_jsonable(obj), indent=1, allow_nan=False) + "\n")
