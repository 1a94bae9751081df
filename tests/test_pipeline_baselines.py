"""Default baselines follow the data (issue 20, item 1): a text baseline is not run, and no encoder
is loaded, when the text is blank; the default logistic regression is one fixed-C fit; each
baseline's seconds are recorded; named baselines keep their wide inner search."""

import json

import numpy as np
import pandas as pd
import pytest

from affectlab.core.notes import Notes
from affectlab.corpus.base import Corpus, TargetSpec
from affectlab.experiment import resolve
from affectlab.models.classifiers import DEFAULT_BASELINE_C, LOGISTIC_CS
from affectlab.pipeline import choose_baselines, train_run

CLASSES = ("angry", "happy", "sad")


def speech_table(n_speakers: int = 6, per_class: int = 4, seed: int = 0) -> pd.DataFrame:
    """Feature columns f_0..f_4 that separate three emotions, six speakers, a blank text column."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_speakers):
        for c, name in enumerate(CLASSES):
            for i in range(per_class):
                x = rng.normal(size=5) + 2.0 * np.eye(3, 5)[c]
                rows.append({"id": f"s{s}_{name}_{i}", "speaker": f"s{s}", "text": "", "emotion": name,
                             **{f"f_{j}": float(v) for j, v in enumerate(x)}})
    return pd.DataFrame(rows)


def table_config(**over):
    raw = {"task": "classification",
           "data": {"format": "table", "columns": {"id": "id", "group": "speaker", "text": "text"},
                    "options": {"features": ["f_*"]},
                    "targets": [{"name": "emotion", "kind": "category", "classes": list(CLASSES)}]},
           "split": {"kind": "group_kfold", "k": 3}, "model": {"name": "majority"}}
    raw.update(over)
    return raw


def speech_pickle(path, frame: pd.DataFrame):
    """An audio-only MMSA pickle as ``affectlab extract`` writes one: functionals in ``audio``, a
    ``raw_text`` of empty strings, speakers in ``group``, the emotion as ``category_emotion``."""
    import pickle

    x = frame[[f"f_{j}" for j in range(5)]].to_numpy(np.float32)[:, None, :]
    part = {"id": frame["id"].tolist(), "raw_text": [""] * len(frame), "group": frame["speaker"].tolist(),
            "audio": x, "audio_lengths": np.ones(len(frame), dtype=np.int64),
            "category_emotion": frame["emotion"].tolist()}
    path.write_bytes(pickle.dumps({"train": part}, protocol=4))
    return path


def pickle_config(**over):
    raw = {"task": "classification",
           "data": {"format": "mmsa", "options": {"modalities": ["audio"]},
                    "targets": [{"name": "emotion", "kind": "category", "classes": list(CLASSES)}]},
           "split": {"kind": "group_kfold", "k": 3}, "model": {"name": "majority"}}
    raw.update(over)
    return raw


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    """A run with the task's default baselines on an audio-only pickle; the encoder must not load."""
    import affectlab.runner as runner

    tmp = tmp_path_factory.mktemp("defaults")
    frame = speech_table()
    data = speech_pickle(tmp / "speech.pkl", frame)
    notes = Notes()
    mp = pytest.MonkeyPatch()

    def no_encoder(*args, **kwargs):
        raise AssertionError("a sentence encoder was asked to encode the blank text")

    mp.setattr(runner, "embed_texts", no_encoder)
    try:
        run = train_run(resolve(pickle_config()), data, tmp / "run", notes=notes)
    finally:
        mp.undo()
    return run, notes, frame


def test_default_baselines_follow_the_data_and_say_what_was_left_out(default_run):
    run, notes, _ = default_run
    summary = json.loads((run / "summary.json").read_text())
    assert set(summary["baselines"]) == {"logistic_audio"}  # majority is the model itself
    left_out = [line for line in notes.lines if line.startswith("default baselines left out: ")]
    assert len(left_out) == 1, notes.lines
    assert "logistic_text (the data has no text)" in left_out[0]
    assert "logistic_tabular (the data has no 'tabular' features)" in left_out[0]
    assert "logistic_vision (the data has no 'vision' features)" in left_out[0]


def test_each_baseline_time_is_recorded_under_cross_validation(default_run):
    run, _, _ = default_run
    summary = json.loads((run / "summary.json").read_text())
    seconds = summary["baseline_fit_seconds"]
    assert set(seconds) == {"logistic_audio"} and seconds["logistic_audio"] > 0
    per_fold = [f["baseline_seconds"]["logistic_audio"] for f in summary["folds"]]
    assert len(per_fold) == 3 and seconds["logistic_audio"] == pytest.approx(sum(per_fold))
    assert summary["timings"]["fit"] is not None and summary["timings"]["fit"] >= 0


def test_the_default_logistic_is_one_fit_at_the_documented_c(default_run):
    """Its out-of-fold predictions = scikit-learn's LogisticRegression(C=0.01) on each training
    fold's z-scored features (population deviation, as the baseline standardises globally)."""
    from sklearn.linear_model import LogisticRegression

    run, _, frame = default_run
    base = pd.read_csv(run / "baselines.csv")
    got = base[base.baseline == "logistic_audio"].set_index("id")
    X = frame[[f"f_{j}" for j in range(5)]].to_numpy(float)
    y = frame["emotion"].to_numpy()
    ids = frame["id"].to_numpy()
    for fold in sorted(got["fold"].unique()):
        held = np.isin(ids, got.index[got["fold"] == fold])
        mu, sd = X[~held].mean(0), X[~held].std(0)
        ref = LogisticRegression(C=DEFAULT_BASELINE_C, max_iter=3000).fit((X[~held] - mu) / sd, y[~held])
        assert list(got.loc[ids[held], "pred_emotion"]) == list(ref.predict((X[held] - mu) / sd))


def test_named_baselines_keep_their_inner_search():
    """Named in baselines:, logistic_<m> selects C among the nine values as before; as a default, one C."""
    named = resolve(table_config(baselines=["logistic_tabular"]))
    assert named.baseline_spec("logistic_tabular").params.Cs == list(LOGISTIC_CS)
    assert resolve(table_config()).baseline_spec("logistic_tabular").params.Cs == [DEFAULT_BASELINE_C]


def test_a_named_baseline_is_never_left_out_silently():
    """A named baseline on data without its modality is not dropped with a note: it is the user's choice."""
    exp = resolve(table_config(baselines=["logistic_tabular", "majority"], model={"name": "logistic_tabular"}))
    frame = speech_table()
    corpus = Corpus(frame.rename(columns={"speaker": "group"})[["id", "group", "text", "emotion"]],
                    targets=(TargetSpec("emotion", kind="category", classes=CLASSES),),
                    features={"tabular": frame[[f"f_{j}" for j in range(5)]].to_numpy(np.float32)})
    notes = Notes()
    chosen = choose_baselines(exp, corpus, len(corpus), notes)
    assert list(chosen) == ["majority"] and notes.lines == []  # the model itself is not its own baseline


def test_real_text_keeps_the_text_baselines():
    """With a non-blank text, logistic_text stays among the defaults (only the other modalities go)."""
    exp = resolve(table_config())
    frame = speech_table()
    frame.loc[0, "text"] = "so angry"
    corpus = Corpus(frame.rename(columns={"speaker": "group"})[["id", "group", "text", "emotion"]],
                    targets=(TargetSpec("emotion", kind="category", classes=CLASSES),))
    notes = Notes()
    chosen = choose_baselines(exp, corpus, len(corpus), notes)
    assert "logistic_text" in chosen and "logistic_audio" not in chosen
    assert "logistic_text" not in notes.lines[0]
