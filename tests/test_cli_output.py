"""What a researcher sees: tables never cut a number or a name (terminal, pipe or file), one JSON
object on stdout with --json, -h and --version, flags shown as flags."""

from __future__ import annotations

import io
import json
import re

import pytest
from rich.console import Console
from rich.table import Table

from conftest import run_cli

KEYS = ("score", "r_composite_valence", "r_composite_arousal", "ccc")


def _wide_table() -> Table:
    table = Table(title="user_level_kernel (semeval) and baselines on the same rows")
    table.add_column("model")
    for split in ("train", "val", "test"):
        for key in KEYS:
            table.add_column(f"{split}\n{key}", justify="right")
    table.add_row("[bold]user_level_kernel[/bold]", *["0.8123"] * 12)
    table.add_row("ridge_group_offset", *["-0.0123"] * 12)
    return table


def _render(table: Table, width: int = 80, terminal: bool = False, **kwargs) -> str:
    from affectlab.cli.tables import print_table

    console = Console(file=io.StringIO(), width=width, force_terminal=terminal, color_system=None)
    print_table(table, console, **kwargs)
    return console.file.getvalue()


@pytest.mark.parametrize("terminal", [False, True])
def test_a_wide_table_at_80_columns_keeps_every_value_whole(terminal):
    text = _render(_wide_table(), terminal=terminal)
    assert "…" not in text
    assert all(len(line) <= 80 for line in text.splitlines())
    for key in KEYS:  # every column of every split is there, unbroken
        assert len(re.findall(rf"(?<![\w]){key}(?![\w])", text)) == 3
    assert len(re.findall(r"(?<![\d.])0\.8123(?!\d)", text)) == 12
    assert len(re.findall(r"(?<![\d.])-0\.0123(?!\d)", text)) == 12
    assert text.count("user_level_kernel ") >= 2 and "ridge_group_offset" in text  # the label column repeats
    if not terminal:  # piped: plain ASCII, no box drawing, no markup
        assert text.isascii() and "[bold]" not in text


@pytest.mark.parametrize("label", [30, 69])
@pytest.mark.parametrize("terminal", [False, True])
def test_every_part_of_a_split_table_keeps_its_last_column_whole(label, terminal):
    table = Table(title="Versions")
    for name in ("run", "key", "val", "train", "gap", "status", "best epoch", "params"):
        table.add_column(name, justify="left" if name in ("run", "key", "status") else "right")
    table.add_row("r" * label, "score", "0.9517", "0.9911", "0.0394", "", "12", "47213")
    table.add_row("", "r_composite_valence", "0.9215", "0.9847", "0.0632", "", "", "", end_section=True)
    text = _render(table, terminal=terminal, keep=2)
    for value in ("train", "best epoch", "params", "0.9517", "0.9911", "0.0394", "0.9847", "47213", "r_composite_valence"):
        assert value in text, value
    assert "…" not in text


def test_a_part_wider_than_the_console_is_whole():
    table = Table(title="t")
    for name in ("run", "key", "first", "second"):
        table.add_column(name, justify="right")
    long_value = "0." + "1" * 58  # 10 + 19 + 60 + 2 gaps of 3 = 95 columns: printed on longer lines
    table.add_row("r" * 10, "k" * 19, long_value, "0.9911")
    for terminal in (False, True):
        text = _render(table, keep=2, terminal=terminal)
        assert long_value in text and "0.9911" in text and "first" in text and "second" in text


def test_a_table_that_fits_is_one_table():
    table = Table(title="t")
    for name in ("model", "ccc"):
        table.add_column(name)
    table.add_row("ridge", "0.8123")
    for terminal in (False, True):
        text = _render(table, terminal=terminal)
        assert "(1 of" not in text and "0.8123" in text and "ridge" in text
    assert "┃" in _render(table, terminal=True)  # on a terminal: the rich table


def test_prose_wraps_at_spaces_and_a_value_wider_than_the_console_stays_whole():
    table = Table(title="Findings")
    for name in ("severity", "code", "message"):
        table.add_column(name)
    message = " ".join(f"word{i:02d}" for i in range(40))
    long_id = "run-" + "x" * 120
    table.add_row("warning", "LEAK_USER", message)
    table.add_row("info", long_id, "short")
    text = _render(table, prose=("message",))
    words = re.findall(r"word\d+", text)
    assert words == [f"word{i:02d}" for i in range(40)]  # every word, in order, none broken
    assert long_id in text


def test_long_lines_are_never_split():
    from affectlab.cli import common

    console = Console(file=io.StringIO(), width=40)
    line = "run directory: /tmp/" + "a" * 30 + "/" + "b" * 30 + " and more words after it"
    old = common.console
    try:
        common.console = console
        common.say(line)
    finally:
        common.console = old
    assert console.file.getvalue() == line + "\n"


@pytest.fixture
def width80(monkeypatch):
    from affectlab.cli import common

    monkeypatch.setattr(common.console, "_width", 80)


def test_train_summary_through_the_cli_is_whole_at_80_columns(tmp_path, semeval_csv, capsys, width80):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model: {name: user_level_kernel}\n")
    run = tmp_path / ("run-with-a-long-name-" + "x" * 70)
    code, out, err = run_cli(["train", cfg, "--data", semeval_csv, "--out", run, "--quiet"], capsys)
    assert code == 0, err
    assert "…" not in out
    assert re.search(r"(?<!\w)r_composite_valence(?!\w)", out) and re.search(r"(?<!\w)r_composite_arousal(?!\w)", out)
    assert re.search(r"(?<![\d.])-?\d\.\d{3}(?!\d)", out)  # numbers with all their digits
    assert f"run directory: {run}" in out  # the path on one line, however long


def test_train_json_is_one_object_on_stdout(tmp_path, semeval_csv, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model: {name: ridge_group_offset}\nbaselines: [global_mean]\n")
    code, out, err = run_cli(["train", cfg, "--data", semeval_csv, "--out", tmp_path / "run", "--json"], capsys)
    assert code == 0, err
    obj = json.loads(out)
    assert obj["run_dir"] == str(tmp_path / "run") and obj["model"] == "ridge_group_offset"
    assert "val" in obj["metrics"] and "global_mean" in obj["baselines"]

    code, out, err = run_cli(["predict", tmp_path / "run", "--data", semeval_csv, "--out", tmp_path / "p.csv",
                              "--json"], capsys)
    assert code == 0, err
    obj = json.loads(out)
    assert obj["predictions"] == str(tmp_path / "p.csv") and obj["n"] > 0 and "pred_valence" in obj["columns"]

    code, out, err = run_cli(["compare", tmp_path / "run", tmp_path / "run", "--json"], capsys)
    assert code == 0, err
    json.loads(out)


def test_train_json_with_seeds(tmp_path, semeval_csv, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model: {name: ridge_group_offset}\nbaselines: [global_mean]\n")
    code, out, err = run_cli(["train", cfg, "--data", semeval_csv, "--out", tmp_path / "runs", "--seeds", "1,2",
                              "--json"], capsys)
    assert code == 0, err
    obj = json.loads(out)
    assert obj["seeds"] == [1, 2] and len(obj["runs"]) == 2 and obj["mean_sd"]["val"]


def test_data_list_json(capsys):
    code, out, err = run_cli(["data", "list", "--json"], capsys)
    assert code == 0, err
    assert "semeval2026-task2" in [row["name"] for row in json.loads(out)["datasets"]]


def _commands():
    import typer

    from affectlab.cli import app

    group = typer.main.get_command(app)
    out = [[]]
    for name, command in group.commands.items():
        out.append([name])
        for sub in getattr(command, "commands", {}):
            out.append([name, sub])
    return out


@pytest.mark.parametrize("path", _commands(), ids=lambda p: " ".join(p) or "affectlab")
def test_dash_h_is_help_and_flags_show_as_flags(path, capsys):
    code, out, err = run_cli([*path, "-h"], capsys)
    assert code == 0, err
    assert "Usage" in out and "--help" in out
    assert "<bool>" not in out
    code, long_out, _ = run_cli([*path, "--help"], capsys)
    assert code == 0 and long_out == out


def test_commands_that_print_results_take_json(capsys):
    for path in (["train"], ["predict"], ["evaluate"], ["compare"], ["report"], ["sweep"], ["transfer"], ["ablate"],
                 ["extract"], ["demo"], ["data", "list"], ["data", "fetch"], ["data", "path"]):
        code, out, _ = run_cli([*path, "--help"], capsys)
        assert code == 0 and "--json" in out, path


def test_version(capsys):
    from affectlab import __version__

    code, out, err = run_cli(["--version"], capsys)
    assert code == 0 and out == f"affectlab {__version__}\n" and not err


def test_sweep_json_is_one_object_on_stdout(tmp_path, semeval_csv, capsys):
    pytest.importorskip("optuna")
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model: {name: ridge_group_offset}\nbaselines: [global_mean]\n")
    space = tmp_path / "space.yaml"
    space.write_text("model.shrink: {type: float, low: 1.0, high: 10.0}\n")
    code, out, err = run_cli(["sweep", cfg, "--space", space, "--data", semeval_csv, "--out", tmp_path / "sw",
                              "--trials", "1", "--json"], capsys)
    assert code == 0, err
    obj = json.loads(out)
    assert obj["best_trial"] == 0 and obj["monitor"] and "trial 0" in err


def test_evaluate_tables_through_the_cli_are_whole_at_80_columns(tmp_path, semeval_csv, capsys, width80):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model: {name: ridge_group_offset}\nbaselines: [global_mean]\n")
    assert run_cli(["train", cfg, "--data", semeval_csv, "--out", tmp_path / "run", "--quiet"], capsys)[0] == 0
    code, out, err = run_cli(["evaluate", "--run", tmp_path / "run", "--resamples", "50"], capsys)
    assert code == 0, err
    assert "…" not in out and re.search(r"(?m)^r_composite_valence +-?\d\.\d{4} +\[-?\d\.\d{4}, -?\d\.\d{4}\]$", out)
    code, out, err = run_cli(["compare", tmp_path / "run", tmp_path / "run", "--resamples", "50"], capsys)
    assert code == 0, err
    assert "…" not in out and "r_composite_valence" in out and "Verdict" in out


def test_a_split_keeps_a_group_of_columns_together_where_it_fits():
    from affectlab.cli.tables import _chunks

    def overhead(n):
        return 3 * (n - 1)

    widths = [10, 8, 8, 8, 8, 8, 8]  # a label, then two groups of three
    groups = [None, "train", "train", "train", "val", "val", "val"]
    assert _chunks(widths, 1, 58, overhead, groups) == [[0, 1, 2, 3], [0, 4, 5, 6]]
    assert _chunks(widths, 1, 58, overhead) == [[0, 1, 2, 3, 4], [0, 5, 6]]  # without groups: as many as fit
    assert _chunks(widths, 1, 35, overhead, groups) == [[0, 1, 2], [0, 3, 4], [0, 5, 6]]  # too wide: by column
