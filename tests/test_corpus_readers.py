"""SemEval and generic table readers: good files and every kind of bad input."""

import numpy as np
import pandas as pd
import pytest

from affectlab.config import DataConfig
from affectlab.corpus import read_corpus
from affectlab.corpus.semeval import read_semeval
from affectlab.core.errors import AffectlabError

from conftest import semeval_frame


def write(tmp_path, frame, name="d.csv"):
    p = tmp_path / name
    frame.to_csv(p, index=False)
    return p


def test_semeval_reader_maps_columns_and_orders_by_time(tmp_path):
    frame = semeval_frame(n_users=3)
    corpus = read_semeval(write(tmp_path, frame), require_labels=True)
    assert len(corpus) == len(frame)
    assert corpus.target_names == ["valence", "arousal"]
    assert corpus.frame["id"].tolist() == frame["text_id"].astype(str).tolist()
    assert corpus.frame["group"].nunique() == 3
    assert corpus.frame["is_words"].dtype == bool
    np.testing.assert_array_equal(corpus.target_matrix()[:, 0], frame["valence"].to_numpy())
    assert list(corpus.output_frame().columns) == ["user_id", "text_id"]


def test_test_file_without_labels_reads(tmp_path):
    frame = semeval_frame(n_users=2).drop(columns=["valence", "arousal"]).assign(is_seen_user=True)
    corpus = read_semeval(write(tmp_path, frame))
    assert not corpus.has_labels and "is_seen_user" in corpus.frame


@pytest.mark.parametrize("mutate,message", [
    (lambda f: f.drop(columns=["text"]), "missing text column 'text'"),
    (lambda f: f.rename(columns={"user_id": "userid"}), "did you mean 'userid'"),
    (lambda f: f.assign(valence=f.valence.astype(object).where(f.index != 3, "high")), "valence value 'high' in data row 4 is not a number"),
    (lambda f: f.assign(arousal=f.arousal.where(f.index != 0, 5)), "arousal value 5 in data row 1 is outside the declared range"),
    (lambda f: f.assign(text=f.text.where(f.index != 2, "   ")), "empty text in data row 3"),
    (lambda f: f.assign(text_id=f.text_id.where(f.index != 1, f.text_id[0])), "duplicate id"),
    (lambda f: f.assign(timestamp=f.timestamp.where(f.index != 0, "yesterday")), "neither a number nor a date"),
    (lambda f: f.drop(columns=["arousal"]), "missing target column 'arousal'"),
])
def test_bad_semeval_input_is_one_line(tmp_path, mutate, message):
    path = write(tmp_path, mutate(semeval_frame(n_users=2)))
    with pytest.raises(AffectlabError) as err:
        read_semeval(path, require_labels=True)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_generic_table_with_column_map_and_parquet(tmp_path):
    frame = pd.DataFrame({"clip": ["a", "b", "c"], "spk": ["s1", "s1", "s2"], "t": [3, 1, 2],
                          "utt": ["x", "y", "z"], "score": [0.5, -0.5, 0.0]})
    p = tmp_path / "d.parquet"
    frame.to_parquet(p)
    cfg = DataConfig(format="table", columns={"id": "clip", "group": "spk", "order": "t", "text": "utt"},
                     targets=[{"name": "score", "low": -1, "high": 1}])
    corpus = read_corpus(p, cfg, require_labels=True)
    assert corpus.frame["order"].tolist() == [3.0, 1.0, 2.0]
    assert list(corpus.output_frame().columns) == ["spk", "clip"]


def test_unknown_format_lists_choices(tmp_path):
    p = write(tmp_path, semeval_frame(n_users=1))
    with pytest.raises(AffectlabError, match="unknown data format 'nope'; choose from"):
        read_corpus(p, DataConfig(format="nope"))


def test_timestamps_become_seconds():
    from affectlab.corpus.base import parse_order

    seconds = parse_order(pd.Series(["1970-01-01 00:00:10", "2021-06-08 12:26:16", "2021-06-08 12:27:16"]), "t", "s")
    assert seconds[0] == 10.0 and seconds[2] - seconds[1] == 60.0


def _numeric_table(n=6):
    return pd.DataFrame({"id": [f"s{i}" for i in range(n)], "f_1": np.arange(n, dtype=float),
                         "f_2": np.arange(n)[::-1].astype(float), "other": ["x"] * n, "y": np.linspace(0, 1, n)})


def test_table_reader_takes_a_dataframe_and_numeric_feature_columns(tmp_path):
    frame = _numeric_table()
    cfg = DataConfig(format="table", columns={"id": "id"}, targets=[{"name": "y", "low": 0, "high": 1}],
                     options={"features": ["f_*"]})
    corpus = read_corpus(frame, cfg, require_labels=True)
    assert corpus.name == "DataFrame" and corpus.features["tabular"].shape == (6, 2)
    assert corpus.features["tabular"].dtype == np.float32 and corpus.meta["feature_columns"] == ["f_1", "f_2"]
    assert "other" in corpus.frame and "f_1" not in corpus.frame  # feature columns become the array
    from_csv = read_corpus(write(tmp_path, frame), cfg, require_labels=True)
    np.testing.assert_array_equal(from_csv.features["tabular"], corpus.features["tabular"])
    np.testing.assert_array_equal(from_csv.target_matrix(), corpus.target_matrix())


@pytest.mark.parametrize("features,mutate,message", [
    (["g_*"], None, "matches no column"),
    ("f_1", lambda f: f.assign(f_1=["1", "2", "x", "4", "5", "6"]), r"f_1 value 'x' in the row with index 2 \(row 3 of the frame\) is not a number"),
    ([3], None, "must be a list of column names"),
    (["f_1"], lambda f: f.assign(y=["a"] * 6), r"DataFrame: y value 'a' in the row with index 0 \(row 1 of the frame\) is not a number"),
])
def test_bad_numeric_tables_are_one_line(features, mutate, message):
    frame = _numeric_table()
    if mutate is not None:
        frame = mutate(frame)
    cfg = DataConfig(format="table", columns={"id": "id"}, targets=[{"name": "y"}], options={"features": features})
    with pytest.raises(AffectlabError, match=message):
        read_corpus(frame, cfg, require_labels=True)


# --------------------------------------------------------------------------- the Reader spec

def test_every_format_is_one_reader_spec_with_its_options_and_targets():
    from affectlab.corpus import READERS, Reader, get_reader
    from affectlab.corpus.csd import CsdOptions
    from affectlab.corpus.mmsa import MmsaOptions
    from affectlab.corpus.table import TableOptions

    assert READERS.names() == ["csd", "mmsa", "semeval", "table"]
    expected = {"table": (TableOptions, ()), "semeval": (TableOptions, ("valence", "arousal")),
                "mmsa": (MmsaOptions, ("sentiment",)), "csd": (CsdOptions, ("sentiment",))}
    for name, (options, targets) in expected.items():
        reader = get_reader(name)
        assert isinstance(reader, Reader) and reader.name == name and reader.Options is options
        assert tuple(t.name for t in reader.default_targets) == targets
        assert get_reader(reader) is reader
    assert [(t.low, t.high) for t in get_reader("semeval").default_targets] == [(-2.0, 2.0), (0.0, 2.0)]
    assert get_reader("table").reads_frames and not get_reader("mmsa").reads_frames


def test_reader_check_options_gives_typed_options_or_one_line():
    from affectlab.corpus import get_reader

    opts = get_reader("mmsa").check_options({"nonfinite": "mean", "trust_pickle": "true"}, "c.yaml")
    assert (opts.nonfinite, opts.trust_pickle, opts.text_source) == ("mean", True, "features")  # coerced, defaults
    for raw, message in [({"nonfinite": "drop"}, "c.yaml: data.options.nonfinite must be one of zero, mean, error, not 'drop'"),
                         ({"max_len": 3}, ("c.yaml: unknown data.options max_len for format mmsa (known: label_key, "
                                           "modalities, nonfinite, text_source, trust_pickle)")),
                         (["features"], "c.yaml: data.options must be a mapping")]:
        with pytest.raises(AffectlabError) as err:
            get_reader("mmsa").check_options(raw, "c.yaml")
        assert str(err.value) == message
    with pytest.raises(AffectlabError, match=r"^c.yaml: data.options.label_column: Input should be greater than or equal to 0"):
        get_reader("csd").check_options({"label_column": -1}, "c.yaml")


def test_reader_reads_and_reads_gold_like_read_corpus(tmp_path):
    from affectlab.corpus import get_reader

    path = tmp_path / "train.csv"
    frame = semeval_frame(n_users=3, lo=4, hi=5)
    frame.to_csv(path, index=False)
    reader = get_reader("semeval")
    via_spec = reader.read_corpus(path, DataConfig(format="semeval"))
    via_call = reader(path, DataConfig(format="semeval"))
    via_read = read_corpus(path, DataConfig(format="semeval"))
    for c in (via_call, via_read):
        pd.testing.assert_frame_equal(c.frame, via_spec.frame)
    gold = reader.read_gold(path, DataConfig(format="semeval"))
    assert np.isfinite(gold.target_matrix()).all() and len(gold) == len(frame)
    unlabelled = tmp_path / "test.csv"
    frame.drop(columns=["valence", "arousal"]).to_csv(unlabelled, index=False)
    reader.read_corpus(unlabelled, DataConfig(format="semeval"))  # a test file reads ...
    with pytest.raises(AffectlabError, match="valence"):
        reader.read_gold(unlabelled, DataConfig(format="semeval"))  # ... but is no gold


def test_a_registered_reader_is_read_by_read_corpus_and_refuses_frames(tmp_path):
    from affectlab.corpus import READERS, ReaderOptions, get_reader, register_reader
    from affectlab.corpus.base import Corpus, TargetSpec

    class LinesOptions(ReaderOptions):
        upper: bool = False

    @register_reader("test_lines", options=LinesOptions, default_targets=(TargetSpec("y", 0, 1),))
    def read_lines(path, cfg=None, *, require_labels=False):
        opts = get_reader("test_lines").check_options(cfg.options, str(path))
        lines = [s.upper() if opts.upper else s for s in path.read_text().split()]
        return Corpus(pd.DataFrame({"id": lines, "group": lines, "order": range(len(lines)), "text": lines}))

    try:
        p = tmp_path / "l.txt"
        p.write_text("a b")
        assert read_corpus(p, DataConfig(format="test_lines", options={"upper": True})).frame["id"].tolist() == ["A", "B"]
        with pytest.raises(AffectlabError, match="unknown data.options lower for format test_lines"):
            read_corpus(p, DataConfig(format="test_lines", options={"lower": True}))
        with pytest.raises(AffectlabError, match="a DataFrame is read as a table"):
            read_corpus(pd.DataFrame({"id": ["a"]}), DataConfig(format="test_lines"))
    finally:
        READERS._items.pop("test_lines")  # other tests list the built-in formats
