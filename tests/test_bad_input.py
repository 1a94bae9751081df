"""Bad input through the CLI: exit code 2, one line on stderr, no traceback, outputs untouched.

Every case is one row of :data:`CASES`: the command's arguments (``{name}`` placeholders are
paths in a prepared workspace, see :func:`workspace`) and a fragment the one error line must
contain. Each case runs in-process against a fresh copy of the workspace, and the whole
workspace (every file's bytes, every folder) must be exactly as it was afterwards: a refused
command writes nothing, deletes nothing and leaves no temporary file.

This corpus grows with every new command, option and refusal (issue 12): add a row.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml

from conftest import run_cli
from test_evaluation_helpers import make_run_dir
from test_transfer import _config, source  # noqa: F401 (a fixture)
from train_edge_data import speaker_table, table_config
from affectlab.ablate import run_ablation
from affectlab.core.errors import AffectlabError

ROOT = Path(__file__).resolve().parents[1]
SEMEVAL = ROOT / "configs" / "semeval2026-task2" / "default.yaml"
TRANSFER = ROOT / "configs" / "mosi" / "transfer-text-encoder.yaml"
MOSI = ROOT / "configs" / "mosi" / "features.yaml"  # the file's own splits (split.kind: given)
MOSI_DEFAULT = ROOT / "configs" / "mosi" / "default.yaml"  # video-grouped cross-validation


def _run(path: Path, **kw) -> Path:
    """A small, complete run directory (predictions, metrics, summary, a stand-in checkpoint)."""
    make_run_dir(path, n_users=12, per_user=4, **kw)
    torch.save({"format": 1, "model": "user_sequence", "params": {}, "targets": [], "state": {}, "features": {}},
               path / "checkpoint.ckpt")
    return path


def _edit_summary(path: Path, text: str) -> None:
    (path / "summary.json").write_text(text)


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """The workspace every case starts from (built once, copied per case)."""
    ws = tmp_path_factory.mktemp("bad-input")
    good = _run(ws / "good", pred_seed=1)
    for name, text in {"list": "[1, 2, 3]", "truncated": (good / "summary.json").read_text()[:57],
                       "empty": "", "null": "null", "scalar": "42", "notjson": "{'task': 'semeval'}",
                       "badfield": json.dumps({"task": "semeval", "metrics": {"val": {"score": "high"}}}),
                       "badkind": json.dumps({"task": "semeval", "targets": [{"name": "v", "kind": "ordinal"}]})}.items():
        _edit_summary(_run(ws / f"summary-{name}", pred_seed=2), text)
    binary = _run(ws / "summary-binary", pred_seed=2)
    (binary / "summary.json").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (_run(ws / "preds-missing", pred_seed=3) / "predictions.csv").unlink()
    (_run(ws / "preds-empty", pred_seed=3) / "predictions.csv").write_text("")
    (_run(ws / "preds-garbage", pred_seed=3) / "predictions.csv").write_bytes(b"\xff\xfe\x00\x01garbage\n\"open quote")
    (_run(ws / "preds-header", pred_seed=3) / "predictions.csv").write_text("split,id,group,valence,arousal,pred_valence,pred_arousal,seen\n")
    (_run(ws / "preds-foreign", pred_seed=3) / "predictions.csv").write_text("a,b\n1,2\n")
    words = _run(ws / "preds-words", pred_seed=3, config={"model": {"hidden": 8}}) / "predictions.csv"
    words.write_text(words.read_text().replace("0.", "x."))
    (_run(ws / "preds-other-target", pred_seed=3) / "predictions.csv").write_text(
        "split,id,group,mood,pred_mood,seen\ntest,1,u1,1.0,0.5,False\n")
    (_run(ws / "metrics-words", pred_seed=3) / "metrics.csv").write_text("epoch,train_loss,val_score\none,0.5,high\n")
    (_run(ws / "baselines-foreign", pred_seed=3) / "baselines.csv").write_text("a,b\n1,2\n")
    cut = _run(ws / "preds-truncated", pred_seed=3) / "predictions.csv"
    cut.write_text(cut.read_text()[:-30])
    (ws / "notes.txt").write_text("not a run\n")
    (ws / "occupied").mkdir()
    (ws / "occupied" / "keep.txt").write_text("precious\n")
    (ws / "bad-criteria.yaml").write_text("levels:\n  score: {minimum: high}\n")
    (ws / "data.csv").write_text("user_id,text_id,text,timestamp,valence,arousal\n1,1,hi,2024-01-01,0.5,1.0\n")
    (ws / "data-20.csv").write_text("user_id,text_id,text,timestamp,valence,arousal\n" + "".join(
        f"{u},{u}{k},text {k},2024-01-0{k + 1},{k % 3 - 1},{k % 2}\n" for u in range(1, 6) for k in range(4)))
    cfg = yaml.safe_load(SEMEVAL.read_text())
    (ws / "semeval.yaml").write_text(yaml.safe_dump(cfg))
    (ws / "semeval-renamed.yaml").write_text(yaml.safe_dump({**cfg, "name": "renamed"}))  # ablate: only a label differs
    (ws / "semeval-latest.yaml").write_text(yaml.safe_dump({**cfg, "split": {**cfg["split"], "latest_fraction": 0.3}}))
    _silent_cases(ws)
    _transfer_cases(ws)
    return ws


def _transfer_cases(ws: Path) -> None:
    """A stand-in source run of the mosi task whose checkpoint predicts 'sentiment' as a category (issue 10)."""
    run = _run(ws / "mosi-classifier-run", pred_seed=5,
               config={"task": "mosi", "data": {"format": "mmsa"}, "model": {"name": "late_fusion", "modalities": ["text"]}})
    torch.save({"format": 1, "model": "late_fusion", "params": {"modalities": ["text"]}, "state": {}, "features": {},
                "targets": [{"name": "sentiment", "kind": "category", "classes": ["negative", "positive"]}]},
               run / "checkpoint.ckpt")


def _silent_cases(ws: Path) -> None:
    """Files for the cases that used to pass silently (issue 12, items 2 and 7)."""
    import pickle

    import numpy as np

    from test_corpus_mmsa import make_mmsa
    from test_evaluation_helpers import write_semeval_pair

    header = "user_id,text_id,text,timestamp,valence,arousal\n"
    (ws / "ragged-first.csv").write_text(header + "1,1,hi,2024-01-01,0.5,1.0,extra\n1,2,ho,2024-01-02,0.5,1.0\n")
    (ws / "ragged-later.csv").write_text(header + "1,1,hi,2024-01-01,0.5,1.0\n1,2,ho, there,2024-01-02,0.5,1.0\n")
    mosi = make_mmsa(ws / "mosi.pkl", {"train": 12, "valid": 6, "test": 6})
    (ws / "mosi-bad-reference.yaml").write_text(yaml.safe_dump(
        {**yaml.safe_load(MOSI.read_text()), "references": [{"system": "x", "metric": "bleu", "value": 0.9}]}))
    raw = pickle.loads(mosi.read_bytes())
    raw["train"]["audio"][:] = np.nan
    (ws / "mosi-nan-train-audio.pkl").write_bytes(pickle.dumps(raw))
    gold, _, _ = write_semeval_pair(ws / "eval", n_users=4, per_user=4)
    frame = (ws / "eval" / "gold.csv").read_text().splitlines()
    cells = frame[3].split(",")
    cells[3] = "7.0"  # valence: declared in [-2, 2]
    (ws / "eval" / "gold-out-of-range.csv").write_text("\n".join(frame[:3] + [",".join(cells)] + frame[4:]) + "\n")
    preds = _run(ws / "preds-out-of-range", pred_seed=4) / "predictions.csv"
    lines = preds.read_text().splitlines()
    test_row = next(i for i, line in enumerate(lines) if line.startswith("test,"))
    cells = lines[test_row].split(",")
    cells[3] = "7.0"
    lines[test_row] = ",".join(cells)
    preds.write_text("\n".join(lines) + "\n")


@pytest.fixture()
def workspace(template, tmp_path) -> Path:
    ws = tmp_path / "ws"
    shutil.copytree(template, ws)
    return ws


def snapshot(root: Path) -> dict[str, str]:
    """Every path under ``root`` with the sha256 of its bytes (folders: "dir")."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        out[rel] = "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
    return out


#: (case id, arguments with {placeholders}, fragment of the one error line)
CASES: list[tuple[str, list[str], str]] = [
    # ---- summary.json that is not a summary: evaluate --run, compare, report, transfer (issue 12, item 3)
    *[(f"evaluate-run-summary-{kind}", ["evaluate", "--run", f"{{ws}}/summary-{kind}"], msg)
      for kind, msg in [("list", "expected a JSON object, found an array"), ("truncated", "not valid JSON"),
                        ("empty", "empty file"), ("null", "found null"), ("scalar", "found a number"),
                        ("notjson", "not valid JSON"), ("binary", "not valid JSON"),
                        ("badfield", "metrics.val.score"), ("badkind", "targets.0.kind")]],
    ("compare-summary-list", ["compare", "{ws}/good", "{ws}/summary-list"], "expected a JSON object"),
    ("compare-summary-truncated", ["compare", "{ws}/summary-truncated", "{ws}/good"], "not valid JSON"),
    ("compare-summary-badfield", ["compare", "{ws}/good", "{ws}/summary-badfield"], "metrics.val.score"),
    ("report-summary-list", ["report", "{ws}/summary-list"], "expected a JSON object"),
    ("report-summary-truncated", ["report", "{ws}/summary-truncated"], "not valid JSON"),
    ("report-summary-empty", ["report", "{ws}/summary-empty"], "empty file"),
    ("transfer-source-summary-list", ["transfer", str(TRANSFER), "--source-run", "{ws}/summary-list",
                                      "--data", "{ws}/data.csv", "--out", "{ws}/transferred"], "expected a JSON object"),
    ("transfer-source-summary-truncated", ["transfer", str(TRANSFER), "--source-run", "{ws}/summary-truncated",
                                           "--data", "{ws}/data.csv", "--out", "{ws}/transferred"], "not valid JSON"),
    # ---- transfer (issue 10): nothing to adapt; a source run of another task or target kind
    ("transfer-same-extractor-and-dimension", ["transfer", str(TRANSFER), "--source-run", "{ws}/good", "--data",
                                               "{ws}/mosi.pkl", "--out", "{ws}/transferred", "--set",
                                               "transfer.adapters.text.source_extractor=sentence-transformers:all-MiniLM-L6-v2",
                                               "--set", "transfer.adapters.text.in_dim=384", "--set",
                                               "transfer.adapters.text.out_dim=384"],
     "both 'sentence-transformers:all-MiniLM-L6-v2' with 384 dimensions: nothing to adapt"),
    ("transfer-source-of-another-task", ["transfer", str(TRANSFER), "--source-run", "{ws}/good", "--data",
                                         "{ws}/mosi.pkl", "--out", "{ws}/transferred"], "the source run is a semeval run"),
    ("transfer-source-of-another-target-kind", ["transfer", str(TRANSFER), "--source-run", "{ws}/mosi-classifier-run",
                                                "--data", "{ws}/mosi.pkl", "--out", "{ws}/transferred"],
     "trained on sentiment (category); this transfer config declares sentiment (regression)"),
    # ---- compare on a run with broken predictions.csv (issue 12, item 5): never "no shared samples", exit 0
    ("compare-preds-missing", ["compare", "{ws}/good", "{ws}/preds-missing"], "predictions.csv: missing"),
    ("compare-preds-empty", ["compare", "{ws}/good", "{ws}/preds-empty"], "predictions.csv: empty"),
    ("compare-preds-garbage", ["compare", "{ws}/good", "{ws}/preds-garbage"], "unreadable CSV"),
    ("compare-preds-header-only", ["compare", "{ws}/good", "{ws}/preds-header"], "header but no rows"),
    ("compare-preds-foreign-first", ["compare", "{ws}/preds-foreign", "{ws}/good"], "no column 'split'"),
    ("compare-preds-truncated", ["compare", "{ws}/good", "{ws}/preds-truncated"], "cut short"),
    ("compare-preds-not-numbers", ["compare", "{ws}/good", "{ws}/preds-words"], "is not a number"),
    # ---- the other files of a run directory, through every reader
    *[(f"{cmd}-{name}", args, msg) for name, msg in [("preds-foreign", "no column 'split'"),
                                                      ("preds-other-target", "no column 'pred_valence'"),
                                                      ("metrics-words", "is not a number"),
                                                      ("baselines-foreign", "no column 'split'")]
      for cmd, args in [("evaluate-run", ["evaluate", "--run", f"{{ws}}/{name}"]), ("report", ["report", f"{{ws}}/{name}"]),
                        ("compare", ["compare", "{ws}/good", f"{{ws}}/{name}"])]],
    # ---- silent wrong results, now refused (issue 12, item 2) and misleading messages (item 7)
    ("train-val-split-the-file-lacks", ["train", str(MOSI), "--data", "{ws}/mosi.pkl", "--out", "{ws}/new-run",
                                        "--set", "split.val_split=nope"], "(it has: test, train, valid)"),
    ("train-val-split-is-train", ["train", str(MOSI), "--data", "{ws}/mosi.pkl", "--out", "{ws}/new-run",
                                  "--set", "split.val_split=train"], "is the training split 'train'"),
    ("train-modality-nan-in-every-training-row", ["train", str(MOSI), "--data", "{ws}/mosi-nan-train-audio.pkl",
                                                  "--out", "{ws}/new-run"], "modality 'audio' is missing"),
    # ---- published references, cross-validation with a test split (issue 10)
    ("train-reference-metric-the-task-lacks", ["train", "{ws}/mosi-bad-reference.yaml", "--data", "{ws}/mosi.pkl",
                                               "--out", "{ws}/new-run"], "names metric 'bleu', which the task does not report"),
    ("train-test-split-the-file-lacks", ["train", str(MOSI_DEFAULT), "--data", "{ws}/mosi.pkl", "--out", "{ws}/new-run",
                                         "--set", "split.test_split=heldout"], "(it has: test, train, valid)"),
    ("train-test-split-with-a-hold-out-kind", ["train", str(MOSI), "--data", "{ws}/mosi.pkl", "--out", "{ws}/new-run",
                                               "--set", "split.test_split=test"], "test_split applies to the cross-validation kinds"),
    ("evaluate-gold-outside-the-task-range", ["evaluate", "--pred", "{ws}/eval/pred.csv", "--gold",
                                              "{ws}/eval/gold-out-of-range.csv"], "valence value 7 in data row 3"),
    ("evaluate-run-gold-outside-the-run-range", ["evaluate", "--run", "{ws}/preds-out-of-range"],
     "is outside the declared range [-2, 2]"),
    ("train-ragged-csv-first-row", ["train", "{ws}/semeval.yaml", "--data", "{ws}/ragged-first.csv", "--out",
                                    "{ws}/new-run"], "data row 1 (line 2) has 7 fields, the header has 6"),
    ("train-ragged-csv-later-row", ["train", "{ws}/semeval.yaml", "--data", "{ws}/ragged-later.csv", "--out",
                                    "{ws}/new-run"], "data row 2 (line 3) has 7 fields, the header has 6"),
    ("evaluate-ragged-gold", ["evaluate", "--pred", "{ws}/eval/pred.csv", "--gold", "{ws}/ragged-first.csv"],
     "has 7 fields, the header has 6"),
    ("demo-config-a-folder", ["demo", "--config", "{ws}/occupied", "--out", "{ws}/demo-out"], "is a folder"),
    ("train-config-a-folder", ["train", "{ws}/occupied", "--data", "{ws}/data.csv", "--out", "{ws}/new-run"],
     "is a folder, expected a YAML file"),
    ("demo-out-a-file", ["demo", "--out", "{ws}/notes.txt"], "is a file"),
    # ---- refusals that already held: keep them holding
    ("evaluate-run-missing", ["evaluate", "--run", "{ws}/nothing-here"], "no such run directory"),
    ("evaluate-run-a-file", ["evaluate", "--run", "{ws}/notes.txt"], "not a run directory"),
    ("evaluate-run-not-a-run", ["evaluate", "--run", "{ws}/occupied"], "not a run directory"),
    ("compare-not-a-run", ["compare", "{ws}/good", "{ws}/occupied"], "not a run directory"),
    ("compare-bad-criteria", ["compare", "{ws}/good", "--criteria", "{ws}/bad-criteria.yaml"], "must be numbers"),
    ("report-missing-run", ["report", "{ws}/nothing-here"], "no such run directory"),
    ("report-out-is-a-folder", ["report", "{ws}/good", "--out", "{ws}/occupied"], "is a folder"),
    ("train-mlflow-uri-unknown-scheme", ["train", "{ws}/semeval.yaml", "--data", "{ws}/data.csv", "--out", "{ws}/new-run",
                                         "--mlflow-uri", "nosuch://host"], "MLflow tracking URI nosuch://host"),
    ("train-experiment-empty", ["train", "{ws}/semeval.yaml", "--data", "{ws}/data.csv", "--out", "{ws}/new-run",
                                "--experiment", ""], "tracking.experiment"),
    ("train-mlflow-server-unreachable", ["train", "{ws}/semeval.yaml", "--data", "{ws}/data.csv", "--out", "{ws}/new-run",
                                         "--mlflow-uri", "http://127.0.0.1:9"], "MLflow tracking URI http://127.0.0.1:9"),
    ("train-missing-config", ["train", "{ws}/nope.yaml", "--data", "{ws}/data.csv", "--out", "{ws}/new-run"], "no such file"),
    ("train-out-is-a-file", ["train", "{ws}/semeval.yaml", "--data", "{ws}/data.csv", "--out", "{ws}/notes.txt"],
     "is a file"),
    ("train-out-not-empty", ["train", "{ws}/semeval.yaml", "--data", "{ws}/data.csv", "--out", "{ws}/occupied"],
     "not empty"),
    ("train-overwrite-a-foreign-folder", ["train", "{ws}/semeval.yaml", "--data", "{ws}/data.csv", "--out",
                                          "{ws}/occupied", "--overwrite"], "not a run directory"),
    ("predict-missing-run", ["predict", "{ws}/nothing-here", "--data", "{ws}/data.csv", "--out", "{ws}/p.csv"],
     "no such run directory"),
    ("data-fetch-unknown", ["data", "fetch", "no-such-dataset", "--cache", "{ws}/cache"], "no-such-dataset"),
    ("data-fetch-missing-source", ["data", "fetch", "semeval2026-task2", "--cache", "{ws}/cache",
                                   "--source", "{ws}/nothing-here"], "no such file or folder"),
    # ---- model parameters, reader options, losses and the monitor: checked before the data is read (issue 12,
    # item 3; more in tests/test_params.py)
    *[(f"train-{name}", ["train", "{ws}/semeval.yaml", "--data", "{ws}/data.csv", "--out", "{ws}/new-run", "--set", s], msg)
      for name, s, msg in [("kernel-gamma-big", "model.within.valence.gamma=big", "within.valence.gamma: Input should be a valid number"),
                           ("kernel-folds-text", "model.folds=abc", "model user_level_kernel: folds:"),
                           ("kernel-unknown-parameter", "model.gama=2", "unknown parameter(s) gama"),
                           ("kernel-variant-unknown", "model.variant=dual", "variant must be one of exact, nystroem"),
                           ("kernel-landmarks-zero", "model.landmarks=0", "model user_level_kernel: landmarks:"),
                           ("kernel-landmarks-misspelt", "model.landmarks=atuo",
                            "landmarks: Input should be 'auto' or a valid integer, unable to parse string as an integer (got 'atuo')"),
                           ("kernel-landmarks-fraction", "model.landmarks=2.5", "landmarks: Input should be 'auto' or a valid integer"),
                           ("tfidf-max-train-zero", "model={{name: ridge_tfidf, max_train: 0}}",
                            "model ridge_tfidf: max_train: Input should be greater than or equal to 1"),
                           ("compute-engine-unknown", "compute.engine=ray", "compute.engine: Input should be 'local' or 'dask'"),
                           ("compute-workers-zero", "compute.workers=0", "compute.workers: Input should be greater than or equal to 1"),
                           ("monitor-bogus", "training.monitor=bogus", "training.monitor: 'bogus'"),
                           ("losses-unknown-target", "training.losses.dominance.ccc=1", "training.losses: 'dominance'"),
                           ("semeval-unknown-option", "data.options.max_len=3", "unknown data.options max_len for format semeval")]],
    # ---- a corpus too large for the model's variant: refused after reading, before encoding (issue 11)
    ("train-kernel-exact-too-large", ["train", "{ws}/semeval.yaml", "--data", "{ws}/data-20.csv", "--out", "{ws}/new-run",
                                      "--set", "model.variant=exact", "--set", "model.max_train=10"],
     "20 training samples exceed max_train=10 of variant exact"),
    ("train-tfidf-beyond-max-train", ["train", "{ws}/semeval.yaml", "--data", "{ws}/data-20.csv", "--out", "{ws}/new-run",
                                      "--set", "model={{name: ridge_tfidf, max_train: 10}}"],
     "ridge_tfidf: 20 training texts exceed max_train=10"),
    ("train-kernel-loo-beyond-landmarks", ["train", "{ws}/semeval.yaml", "--data", "{ws}/data-20.csv", "--out",
                                           "{ws}/new-run", "--set", "model.folds=0", "--set", "model.landmarks=10"],
     "folds: 0 (leave-one-user-out residuals) needs the dual"),
    # ---- tasks, protocols, category targets, own models, seeds and --overwrite (issue 9): refused before any work
    *[(f"train-{name}", ["train", "{ws}/semeval.yaml", "--data", "{ws}/data.csv", "--out", "{ws}/new-run", *sets], msg)
      for name, sets, msg in [
          ("task-unknown", ["--set", "task=nope"], "unknown task 'nope'"),
          ("split-kind-unknown", ["--set", "split.kind=loso"], "split.kind"),
          ("split-k-one", ["--set", "split.kind=group_kfold", "--set", "split.k=1"], "split.k"),
          ("split-inner-fraction-above-one", ["--set", "split.inner_fraction=1.5"], "split.inner_fraction"),
          ("split-group-folds-of-one-group", ["--set", "split.kind=group_kfold", "--set", "split.k=5"],
           "split.kind group_kfold needs at least 2 groups; the data has 1"),
          ("split-leave-one-group-out-of-one-group", ["--set", "split.kind=leave_one_group_out"],
           "split.kind leave_one_group_out needs at least 2 groups"),
          ("split-more-folds-than-samples", ["--set", "split.kind=kfold", "--set", "split.k=5000"],
           "kfold with k=5000 needs at least 5000 samples"),
          ("class-weights-unknown", ["--set", "training.class_weights=bogus"], "training.class_weights"),
          ("section-misspelt", ["--set", "modle.name=mlp"], "modle: Extra inputs are not permitted (did you mean `model`?)"),
          ("training-key-misspelt", ["--set", "training.patince=3"], "training.patince: Extra inputs are not permitted "
                                                                      "(did you mean `patience`?)"),
          ("target-key-misspelt", ["--set", "data.targets=[{{nmae: valence}}]"],  # not "name: Field required"
           "data.targets.0.nmae: Extra inputs are not permitted (did you mean `name`?)"),
          ("loss-ce-on-a-number", ["--set", "training.losses.valence.ce=1"], "ce cannot apply to regression target 'valence'"),
          ("split-column-missing", ["--set", "data.columns.split=part"], "missing split column 'part'"),
          ("features-match-no-column", ["--set", "data.options.features=[f_*]"], "matches no column"),
          ("own-model-does-not-import", ["--set", "model.name=no_such_package_xyz.mod:Model"], "does not import"),
          ("own-model-without-fit", ["--set", "model.name=collections:OrderedDict"], "has no fit and predict"),
          ("baseline-of-the-wrong-kind", ["--set", "baselines=[logistic_text]"],
           "baseline logistic_text cannot predict valence, arousal (it handles category targets)"),
          ("seeds-not-numbers", ["--seeds", "a,b"], "--seeds 'a,b'"),
          ("overwrite-and-resume", ["--overwrite", "--resume"], "--overwrite or --resume, not both"),
      ]],
    ("train-sequence-cell-transformer", ["train", str(ROOT / "configs" / "semeval2026-task2" / "v3.3.yaml"), "--data",
                                         "{ws}/data.csv", "--out", "{ws}/new-run", "--set", "model.cell=transformer"],
     "cell must be one of lstm, gru, not 'transformer'"),
    ("train-sequence-dropout-2", ["train", str(ROOT / "configs" / "semeval2026-task2" / "v3.3.yaml"), "--data",
                                  "{ws}/data.csv", "--out", "{ws}/new-run", "--set", "model.dropout=2"],
     "dropout: Input should be less than 1"),
    # ---- compare --reference / --all-pairs, ablate (issue 13)
    ("compare-reference-unknown", ["compare", "{ws}/good", "{ws}/good", "--reference", "nothere"], "--reference nothere"),
    ("compare-reference-and-all-pairs", ["compare", "{ws}/good", "--reference", "{ws}/good", "--all-pairs"], "not both"),
    *[(f"ablate-{name}", ["ablate", *args, "--data", "{ws}/data.csv", "--out", "{ws}/new-ablation", *more], msg)
      for name, args, more, msg in [
          ("same-config", ["{ws}/semeval.yaml", "{ws}/semeval.yaml"], [], "differ in nothing"),
          ("only-ignored-keys", ["{ws}/semeval.yaml", "{ws}/semeval-renamed.yaml"], [], "differ only in keys the model ignores (name)"),
          ("missing-config", ["{ws}/semeval.yaml", "{ws}/nope.yaml"], [], "no such file"),
          ("seeds-0", ["{ws}/semeval.yaml", "{ws}/semeval-latest.yaml"], ["--seeds", "0"], "--seeds 0: must be at least 1"),
          ("workers-0", ["{ws}/semeval.yaml", "{ws}/semeval-latest.yaml"], ["--workers", "0"], "--workers 0: must be at least 1"),
          ("resamples-10", ["{ws}/semeval.yaml", "{ws}/semeval-latest.yaml"], ["--resamples", "10"], "--resamples 10"),
          ("bad-storage", ["{ws}/semeval.yaml", "{ws}/semeval-latest.yaml"], ["--storage", "nosuch://host/db"],
           "--storage nosuch://host/db: cannot open the study"),
          ("report-only-without-plan", ["{ws}/semeval.yaml", "{ws}/semeval-latest.yaml"], ["--report-only"], "plan.json"),
      ]],
    ("ablate-missing-data", ["ablate", "{ws}/semeval.yaml", "{ws}/semeval-latest.yaml", "--data", "{ws}/nope.csv",
                             "--out", "{ws}/new-ablation"], "no such file"),
    ("ablate-out-is-a-file", ["ablate", "{ws}/semeval.yaml", "{ws}/semeval-latest.yaml", "--data", "{ws}/data.csv",
                              "--out", "{ws}/notes.txt"], "is a file"),
    # ---- the text-embedding cache (issue 11): a cache folder that is a file is said before encoding
    ("train-feature-cache-a-file", ["train", "{ws}/semeval.yaml", "--data", "{ws}/data-20.csv", "--out", "{ws}/new-run",
                                    "--set", "features.cache_dir={ws}/notes.txt"], "notes.txt: is a file, not a folder"),
    # ---- settings nothing reads (issue 21.7): a split key the protocol does not read names who would
    ("train-split-key-the-protocol-ignores", ["train", str(MOSI_DEFAULT), "--data", "{ws}/mosi.pkl", "--out", "{ws}/new-run",
                                              "--set", "split.val_split=nope"],
     "split.val_split: protocol group_kfold does not read it (read by: given)"),
    ("train-k-under-leave-one-group-out", ["train", str(MOSI_DEFAULT), "--data", "{ws}/mosi.pkl", "--out", "{ws}/new-run",
                                           "--set", "split.kind=leave_one_group_out", "--set", "split.k=3"],
     "split.k: protocol leave_one_group_out does not read it (read by: group_kfold, kfold)"),
]


@pytest.mark.parametrize("args, fragment", [pytest.param(a, f, id=i) for i, a, f in CASES])
def test_bad_input_is_one_line_exit_2_and_touches_nothing(workspace, capsys, args, fragment):
    refused_untouched(workspace, args, fragment, capsys)


def one_line_refusal(code: int, err: str, fragment: str) -> str:
    """The one error line of a refused command (exit code 2, no traceback), which must hold ``fragment``."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err, err
    assert code == 2, (code, err)
    assert len(lines) == 1, err
    assert fragment in lines[0], lines[0]
    return lines[0]


def refused_untouched(ws: Path, args: list[str], fragment: str, capsys) -> None:  # noqa: ANN001
    """Run one case (``{ws}`` in ``args`` is the workspace): refused in one line, and ``ws`` exactly as it was."""
    before = snapshot(ws)
    code, _, err = run_cli([a.format(ws=ws) for a in args], capsys)
    one_line_refusal(code, err, fragment)
    assert snapshot(ws) == before, "a refused command changed the workspace"


def test_cases_have_unique_ids():
    ids = [c[0] for c in CASES]
    assert len(ids) == len(set(ids))


# --------------------------------------------------------------------------- issue 21: check first, then work
# Issue 21, "check first, then work": refusals that printed progress or read and encoded the data
# before their one error line now come before the first slow step.
#
# - ``train --resume`` with a checkpoint of other training settings (or an unreadable one) is refused
#   before the data is read (network and data are still checked when the fit starts);
# - ``data fetch --url file://...`` of a missing file, and an unreachable URL, are one line without
#   a "Downloading" line before it;
# - `transfer` with a split the target file lacks is refused before the text is encoded;
# - a feature the model needs and the data lacks is refused before text is encoded (`train` and `predict`).

def _never(*args, **kwargs):
    raise AssertionError("the data was read before the refusal")


def test_resume_with_other_settings_or_a_broken_checkpoint_is_refused_before_the_data(tmp_path, capsys, monkeypatch):
    import affectlab.pipeline as pipeline

    data = speaker_table(tmp_path / "t.csv")
    cfg = table_config(tmp_path / "mlp.yaml", "mlp", extra="training: {max_epochs: 2}\n")
    out = tmp_path / "run"
    code, _, err = run_cli(["train", cfg, "--data", data, "--out", out, "--quiet"], capsys)
    assert code == 0, err
    monkeypatch.setattr(pipeline, "read_corpus", _never)
    code, _, err = run_cli(["train", cfg, "--data", data, "--out", out, "--resume", "--set", "training.lr=0.5"], capsys)
    one_line_refusal(code, err, "the checkpoint is of other training settings")
    ckpt = out / "lightning" / "last.ckpt"
    ckpt.write_bytes(ckpt.read_bytes()[:100])
    code, _, err = run_cli(["train", cfg, "--data", data, "--out", out, "--resume"], capsys)
    one_line_refusal(code, err, "unreadable checkpoint, truncated or corrupt")


def test_fetch_from_a_missing_file_url_is_one_line(tmp_path, capsys):
    missing = tmp_path / "nothing.zip"
    code, _, err = run_cli(["data", "fetch", "semeval2026-task2", "--cache", tmp_path / "cache", "--url", missing.as_uri()], capsys)
    one_line_refusal(code, err, "is not there")
    assert not (tmp_path / "cache").exists()


def test_transfer_with_a_split_the_target_lacks_is_refused_before_encoding(source, tmp_path, capsys, monkeypatch):  # noqa: F811
    import affectlab.transfer.run as transfer_run

    run, _, target = source
    monkeypatch.setattr(transfer_run, "attach_features", _never)
    out = tmp_path / "out"
    code, _, err = run_cli(["transfer", _config(tmp_path), "--source-run", run, "--data", target, "--out", out, "-q",
                            "--set", "split.val_split=nope"], capsys)
    one_line_refusal(code, err, "split.val_split is 'nope'")
    assert not out.exists()


@pytest.mark.parametrize("extra, fragment", [
    (["--set", "transfer.k=100000"], "transfer.k is 100000 but the target training split has only"),
    (["--set", "data.options.modalities=[text, vision]"], "the target data lacks modality 'audio'"),
])
def test_transfer_refusals_that_need_no_embeddings_come_before_encoding(source, tmp_path, capsys, monkeypatch,  # noqa: F811
                                                                        extra, fragment):
    import affectlab.transfer.run as transfer_run

    run, _, target = source
    monkeypatch.setattr(transfer_run, "attach_features", _never)
    out = tmp_path / "out"
    code, _, err = run_cli(["transfer", _config(tmp_path), "--source-run", run, "--data", target, "--out", out, "-q",
                            *extra], capsys)
    one_line_refusal(code, err, fragment)
    assert not out.exists()


def test_a_feature_the_model_needs_and_the_data_lacks_is_refused_before_encoding(tmp_path, capsys, monkeypatch):
    """ridge_tabular on a table with text but no feature columns, beside a text baseline: refused
    before the baseline's text is encoded (it was encoded first, then the fit refused)."""
    import pandas as pd

    import affectlab.pipeline as pipeline

    frame = pd.read_csv(speaker_table(tmp_path / "t.csv"))
    frame["text"] = [f"sentence {i}" for i in range(len(frame))]
    frame[["id", "spk", "text", "y"]].to_csv(tmp_path / "text.csv", index=False)
    cfg = tmp_path / "c.yaml"
    cfg.write_text("task: regression\ndata:\n  format: table\n  columns: {id: id, group: spk, text: text}\n"
                   "  targets: [{name: y, low: -2, high: 2}]\nsplit: {kind: group}\nmodel: {name: ridge_tabular}\n"
                   "baselines: [ridge_embedding]\n")
    monkeypatch.setattr(pipeline, "attach_features", _never)
    code, _, err = run_cli(["train", cfg, "--data", tmp_path / "text.csv", "--out", tmp_path / "run"], capsys)
    one_line_refusal(code, err, "model needs feature 'tabular', which the data does not provide")
    assert not (tmp_path / "run").exists()


# --------------------------------------------------------------------------- issue 21: ablate refuses before any trial
# Issue 21: ``ablate`` refuses BASE and NEW of different tasks before any trial, data that BASE
# cannot read before any trial, and names the first failed trial's error when no seed of BASE and
# NEW finished (it only said "no finished run of a common seed yet; see the failed trials").

BASE = {"task": "regression", "name": "v1", "data": {"format": "table", "columns": {"id": "id"},
                                                     "targets": [{"name": "y", "low": 0, "high": 1}],
                                                     "options": {"features": ["f_*"]}},
        "split": {"kind": "kfold", "k": 2}, "model": {"name": "ridge_tabular"}, "baselines": []}


def write(path: Path, cfg: dict) -> Path:
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_different_tasks_are_refused_before_any_trial(tmp_path, capsys):
    base = write(tmp_path / "a.yaml", BASE)
    new = write(tmp_path / "b.yaml", {**BASE, "task": "classification", "name": "v2",
                                       "data": {**BASE["data"], "targets": [{"name": "y", "kind": "category", "classes": ["a", "b"]}]},
                                       "model": {"name": "logistic_tabular"}})
    data = tmp_path / "d.csv"
    data.write_text("id,f_a,y\n1,0.1,0.2\n")
    out = tmp_path / "abl"
    code, _, err = run_cli(["ablate", base, new, "--data", data, "--seeds", "1", "--out", out], capsys)
    one_line_refusal(code, err, "is task 'regression' and")
    assert "is task 'classification'" in err and not out.exists()


def test_data_base_cannot_read_is_refused_before_any_trial(tmp_path, capsys):
    base = write(tmp_path / "a.yaml", BASE)
    new = write(tmp_path / "b.yaml", {**BASE, "name": "v2", "model": {"name": "ridge_tabular", "alphas": [3.0]}})
    data = tmp_path / "d.csv"
    data.write_text("id,f_a,label\n1,0.1,0.2\n2,0.3,0.4\n")  # no column y
    out = tmp_path / "abl"
    code, _, err = run_cli(["ablate", base, new, "--data", data, "--seeds", "1", "--out", out], capsys)
    line = one_line_refusal(code, err, "d.csv")
    assert "'y'" in line and not out.exists()


def test_every_trial_failing_names_the_first_error(tmp_path):
    base = write(tmp_path / "a.yaml", BASE)
    new = write(tmp_path / "b.yaml", {**BASE, "name": "v2", "model": {"name": "ridge_tabular", "alphas": [3.0]}})
    data = tmp_path / "d.csv"
    data.write_text("id,f_a,y\n1,0.1,0.2\n")

    def broken(cfg, data, out):
        raise AffectlabError(f"{data}: simulated failure of seed {cfg.seed}")

    with pytest.raises(AffectlabError, match=r"no finished run of a common seed: \d+ trial\(s\) failed, the first "
                                             r"(BASE|NEW) seed \d: .*simulated failure of seed \d"):
        run_ablation(base, new, data, tmp_path / "abl", seeds=1, n_resamples=50, train_fn=broken)


# --------------------------------------------------------------------------- issue 20: saved models, new corpora
def _forest_run(tmp_path: Path) -> tuple[Path, Path]:
    """A small random-forest run (skops state) and the table it was trained on."""
    import numpy as np
    import pandas as pd

    import affectlab

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"id": [f"r{i}" for i in range(40)], "who": [f"u{i % 5}" for i in range(40)],
                          "f_a": rng.normal(size=40), "f_b": rng.normal(size=40)})
    frame["v"] = (frame.f_a - frame.f_b).clip(-4, 4)
    frame.to_csv(tmp_path / "t.csv", index=False)
    cfg = {"task": "regression", "features": {"text": {"kind": "none"}}, "split": {"kind": "group"}, "baselines": [],
           "data": {"format": "table", "columns": {"id": "id", "group": "who"},
                    "targets": [{"name": "v", "low": -4, "high": 4}], "options": {"features": ["f_*"]}},
           "model": {"name": "sklearn.ensemble:RandomForestRegressor", "n_estimators": 5}}
    run = affectlab.train(cfg, tmp_path / "t.csv", tmp_path / "run")
    return run.path, tmp_path / "t.csv"


def test_a_checkpoint_with_a_type_skops_does_not_trust_is_refused_in_one_line(tmp_path, capsys):
    import numpy as np
    import skops.io as sio
    from sklearn.gaussian_process import GaussianProcessRegressor

    run, data = _forest_run(tmp_path)
    ckpt = torch.load(run / "checkpoint.ckpt", weights_only=True)
    assert ckpt["state"]["mode"] == "skops"
    gp = GaussianProcessRegressor(optimizer=None).fit(np.eye(3), np.arange(3.0))  # a tampered checkpoint
    ckpt["state"]["estimators"] = [torch.frombuffer(bytearray(sio.dumps(gp)), dtype=torch.uint8)]
    torch.save(ckpt, run / "checkpoint.ckpt")
    before = snapshot(tmp_path)
    code, _, err = run_cli(["predict", run, "--data", data, "--out", tmp_path / "p.csv", "--trust-code"], capsys)
    err = "\n".join(line for line in err.splitlines() if "(code outside affectlab runs)" not in line)  # the import note
    one_line_refusal(code, err, "holds types skops does not trust: sklearn.gaussian_process")
    assert snapshot(tmp_path) == before


def test_a_feature_dimension_mismatch_names_what_made_the_features(tmp_path, capsys):
    """predict on a pickle extracted with another config: the line names the extractors the model's
    training data came from (its pickle's config) and this file's, not just the two numbers."""
    import pickle

    import numpy as np

    from test_corpus_mmsa import make_split

    def extracted(path: Path, audio_dim: int, audio: dict, labels: str) -> Path:
        data = {name: make_split(n, seed=i, prefix=f"{name}_v") for i, (name, n) in
                enumerate({"train": 40, "valid": 12, "test": 12}.items())}
        for part in data.values():
            part["audio"] = np.random.default_rng(0).normal(size=(len(part["id"]), 1, audio_dim)).astype(np.float32)
        data["config"] = {"extractors": [e for e in ("egemaps", "praat") if audio.get(e)],
                          "params": {"audio": audio}, "labels": {"path": labels}}
        path.write_bytes(pickle.dumps(data, protocol=4))
        return path

    train = extracted(tmp_path / "train.pkl", 4, {"egemaps": True, "praat": True, "sequence": "functionals"}, "a.csv")
    other = extracted(tmp_path / "other.pkl", 7, {"egemaps": True, "praat": True, "compare": True,
                                                  "sequence": "functionals"}, "b.csv")
    cfg = tmp_path / "c.yaml"
    cfg.write_text("task: mosi\ndata: {format: mmsa}\nsplit: {kind: given}\nmodel: {name: ridge_audio}\nbaselines: []\n")
    assert run_cli(["train", cfg, "--data", train, "--out", tmp_path / "run"], capsys)[0] == 0
    before = snapshot(tmp_path)
    code, _, err = run_cli(["predict", tmp_path / "run", "--data", other, "--out", tmp_path / "p.csv"], capsys)
    line = one_line_refusal(code, err, "other.pkl: feature 'audio' has 7 dimensions (eGeMAPS + praat + ComParE 2016 "
                                       "functionals, affectlab extract of b.csv); the model was trained on 4")
    # the checkpoint records what made the training features (it no longer needs the training pickle on disk)
    assert "the model was trained on 4 (eGeMAPS + praat functionals, affectlab extract of a.csv)" in line
    assert line.endswith("extract it with the same config as the training data")
    assert snapshot(tmp_path) == before
