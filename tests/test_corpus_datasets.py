"""Built-in data sets: download over HTTP (a server on 127.0.0.1), --source, checksums, CLI."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import json
import socket
import threading
import zipfile
from pathlib import Path
from typing import Iterator

import pytest

from affectlab.cli import main
from affectlab.corpus import datasets as ds
from affectlab.corpus.datasets import DATASETS, DatasetSpec, fetch, is_cached
from affectlab.corpus.synthetic import make_longitudinal_corpus

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "semeval2026-task2"
ROOT = "Tiny-Repo-main"  # GitHub archives put everything under <repo>-<branch>/


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture()
def contents() -> dict[str, bytes]:
    """Two small generated CSVs (never real data)."""
    frame = make_longitudinal_corpus(n_users=3, texts_per_user=(2, 3), seed=0)
    return {
        "train_tiny.csv": frame.to_csv(index=False).encode(),
        "users_tiny.csv": frame[["user_id"]].drop_duplicates().to_csv(index=False).encode(),
    }


@pytest.fixture()
def tiny(monkeypatch: pytest.MonkeyPatch, contents: dict[str, bytes]) -> DatasetSpec:
    """A test data set registered for the duration of one test."""
    spec = DatasetSpec(name="tiny-test", description="two generated CSVs", licence="CC0-1.0",
                       homepage="http://127.0.0.1/", archive_url="http://127.0.0.1:9/unused.zip",
                       files={name: sha(data) for name, data in contents.items()})
    monkeypatch.setitem(DATASETS._items, spec.name, spec)
    return spec


def make_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{ROOT}/", b"")
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def repo_zip(path: Path, contents: dict[str, bytes], **override: bytes) -> Path:
    """A zip laid out like a GitHub archive: files in nested folders, plus a README."""
    members = {f"{ROOT}/README.md": b"# tiny\n", f"{ROOT}/data/train/train_tiny.csv": contents["train_tiny.csv"],
               f"{ROOT}/data/users_tiny.csv": contents["users_tiny.csv"]}
    for name, data in override.items():
        for key in list(members):
            if key.endswith("/" + name):
                members[key] = data
    return make_zip(path, members)


class Server:
    """A static file server on 127.0.0.1 in a thread, counting the requests it answers."""

    def __init__(self, folder: Path) -> None:
        outer = self
        self.requests = 0

        class Handler(http.server.SimpleHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                outer.requests += 1
                super().do_GET()

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(folder)))
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    folder = tmp_path / "www"
    folder.mkdir()
    srv = Server(folder)
    yield srv
    srv.close()


def www(tmp_path: Path) -> Path:
    return tmp_path / "www"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    captured = capsys.readouterr()
    return int(exc.value.code or 0), captured.out, captured.err


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("affectlab: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def leftovers(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.iterdir()) if cache.exists() else []


def test_download_verifies_caches_and_records_a_manifest(tmp_path, capsys, tiny, contents, server):
    repo_zip(www(tmp_path) / "main.zip", contents)
    cache = tmp_path / "cache"
    code, out, err = run(capsys, "data", "fetch", "tiny-test", "--cache", str(cache), "--url", server.url("main.zip"))
    assert code == 0, err
    assert "verified and cached" in out
    folder = cache / "tiny-test"
    assert leftovers(cache) == ["tiny-test"]  # no temporary folders left behind
    for name, data in contents.items():
        assert (folder / name).read_bytes() == data
    manifest = json.loads((folder / "MANIFEST.json").read_text())
    assert manifest["source"] == server.url("main.zip")
    assert manifest["licence"] == "CC0-1.0" and manifest["fetched"]
    assert {k: v["sha256"] for k, v in manifest["files"].items()} == tiny.files
    assert manifest["files"]["train_tiny.csv"]["from"] == f"{ROOT}/data/train/train_tiny.csv"

    code, out, _ = run(capsys, "data", "path", "tiny-test", "--cache", str(cache))
    assert code == 0 and out.strip() == str(folder)
    code, out, _ = run(capsys, "data", "list", "--cache", str(cache))
    assert code == 0 and "tiny-test" in out and "yes" in out and "CC0-1.0" in out


def test_second_fetch_is_already_cached_and_downloads_nothing(tmp_path, capsys, tiny, contents, server):
    repo_zip(www(tmp_path) / "main.zip", contents)
    cache = tmp_path / "cache"
    args = ("data", "fetch", "tiny-test", "--cache", str(cache), "--url", server.url("main.zip"))
    assert run(capsys, *args)[0] == 0
    assert server.requests == 1
    code, out, _ = run(capsys, *args)
    assert code == 0 and "already cached" in out
    assert server.requests == 1
    code, out, _ = run(capsys, *args, "--force")
    assert code == 0 and "verified and cached" in out and server.requests == 2
    assert leftovers(cache) == ["tiny-test"]


def test_corrupt_cache_is_fetched_again(tmp_path, capsys, tiny, contents, server):
    repo_zip(www(tmp_path) / "main.zip", contents)
    cache = tmp_path / "cache"
    args = ("data", "fetch", "tiny-test", "--cache", str(cache), "--url", server.url("main.zip"))
    assert run(capsys, *args)[0] == 0
    (cache / "tiny-test" / "train_tiny.csv").write_bytes(b"tampered\n")
    assert is_cached("tiny-test", cache) and not is_cached("tiny-test", cache, verify=True)
    code, out, _ = run(capsys, *args)
    assert code == 0 and "verified and cached" in out
    assert (cache / "tiny-test" / "train_tiny.csv").read_bytes() == contents["train_tiny.csv"]


def test_checksum_mismatch_is_one_line_and_leaves_no_partial_cache(tmp_path, capsys, tiny, contents, server):
    bad = contents["users_tiny.csv"] + b"999\n"
    repo_zip(www(tmp_path) / "main.zip", contents, **{"users_tiny.csv": bad})
    cache = tmp_path / "cache"
    code, _, err = run(capsys, "data", "fetch", "tiny-test", "--cache", str(cache), "--url", server.url("main.zip"))
    assert code == 2
    line = one_error_line(err)
    assert "users_tiny.csv" in line and tiny.files["users_tiny.csv"] in line and sha(bad) in line
    assert leftovers(cache) == []
    code, _, err = run(capsys, "data", "path", "tiny-test", "--cache", str(cache))
    assert code == 2 and "not in the cache" in one_error_line(err)


def test_failed_refetch_keeps_the_good_cache(tmp_path, capsys, tiny, contents, server):
    repo_zip(www(tmp_path) / "good.zip", contents)
    repo_zip(www(tmp_path) / "bad.zip", contents, **{"train_tiny.csv": b"x\n"})
    cache = tmp_path / "cache"
    assert run(capsys, "data", "fetch", "tiny-test", "--cache", str(cache), "--url", server.url("good.zip"))[0] == 0
    code, _, err = run(capsys, "data", "fetch", "tiny-test", "--cache", str(cache), "--force", "--url", server.url("bad.zip"))
    assert code == 2 and "sha256 mismatch" in one_error_line(err)
    assert is_cached("tiny-test", cache, verify=True)
    assert leftovers(cache) == ["tiny-test"]


def test_missing_file_in_archive(tmp_path, capsys, tiny, contents, server):
    make_zip(www(tmp_path) / "main.zip", {f"{ROOT}/train_tiny.csv": contents["train_tiny.csv"]})
    cache = tmp_path / "cache"
    code, _, err = run(capsys, "data", "fetch", "tiny-test", "--cache", str(cache), "--url", server.url("main.zip"))
    assert code == 2
    line = one_error_line(err)
    assert "users_tiny.csv" in line and "not found" in line
    assert leftovers(cache) == []


def test_duplicate_names_pick_the_copy_with_the_right_hash(tmp_path, capsys, tiny, contents, server):
    make_zip(www(tmp_path) / "main.zip", {
        f"{ROOT}/old/train_tiny.csv": b"an older version\n",
        f"{ROOT}/data/train_tiny.csv": contents["train_tiny.csv"],
        f"{ROOT}/data/users_tiny.csv": contents["users_tiny.csv"],
    })
    cache = tmp_path / "cache"
    code, _, err = run(capsys, "data", "fetch", "tiny-test", "--cache", str(cache), "--url", server.url("main.zip"))
    assert code == 0, err
    assert (cache / "tiny-test" / "train_tiny.csv").read_bytes() == contents["train_tiny.csv"]


def test_data_zip_inside_the_repository_archive(tmp_path, capsys, tiny, contents, server):
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as zf:
        for name, data in contents.items():
            zf.writestr(f"release/{name}", data)
    make_zip(www(tmp_path) / "main.zip", {f"{ROOT}/data/release.zip": inner.getvalue()})
    cache = tmp_path / "cache"
    code, _, err = run(capsys, "data", "fetch", "tiny-test", "--cache", str(cache), "--url", server.url("main.zip"))
    assert code == 0, err
    assert is_cached("tiny-test", cache, verify=True)


def test_git_lfs_pointer_gets_a_hint(tmp_path, capsys, tiny, contents, server):
    pointer = b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 12\n"
    repo_zip(www(tmp_path) / "main.zip", contents, **{"train_tiny.csv": pointer})
    code, _, err = run(capsys, "data", "fetch", "tiny-test", "--cache", str(tmp_path / "c"), "--url", server.url("main.zip"))
    assert code == 2 and "Git LFS pointer" in one_error_line(err)


def test_unreachable_url_is_one_line(tmp_path, capsys, tiny, server):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cache = tmp_path / "cache"
    code, _, err = run(capsys, "data", "fetch", "tiny-test", "--cache", str(cache), "--url", f"http://127.0.0.1:{port}/main.zip")
    assert code == 2 and "cannot download" in one_error_line(err)
    assert leftovers(cache) == []


@pytest.mark.parametrize("name, body, expect", [
    ("missing.zip", None, "HTTP 404"),
    ("page.zip", b"<html>not a zip</html>", "not a zip archive"),
])
def test_http_error_and_non_zip(tmp_path, capsys, tiny, server, name, body, expect):
    if body is not None:
        (www(tmp_path) / name).write_bytes(body)
    cache = tmp_path / "cache"
    code, _, err = run(capsys, "data", "fetch", "tiny-test", "--cache", str(cache), "--url", server.url(name))
    assert code == 2 and expect in one_error_line(err)
    assert leftovers(cache) == []


def test_unsupported_url_scheme(tmp_path, capsys, tiny):
    code, _, err = run(capsys, "data", "fetch", "tiny-test", "--cache", str(tmp_path), "--url", "ftp://example.org/x.zip")
    assert code == 2 and "unsupported URL" in one_error_line(err)


def test_source_folder_found_recursively(tmp_path, capsys, tiny, contents):
    src = tmp_path / "download"
    (src / "a" / "b").mkdir(parents=True)
    (src / "a" / "b" / "train_tiny.csv").write_bytes(contents["train_tiny.csv"])
    (src / "users_tiny.csv").write_bytes(contents["users_tiny.csv"])
    (src / "notes.txt").write_text("other files are ignored")
    cache = tmp_path / "cache"
    code, out, err = run(capsys, "data", "fetch", "tiny-test", "--cache", str(cache), "--source", str(src))
    assert code == 0, err
    assert sorted(p.name for p in (cache / "tiny-test").iterdir()) == ["MANIFEST.json", "train_tiny.csv", "users_tiny.csv"]
    manifest = json.loads((cache / "tiny-test" / "MANIFEST.json").read_text())
    assert manifest["source"] == str(src.resolve())
    assert manifest["files"]["train_tiny.csv"]["from"] == "a/b/train_tiny.csv"
    code, out, _ = run(capsys, "data", "fetch", "tiny-test", "--cache", str(cache), "--source", str(src))
    assert code == 0 and "already cached" in out


def test_source_zip(tmp_path, capsys, tiny, contents):
    archive = repo_zip(tmp_path / "local.zip", contents)
    cache = tmp_path / "cache"
    code, _, err = run(capsys, "data", "fetch", "tiny-test", "--cache", str(cache), "--source", str(archive))
    assert code == 0, err
    assert is_cached("tiny-test", cache, verify=True)


def test_source_problems(tmp_path, capsys, tiny, contents):
    cache = tmp_path / "cache"
    code, _, err = run(capsys, "data", "fetch", "tiny-test", "--cache", str(cache), "--source", str(tmp_path / "nowhere"))
    assert code == 2 and "no such file or folder" in one_error_line(err)
    src = tmp_path / "partial"
    src.mkdir()
    (src / "train_tiny.csv").write_bytes(contents["train_tiny.csv"])
    (src / "users_tiny.csv").write_bytes(b"user_id\n1\n")
    code, _, err = run(capsys, "data", "fetch", "tiny-test", "--cache", str(cache), "--source", str(src))
    assert code == 2 and "users_tiny.csv: sha256 mismatch" in one_error_line(err)
    code, _, err = run(capsys, "data", "fetch", "tiny-test", "--cache", str(cache), "--source", str(src), "--url", "http://x/y.zip")
    assert code == 2 and "not both" in one_error_line(err)
    assert leftovers(cache) == []


def test_unknown_name_and_uncached_path(tmp_path, capsys):
    code, _, err = run(capsys, "data", "fetch", "no-such-set", "--cache", str(tmp_path))
    assert code == 2 and "semeval2026-task2" in one_error_line(err)
    code, out, err = run(capsys, "data", "path", "semeval2026-task2", "--cache", str(tmp_path))
    assert code == 2 and out == "" and "affectlab data fetch semeval2026-task2" in one_error_line(err)
    code, out, _ = run(capsys, "data", "list", "--cache", str(tmp_path))
    assert code == 0 and "semeval2026-task2" in out and "no" in out


def test_default_cache_comes_from_the_environment(tmp_path, monkeypatch, tiny, contents):
    monkeypatch.setenv("AFFECTLAB_CACHE", str(tmp_path / "envcache"))
    src = tmp_path / "src"
    src.mkdir()
    for name, data in contents.items():
        (src / name).write_bytes(data)
    result = fetch("tiny-test", source=src)
    assert result.path == tmp_path / "envcache" / "tiny-test" and not result.already_cached
    assert ds.dataset_path("tiny-test") == result.path


def test_semeval_spec_lists_the_five_release_files():
    spec = DATASETS.get("semeval2026-task2")
    assert spec.licence == "CC0-1.0"
    assert spec.archive_url == ("https://github.com/semeval2026task2/EmotionValArouTimeVariation2026"
                                "/archive/refs/heads/main.zip")
    assert set(spec.files) == {"train_subtask1.csv", "train_subtask2a.csv", "train_subtask2b.csv",
                               "train_subtask2b_detailed.csv", "train_subtask2b_user_disposition_change.csv"}
    assert all(len(h) == 64 and int(h, 16) >= 0 for h in spec.files.values())


@pytest.mark.realdata
@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data/semeval2026-task2 not present")
def test_real_semeval_files_match_the_hard_coded_hashes(tmp_path, capsys, server):
    """The real release, served as a GitHub-style archive, verifies and reads (copies stay in tmp_path)."""
    files = {p.name: p.read_bytes() for p in SHARED.glob("*.csv")}
    make_zip(www(tmp_path) / "main.zip", {f"EmotionValArouTimeVariation2026-main/data/{n}": d for n, d in files.items()})
    cache = tmp_path / "cache"
    code, _, err = run(capsys, "data", "fetch", "semeval2026-task2", "--cache", str(cache), "--url", server.url("main.zip"))
    assert code == 0, err
    from affectlab.corpus.semeval import read_semeval

    corpus = read_semeval(cache / "semeval2026-task2" / "train_subtask1.csv", require_labels=True)
    assert len(corpus) == 2764
    code, out, _ = run(capsys, "data", "fetch", "semeval2026-task2", "--cache", str(cache), "--source", str(SHARED))
    assert code == 0 and "already cached" in out


# ---------------------------------------------------------------------------------------------
# Interrupted fetches: their scratch folders are removed by the next fetch, running ones are kept

def test_next_fetch_removes_folders_of_interrupted_fetches(tmp_path, capsys, tiny, contents, server):
    import os
    import time

    repo_zip(www(tmp_path) / "main.zip", contents)
    cache = tmp_path / "cache"
    killed = cache / ".tiny-test.tmp-killed1"  # killed mid-download: lock file nobody holds
    (killed / "files").mkdir(parents=True)
    (killed / "archive.zip").write_bytes(b"PK partial")
    (killed / ds.SCRATCH_LOCK).write_bytes(b"")
    older = cache / ".tiny-test.tmp-oldrelease"  # left by a release without lock files, long ago
    older.mkdir()
    (older / "archive.zip").write_bytes(b"PK")
    past = time.time() - 3600
    os.utime(older, (past, past))
    fresh = cache / ".tiny-test.tmp-justmade"  # just created by a fetch that has not locked it yet
    fresh.mkdir()
    foreign = cache / ".notadataset.tmp-x"  # not ours: never touched
    foreign.mkdir()
    code, out, err = run(capsys, "data", "fetch", "tiny-test", "--cache", str(cache), "--url", server.url("main.zip"))
    assert code == 0, err
    assert leftovers(cache) == [".notadataset.tmp-x", ".tiny-test.tmp-justmade", "tiny-test"]
    # an already cached data set still cleans up
    (killed / "files").mkdir(parents=True)
    (killed / ds.SCRATCH_LOCK).write_bytes(b"")
    code, out, err = run(capsys, "data", "fetch", "tiny-test", "--cache", str(cache), "--url", server.url("main.zip"))
    assert code == 0 and "already cached" in out and not killed.exists()


def test_a_running_fetch_keeps_its_folder_until_it_is_killed(tmp_path):
    import os
    import signal
    import subprocess
    import sys

    cache = tmp_path / "cache"
    cache.mkdir()
    code = ("import sys, time, pathlib; from affectlab.corpus import datasets as ds\n"
            "with ds._scratch(pathlib.Path(sys.argv[1]), '.semeval2026-task2.tmp-') as s:\n"
            "    (s / 'archive.zip').write_bytes(b'PK'); print(s, flush=True); time.sleep(600)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(cache)], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    try:
        folder = Path(proc.stdout.readline().strip())
        assert folder.is_dir() and folder.parent == cache
        assert ds.clean_stale_scratch(cache) == 0 and folder.is_dir()  # locked: a fetch works there
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert folder.is_dir()  # kill -9: no clean-up ran
        assert ds.clean_stale_scratch(cache) == 1 and not folder.exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
