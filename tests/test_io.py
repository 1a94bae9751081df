import pandas as pd
import pytest

from affectlab.core.errors import AffectlabError
from affectlab.core.io import atomic_output, read_table, write_csv


def test_atomic_output_leaves_target_untouched_on_failure(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_output(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]  # no temp file left behind


def test_write_csv_round_trip(tmp_path):
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    write_csv(tmp_path / "f.csv", frame)
    assert pd.read_csv(tmp_path / "f.csv").equals(frame)


@pytest.mark.parametrize("content,message", [
    (b"", "file is empty"),
    (b"a,b\n", "no rows"),
    (b"a,b\n\xff\xfe,1\n", "not UTF-8"),
])
def test_read_table_bad_files(tmp_path, content, message):
    p = tmp_path / "bad.csv"
    p.write_bytes(content)
    with pytest.raises(AffectlabError, match=message):
        read_table(p)


def test_read_table_missing_and_folder(tmp_path):
    with pytest.raises(AffectlabError, match="no such file"):
        read_table(tmp_path / "nope.csv")
    with pytest.raises(AffectlabError, match="is a folder"):
        read_table(tmp_path)


def test_read_parquet_and_keep_string_ids(tmp_path):
    pd.DataFrame({"id": ["007", "008"], "v": [1.0, 2.0]}).to_parquet(tmp_path / "f.parquet")
    assert read_table(tmp_path / "f.parquet")["id"].tolist() == ["007", "008"]
    (tmp_path / "f.csv").write_text("id,v\n007,1\n")
    assert read_table(tmp_path / "f.csv")["id"].tolist() == ["007"]


def test_atomic_output_gets_normal_permissions(tmp_path):
    import os
    import stat

    write_csv(tmp_path / "f.csv", pd.DataFrame({"a": [1]}))
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((tmp_path / "f.csv").stat().st_mode) == 0o666 & ~umask


def test_read_table_takes_a_dataframe_as_the_csv_it_stands_for(tmp_path):
    frame = pd.DataFrame({"id": ["007", "8"], "v": [0.5, None], "n": [1, 2], "flag": [True, False]})
    got = read_table(frame)
    frame.to_csv(tmp_path / "f.csv", index=False)
    from_csv = read_table(tmp_path / "f.csv")
    assert got.values.tolist() == from_csv.values.tolist() == [["007", "0.5", "1", "True"], ["8", "", "2", "False"]]
    assert frame["v"].isna().sum() == 1  # the caller's frame is not changed


@pytest.mark.parametrize("frame,message", [
    (pd.DataFrame({"a": []}), "DataFrame: has no rows"),
    (pd.DataFrame(), "DataFrame: has no columns"),
    (pd.DataFrame([[1, 2]], columns=["a", "a"]), "duplicate column 'a'"),
])
def test_read_table_bad_dataframes(frame, message):
    with pytest.raises(AffectlabError, match=message):
        read_table(frame)


def test_writing_onto_a_folder_is_one_line(tmp_path):
    with pytest.raises(AffectlabError, match="is a folder; give a file name"):
        write_csv(tmp_path, pd.DataFrame({"a": [1]}))
    assert list(tmp_path.iterdir()) == []
