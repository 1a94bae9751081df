"""Progress and timing lines (affectlab.progress): modes, periodic lines, steps, epochs; stdout stays clean."""

import contextlib
import sys

import pytest

from affectlab import progress


@pytest.fixture
def lines_mode():
    progress.configure("lines")
    yield
    progress.configure(None)


def test_eta_and_epoch_line():
    assert progress.eta_text(0) == "0:00"
    assert progress.eta_text(100) == "1:40"
    assert progress.eta_text(3725) == "1:02:05"
    assert progress.eta_text(float("nan")) == "?"
    assert progress.epoch_line(7, 40, 3.1) == "epoch 7/40  3.1 s/epoch  ETA 1:42"  # 33 epochs left x 3.1 s
    assert progress.epoch_line(3, None, 2.0) == "epoch 3  2.0 s/epoch"


def test_mode_follows_environment_and_json_redirect(monkeypatch):
    progress.configure(None)
    monkeypatch.setenv("AFFECTLAB_PROGRESS", "off")
    assert progress.mode() == "off"
    monkeypatch.delenv("AFFECTLAB_PROGRESS")
    with contextlib.redirect_stdout(sys.stderr):  # what --json does while a command works
        assert progress.mode() == "lines"
    with pytest.raises(ValueError):
        progress.configure("loud")


def test_a_mistyped_progress_mode_is_one_line_exit_2(monkeypatch, capsys):
    """AFFECTLAB_PROGRESS=bogus is refused before the command does anything, not ignored."""
    from affectlab.cli import main
    from affectlab.core.errors import AffectlabError

    progress.configure(None)
    monkeypatch.setenv("AFFECTLAB_PROGRESS", "lnies")
    with pytest.raises(AffectlabError, match="expected bar, lines or off"):
        progress.mode()
    with pytest.raises(SystemExit) as exit_info:
        main(["data", "list"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert err.strip() == "affectlab: error: AFFECTLAB_PROGRESS='lnies': expected bar, lines or off"
    assert "Traceback" not in err


def test_periodic_lines_with_rate_and_eta(lines_mode, monkeypatch, capsys):
    monkeypatch.setattr(progress, "LINE_EVERY", 0.0)
    with progress.track("encoding texts", 4, "texts") as task:
        for _ in range(4):
            task.advance(1)
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert captured.out == ""
    assert [line.split(" (")[0] for line in lines] == ["encoding texts: 1/4 texts", "encoding texts: 2/4 texts",
                                                        "encoding texts: 3/4 texts"]  # not the finished 4/4
    assert all("texts/s, ETA " in line for line in lines)


def test_short_steps_are_silent_long_ones_timed(lines_mode, monkeypatch, capsys):
    with progress.step("baseline ridge") as info:
        pass
    assert capsys.readouterr().err == "" and info["seconds"] >= 0
    monkeypatch.setattr(progress, "MIN_STEP_SECONDS", 0.0)
    with progress.step("baseline ridge"):
        pass
    err = capsys.readouterr().err
    assert err.startswith("baseline ridge: ") and err.rstrip().endswith(" s")


def test_off_prints_nothing(capsys):
    progress.configure("off")
    try:
        progress.say("x")
        with progress.track("t", 2) as task:
            task.advance(2)
    finally:
        progress.configure(None)
    assert capsys.readouterr() == ("", "")


class _Trainer:
    def __init__(self, max_epochs):
        self.max_epochs, self.current_epoch, self.is_global_zero = max_epochs, 0, True


def test_epoch_progress_callback_lines(lines_mode, monkeypatch, capsys):
    from affectlab.training.callbacks import EpochProgress

    monkeypatch.setattr(progress, "LINE_EVERY", 0.0)
    cb, trainer = EpochProgress(), _Trainer(3)
    cb.on_train_start(trainer, None)
    for epoch in range(3):
        trainer.current_epoch = epoch
        cb.on_train_epoch_end(trainer, None)
    cb.on_train_end(trainer, None)
    lines = capsys.readouterr().err.splitlines()
    assert [line.split("  ")[0] for line in lines] == ["epoch 1/3", "epoch 2/3"]  # the last epoch needs no ETA
    assert all(" s/epoch  ETA " in line for line in lines)


def test_bar_mode_nested_bars_and_steps(monkeypatch, capsys):
    """A bar inside another (encoding inside extract's bar): rich >= 14 nests them; older rich
    refuses a second live display and the inner task prints lines instead. Either way no error."""
    progress.configure("bar")
    monkeypatch.setattr(progress, "LINE_EVERY", 0.0)
    said = []
    monkeypatch.setattr(progress, "say", said.append)  # under a live display rich reroutes stderr
    try:
        with progress.track("outer", 2, "files") as outer:
            with progress.track("encoding texts", 3, "texts") as inner:
                inner.advance(1)
                inner_bar = inner._bar
            outer.advance(2)
            assert outer._bar is not None
        with progress.step("refit"):
            pass
    finally:
        progress.configure(None)
    assert said[-1].startswith("refit: ")
    if inner_bar is None:
        assert said[0].startswith("encoding texts: 1/3 texts")
    assert capsys.readouterr().out == ""
