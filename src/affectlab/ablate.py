"""One-change-at-a-time ablation between two config versions: which change did it?

For two configs BASE and NEW, every leaf key whose resolved value differs is a *change*. Each
change is measured twice: applied alone to BASE (``BASE + key``) and reverted alone in NEW
(``NEW − key``: NEW with that key back at BASE's value). Keys the model ignores (see
:mod:`affectlab.runs.used_keys`) are listed and skipped; a single change that makes an invalid
config is named and skipped. Every distinct variant config is trained on K seeds; a seed sets
the model seed *and* the split seed, so variants with the same seed are evaluated on the same
samples and are compared pairwise on them.

Trials run through Optuna (the sweep machinery): each (variant, seed) is an enqueued trial in a
study at ``--storage`` (default ``sqlite:///DIR/optuna.db``). Any process holding the storage
URL pops waiting trials, so several machines sharing one database split the work; ``--workers
N`` runs N trial processes at once on this machine. The report needs every trial's run
directory under ``DIR/runs``: on several machines DIR must be shared (or gathered before the
report is made with ``--report-only``).

The effect of a contrast (``BASE + key`` minus BASE, NEW − BASE, the sum of single effects ...)
is its mean over seeds of the primary metric on the shared samples of the evaluated split. Its
95% interval is a two-level paired bootstrap: seeds are drawn with replacement, and within each
drawn seed the task's units (users, speakers; rows when there are none) are drawn with
replacement, the same draw for every variant of that seed. With one seed no interval exists.

Trials skip what changes no evaluated prediction: the baselines and the refit on the whole
training file (``baselines: []``, ``training.refit_full: false``, and
``train_run(..., scores_only=True)``: under cross-validation no final model is fitted at all,
unless a set-aside ``split.test_split`` is what is compared, since only that model may score it).
A trial's ``summary.json`` says ``scores_only: true``: it is no deployable model.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import re
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import yaml

from .config import RunConfig
from .experiment import load_config, resolve, validate_config
from .core.errors import AffectlabError
from .core.io import write_json
from .core.processes import pid_alive
from .runs.compare import flatten
from .runs.used_keys import ignored_reason

#: keys that every variant gets from ``--seeds`` (not ablated)
SEED_KEYS = {"seed": "set by --seeds for every variant", "split.seed": "set by --seeds for every variant"}
#: overrides of every trial: they change no evaluated prediction and save time
TRIAL_OVERRIDES = {"baselines": [], "training.refit_full": False}
ABSENT = "(absent)"
#: where each direction measures a single change: forward applies it to BASE, backward reverts it in NEW
CONTEXT = {"forward": "on BASE", "backward": "in NEW"}
TrainFn = Callable[[RunConfig, Path, Path], Any]


@dataclass
class Change:
    """One differing leaf key."""

    key: str
    base: Any
    new: Any


@dataclass
class Variant:
    """One distinct config to train (several names when changes coincide, e.g. with one key)."""

    names: list[str]
    digest: str
    config: dict[str, Any]
    path: str = ""

    @property
    def name(self) -> str:
        return self.names[0]


@dataclass
class Plan:
    """What an ablation will train, before anything is trained."""

    base_name: str
    new_name: str
    changes: list[Change] = field(default_factory=list)
    ignored: list[dict[str, Any]] = field(default_factory=list)
    invalid: list[dict[str, str]] = field(default_factory=list)
    variants: list[Variant] = field(default_factory=list)

    def variant(self, name: str) -> Variant | None:
        return next((v for v in self.variants if name in v.names), None)

    def ends(self) -> tuple[Variant, Variant]:
        """BASE and NEW, which every plan has."""
        base, new = self.variant("BASE"), self.variant("NEW")
        assert base is not None and new is not None
        return base, new

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def read(cls, path: Path) -> "Plan":
        """The plan an earlier ``ablate`` wrote (``DIR/plan.json``): what was trained, by digest."""
        try:
            raw = json.loads(path.read_text())
            return cls(raw["base_name"], raw["new_name"], [Change(**c) for c in raw["changes"]], raw["ignored"],
                       raw["invalid"], [Variant(**v) for v in raw["variants"]])
        except (OSError, ValueError, KeyError, TypeError):
            raise AffectlabError(f"{path}: missing or unreadable; run ablate without --report-only first") from None


# --------------------------------------------------------------------------- planning

def _set(d: dict[str, Any], key: str, value: Any) -> None:
    """Set (or, for :data:`ABSENT`, delete) a dotted key in a nested dict."""
    parts = key.split(".")
    node = d
    for p in parts[:-1]:
        nxt = node.get(p)
        if not isinstance(nxt, dict):
            if value == ABSENT:
                return
            nxt = node[p] = {}
        node = nxt
    if value == ABSENT:
        node.pop(parts[-1], None)
    else:
        node[parts[-1]] = copy.deepcopy(value)


def _resolved(path: str | Path) -> dict[str, Any]:
    """The config as the run would see it (defaults filled), checked; one line on error."""
    return load_config(path).to_dict()


def _digest(config: dict[str, Any]) -> str:
    body = {k: v for k, v in config.items() if k != "name"}
    return hashlib.sha1(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:10]


def _check_variant(raw: dict[str, Any], where: str) -> dict[str, Any]:
    """Validate a variant as ``train`` does before reading data (:func:`affectlab.experiment.resolve`)."""
    return resolve(raw, source=where, unread_keys=False).config.to_dict()


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def plan_ablation(base: str | Path, new: str | Path) -> Plan:
    """Changes, ignored keys, invalid single changes and the distinct variants (raises when nothing is left)."""
    b, n = _resolved(base), _resolved(new)
    if b.get("task") != n.get("task"):  # before any trial: the two would be scored on different metrics
        raise AffectlabError(f"{base} is task {b.get('task')!r} and {new} is task {n.get('task')!r}: an ablation "
                             "compares two versions of one task; give configs of the same task")
    plan = Plan(str(b.get("name") or Path(base).stem), str(n.get("name") or Path(new).stem))
    fb, fn = flatten(b), flatten(n)
    keys = list(dict.fromkeys([*fb, *fn]))
    differing = [k for k in keys if json.dumps(fb.get(k, ABSENT), sort_keys=True, default=str)
                 != json.dumps(fn.get(k, ABSENT), sort_keys=True, default=str)]
    for k in differing:
        reason = SEED_KEYS.get(k)
        if reason is None:
            rb, rn = ignored_reason(k, b), ignored_reason(k, n)
            reason = rb if (rb is not None and rn is not None) else None
        if reason is not None:
            plan.ignored.append({"key": k, "base": fb.get(k, ABSENT), "new": fn.get(k, ABSENT), "reason": reason})
        else:
            plan.changes.append(Change(k, fb.get(k, ABSENT), fn.get(k, ABSENT)))
    if not differing:
        raise AffectlabError(f"{base} and {new} differ in nothing (after defaults); nothing to ablate")
    if not plan.changes:
        raise AffectlabError(f"{base} and {new} differ only in keys the model ignores "
                             f"({', '.join(i['key'] for i in plan.ignored)}); nothing to ablate")

    by_digest: dict[str, Variant] = {}

    def add(name: str, config: dict[str, Any]) -> None:
        d = _digest(config)
        if d in by_digest:
            by_digest[d].names.append(name)
        else:
            by_digest[d] = Variant([name], d, config)

    # ignored keys hold BASE's value in every variant: they change no prediction, and this lets
    # variants that differ only in them share their trials
    n = copy.deepcopy(n)
    for i in plan.ignored:
        if i["key"] != "name":
            _set(n, i["key"], i["base"])
    add("BASE", b)
    add("NEW", n)
    for c in plan.changes:
        for name, start, value in ((f"BASE + {c.key}", b, c.new), (f"NEW − {c.key}", n, c.base)):
            raw = copy.deepcopy(start)
            _set(raw, c.key, value)
            try:
                add(name, _check_variant(raw, name))
            except AffectlabError as err:
                plan.invalid.append({"variant": name, "key": c.key, "error": str(err)})
    plan.variants = list(by_digest.values())
    return plan


def trial_config(variant: Variant, seed: int) -> RunConfig:
    """The variant's run config for one seed (model and split seed), with :data:`TRIAL_OVERRIDES`."""
    raw = copy.deepcopy(variant.config)
    raw["seed"] = seed
    raw.setdefault("split", {})["seed"] = seed
    for k, v in TRIAL_OVERRIDES.items():
        _set(raw, k, v)
    return validate_config(raw, variant.name, unread_keys=False)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name.replace("−", "minus").replace("+", "plus")).strip("_")[:60]


def run_dir_for(out: Path, variant: Variant, seed: int) -> Path:
    return out / "runs" / f"{variant.digest}-{_slug(variant.name)}" / f"seed-{seed}"


# --------------------------------------------------------------------------- trials (Optuna)

def _optuna():
    from .sweep import import_optuna

    return import_optuna("ablations")


def open_study(storage: str, study_name: str):
    """The ablation's study (the sweep machinery's storage: several processes or machines share it)."""
    from .sweep import open_study as _open

    return _open(storage, study_name, "maximize", command="ablations")


def _alive(attrs: dict[str, Any]) -> bool:
    """False when a RUNNING trial's process was on this machine and is gone (killed)."""
    if attrs.get("host") != socket.gethostname():
        return True
    try:
        pid = int(attrs.get("pid", 0))
    except (TypeError, ValueError):
        return False
    return pid_alive(pid)


def enqueue(study, jobs: list[dict[str, Any]]) -> int:
    """Enqueue the jobs that no trial has done, is doing or will do; stale local trials fail first."""
    from optuna.trial import TrialState

    held: set[str] = set()
    for t in study.get_trials(deepcopy=False):
        key = t.user_attrs.get("job")
        if key is None:
            continue
        if t.state == TrialState.RUNNING and not _alive(t.user_attrs):
            study._storage.set_trial_user_attr(t._trial_id, "error", "its process was killed")
            study._storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
            continue
        if t.state in (TrialState.COMPLETE, TrialState.RUNNING, TrialState.WAITING):
            held.add(key)
    added = 0
    for job in jobs:
        if job["job"] not in held:
            study.enqueue_trial({}, user_attrs=job)
            added += 1
    return added


def trial_scores_only(cfg: RunConfig) -> bool:
    """Whether a trial of ``cfg`` may skip the final model on all data: yes unless the compared
    scores need it (a cross-validation with a set-aside ``split.test_split``, which only the model
    refitted on every cross-validated row may score).

    >>> trial_scores_only(validate_config({"split": {"kind": "group_kfold"}}))
    True
    >>> trial_scores_only(validate_config({"split": {"kind": "group_kfold", "test_split": "test"}}))
    False
    """
    from .protocols import CrossValidation, protocol_for

    protocol = protocol_for(cfg.split)
    return not (isinstance(protocol, CrossValidation) and protocol.test_split is not None)


def _default_train(cfg: RunConfig, data: Path, out: Path) -> Any:
    from .pipeline import train_run

    return train_run(cfg, data, out, overwrite=out.exists(), scores_only=trial_scores_only(cfg))


def work(storage: str, study_name: str, data: str | Path, train_fn: TrainFn | None = None,
         say: Callable[[str], None] = lambda _l: None) -> int:
    """Pop and run waiting trials until none is left; returns how many this process ran."""
    from optuna.trial import TrialState

    study = open_study(storage, study_name)
    train = train_fn or _default_train
    done = 0
    while study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        trial = study.ask()
        attrs = trial.user_attrs
        if "job" not in attrs:  # another process took the last waiting trial first
            trial.set_user_attr("error", "empty trial (no job left)")
            study.tell(trial, state=TrialState.FAIL)
            break
        trial.set_user_attr("host", socket.gethostname())
        trial.set_user_attr("pid", os.getpid())
        run_dir = Path(attrs["run_dir"])
        t0 = time.perf_counter()
        try:
            variant = Variant([attrs["variant"]], attrs["digest"], yaml.safe_load(Path(attrs["config"]).read_text()))
            cfg = trial_config(variant, int(attrs["seed"]))
            train(cfg, Path(data), run_dir)
            value = _run_value(run_dir)
        except Exception as err:  # noqa: BLE001 - a failed trial is named in the report; the rest carry on
            msg = str(err).splitlines()[0] if str(err) else type(err).__name__
            trial.set_user_attr("error", msg[:500])
            study.tell(trial, state=TrialState.FAIL)
            say(f"trial {attrs['variant']} seed {attrs['seed']}: FAILED: {msg}")
            continue
        trial.set_user_attr("seconds", time.perf_counter() - t0)
        study.tell(trial, value if math.isfinite(value) else float("nan"))
        done += 1
        say(f"trial {attrs['variant']} seed {attrs['seed']}: {value:.4f} ({time.perf_counter() - t0:.0f} s)")
    return done


def _run_value(run_dir: Path) -> float:
    """The primary metric on the run's headline split (:func:`~affectlab.runs.headline_split`), for the study's record."""
    from .evaluation.scoring import primary_metric
    from .runs.summary import RunSummary

    s = RunSummary.read(run_dir / "summary.json")
    split = s.evaluated_split
    v = None if split is None else s.metric(split, primary_metric(s.task or "regression"))
    return float("nan") if v is None else float(v)


def _wait_for_others(study, say: Callable[[str], None], poll: float = 10.0) -> None:
    """Wait while trials of other processes are still running (several workers or machines)."""
    from optuna.trial import TrialState

    shown = -1
    while True:
        running = [t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)) if _alive(t.user_attrs)]
        if not running:
            return
        if len(running) != shown:
            say(f"waiting for {len(running)} trial(s) running in other processes")
            shown = len(running)
        time.sleep(poll)


# --------------------------------------------------------------------------- analysis

@dataclass
class Effect:
    """A contrast between variants: point (mean over seeds), interval and verdict."""

    label: str
    kind: str  # total | forward | backward | sum_forward | sum_backward | interaction_*
    key: str | None
    value: float
    ci_low: float
    ci_high: float
    p_value: float
    n_seeds: int
    verdict: str = ""


def analyse(plan: Plan, out: Path, seeds: Sequence[int], *, n_resamples: int = 1000, level: float = 0.95,
            seed: int = 0, failed: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """Effects of every change, the total and the interaction, from the trained run directories.

    A contrast uses the seeds for which every config it involves has a finished run (all of them
    once the ablation is complete; fewer while trials are still running or after a failure).
    Without a common seed of BASE and NEW, the first of the ``failed`` trials (``variant``,
    ``seed``, ``error``) is named in the one-line error.
    """
    from .evaluation.bootstrap import Resampler, _paired_p, _percentiles, fast_scores, metrics_for_keys, resampled_scores
    from .runs.evaluate import run_specs, run_summary
    from .runs.rundir import load_run
    from .runs.vocabulary import shared_headline_split
    from .evaluation.scoring import higher_is_better, primary_metric
    from .runs.compare import _numeric

    runs = {(v.digest, s): load_run(run_dir_for(out, v, s)) for v in plan.variants for s in seeds
            if (run_dir_for(out, v, s) / "summary.json").exists()}
    base, new = plan.ends()
    both = [s for s in seeds if (base.digest, s) in runs and (new.digest, s) in runs]
    if not both:
        first = next((f for f in failed if f.get("variant") in ("BASE", "NEW")), failed[0] if failed else None)
        if first is not None:
            raise AffectlabError(f"BASE and NEW have no finished run of a common seed: {len(failed)} trial(s) failed, "
                                 f"the first {first['variant']} seed {first['seed']}: {first.get('error') or 'no message'}")
        raise AffectlabError("BASE and NEW have no finished run of a common seed yet; see the failed trials")
    first = runs[(base.digest, both[0])]
    task = run_summary(first).task or "regression"
    specs = run_specs(first)
    key = primary_metric(task)
    hib = higher_is_better(key)
    try:
        split = shared_headline_split(run_summary(r) for r in runs.values()).value
    except AffectlabError:
        raise AffectlabError("the runs share neither test, val nor out-of-fold (oof) predictions; nothing to compare") from None
    only = metrics_for_keys([key])
    targets = [s.name for s in specs]

    scores: dict[tuple[str, int], np.ndarray] = {}
    points: dict[tuple[str, int], float] = {}
    shared_n: dict[int, int] = {}
    units = ""
    for si, s in enumerate(seeds):
        here = [v for v in plan.variants if (v.digest, s) in runs]
        if base not in here:
            continue
        frames = {}
        for v in here:
            p = runs[(v.digest, s)]["predictions"]
            frames[v.digest] = p[p["split"] == split].set_index("id")
        ids = None
        for f in frames.values():  # the samples every config of this seed predicted
            ok = f.index[np.isfinite(_numeric(f, specs, prefix="pred_")).all(axis=1)]
            ids = ok if ids is None else ids.intersection(ok)
        assert ids is not None  # a plan has at least BASE and NEW
        ids = ids.sort_values()
        ref = frames[base.digest].loc[ids]
        y = _numeric(ref, specs)
        groups = ref["group"].astype(str).to_numpy() if "group" in ref else None
        sampler = Resampler(len(ids), groups, seed + si)
        shared_n[s] = len(ids)
        units = f"{sampler.n_units} {sampler.unit}"
        w = sampler.weights(n_resamples)  # one draw of units per seed, the same for every config: paired
        for v in here:
            pred = _numeric(frames[v.digest].loc[ids], specs, prefix="pred_")
            points[(v.digest, s)] = float(fast_scores(task, y, pred, targets, sampler.codes, only=only).get(key, np.nan))
            scores[(v.digest, s)] = resampled_scores(task, y, pred, targets, sampler.codes, None, w, only).get(
                key, np.full(n_resamples, np.nan))

    rng = np.random.default_rng(seed)
    u_seed = rng.random((n_resamples, len(seeds)))  # shared by every contrast: sums and interactions stay consistent
    u_draw = rng.integers(0, n_resamples, (n_resamples, len(seeds)))

    def effect(label: str, kind: str, change: str | None, weights: dict[str, float]) -> Effect | None:
        used = [s for s in seeds if all((d, s) in points for d in weights)] if weights else list(both)
        if not used:
            return None
        k = len(used)
        point = float(np.mean([sum(w * points[(d, s)] for d, w in weights.items()) for s in used])) if weights else 0.0
        if k < 2:
            return Effect(label, kind, change, point, float("nan"), float("nan"), float("nan"), k)
        if weights:
            stacked = sum(w * np.stack([scores[(d, s)] for s in used]) for d, w in weights.items())  # (k, B)
            draws = stacked[np.floor(u_seed[:, :k] * k).astype(int), u_draw[:, :k]].mean(axis=1)
        else:  # the contrast cancels out (e.g. one change: the total is that change)
            draws = np.zeros(n_resamples)
        lo, hi = _percentiles(draws, level)
        return Effect(label, kind, change, point, lo, hi, _paired_p(draws), k)

    total_w = {new.digest: 1.0, base.digest: -1.0}
    effects: list[Effect | None] = [effect("total: NEW − BASE", "total", None, total_w)]
    summed: dict[str, dict[str, float]] = {kind: {} for kind in CONTEXT}  # the measured single effects, added up
    n_done = dict.fromkeys(CONTEXT, 0)
    for c in plan.changes:
        fv, bv = plan.variant(f"BASE + {c.key}"), plan.variant(f"NEW − {c.key}")
        # forward: (BASE + key) − BASE; backward: NEW − (NEW − key)
        for kind, variant, plus, minus in (("forward", fv, fv, base), ("backward", bv, new, bv)):
            if variant is None or plus is None or minus is None:
                continue
            weights = _plus({plus.digest: 1.0}, {minus.digest: -1.0})
            e = effect(f"{CONTEXT[kind]}: {c.key}", kind, c.key, weights)
            effects.append(e)
            if e is not None:
                n_done[kind] += 1
                summed[kind] = _plus(summed[kind], weights)
    n_changes = len(plan.changes)
    notes = []
    # the sum of single effects is only comparable with the total when every change was measured
    for kind, place in CONTEXT.items():
        weights = summed[kind]
        if n_changes > 1 and n_done[kind] == n_changes:
            effects.append(effect(f"sum of effects {place}", f"sum_{kind}", None, weights))
            effects.append(effect(f"interaction {place}", f"interaction_{kind}", None,
                                  _plus(total_w, {d: -w for d, w in weights.items()})))
        elif n_changes > 1:
            notes.append(f"sum of single effects {place}: {n_done[kind]} of {n_changes} changes measured; "
                         "no sum or interaction until every change is")
    done = [e for e in effects if e is not None]
    for e in done:
        e.verdict = _verdict(e, hib)
        if 0 < e.n_seeds < len(seeds):
            notes.append(f"{e.label}: {e.n_seeds} of {len(seeds)} seeds finished")
    per_seed = {" = ".join(v.names): [points.get((v.digest, s)) for s in seeds] for v in plan.variants}
    means = {name: float(np.mean([x for x in vals if x is not None])) for name, vals in per_seed.items()
             if any(x is not None for x in vals)}
    missing = [" = ".join(v.names) for v in plan.variants if any((v.digest, s) not in runs for s in seeds)]
    return {"task": task, "split": split, "metric": key, "higher_is_better": hib, "seeds": list(seeds),
            "shared_samples": [shared_n.get(s) for s in seeds], "resampled": units, "n_resamples": n_resamples,
            "level": level, "means": means, "per_seed": {k: v for k, v in per_seed.items() if k in means},
            "effects": [asdict(e) for e in done], "not_trained": missing, "notes": notes}


def _plus(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
    out = dict(a)
    for d, w in b.items():
        out[d] = out.get(d, 0.0) + w
    return {d: w for d, w in out.items() if w != 0}


def _verdict(e: Effect, hib: bool) -> str:
    if not math.isfinite(e.value):
        return "undefined (the metric is NaN)"
    if not (math.isfinite(e.ci_low) and math.isfinite(e.ci_high)):
        return "no interval (one seed)"
    if e.ci_low > 0 or e.ci_high < 0:
        better = (e.value > 0) == hib
        return "real: " + ("better" if better else "worse")
    return "noise"


# --------------------------------------------------------------------------- the command

@dataclass
class AblationResult:
    plan: Plan
    report: dict[str, Any]
    failed_trials: list[dict[str, Any]]
    storage: str
    study_name: str
    wall_seconds: float
    trained: bool = True  # False: --report-only (the wall time is the report's alone)


def run_ablation(base: str | Path, new: str | Path, data: str | Path, out: str | Path, *, seeds: int = 3,
                 workers: int = 1, storage: str | None = None, study_name: str | None = None,
                 n_resamples: int = 1000, report_only: bool = False, train_fn: TrainFn | None = None,
                 say: Callable[[str], None] = lambda _l: None, warn: Callable[[str], None] = lambda _l: None) -> AblationResult:
    """Plan, enqueue, train (``workers`` processes here; others may share the storage) and analyse."""
    t0 = time.perf_counter()
    if seeds < 1:
        raise AffectlabError("--seeds must be at least 1")
    if workers < 1:
        raise AffectlabError("--workers must be at least 1")
    data, out = Path(data), Path(out)
    if not data.exists():
        raise AffectlabError(f"{data}: no such file or folder")
    if out.exists() and not out.is_dir():
        raise AffectlabError(f"{out}: exists and is a file, not a folder")
    plan = Plan.read(out / "plan.json") if report_only else plan_ablation(base, new)
    if not report_only and train_fn is None:  # data that BASE cannot read: one line now, not a failed trial per
        base_variant = plan.variant("BASE")
        assert base_variant is not None  # every plan has its BASE
        _check_data(base_variant.config, data)  # variant and seed (a train_fn reads the data its own way)
    _optuna()
    if seeds == 1:
        warn("--seeds 1: no interval can be computed (the seed-to-seed spread is unknown); effects are single runs")
    for i in plan.ignored:
        say(f"ignored: {i['key']} ({_short(i['base'])} → {_short(i['new'])}): {i['reason']}")
    for i in plan.invalid:
        warn(f"skipped {i['variant']}: the single change makes an invalid config: {i['error']}")
    seed_list = list(range(1, seeds + 1))
    base_v, new_v = plan.ends()
    study_name = study_name or f"ablate-{_digest({'b': base_v.digest, 'n': new_v.digest})}"
    if storage:  # a bad URL is refused before anything is written
        study = open_study(storage, study_name)
    out.mkdir(parents=True, exist_ok=True)
    (out / "configs").mkdir(exist_ok=True)
    if not report_only:
        for v in plan.variants:
            v.path = str((out / "configs" / f"{v.digest}-{_slug(v.name)}.yaml").resolve())
            Path(v.path).write_text(yaml.safe_dump(v.config, sort_keys=False))
        write_json(out / "plan.json", plan.to_dict())
    if not storage:
        storage = f"sqlite:///{(out / 'optuna.db').resolve()}"
        study = open_study(storage, study_name)
    if not report_only:
        jobs = [{"job": f"{v.digest}/seed-{s}", "variant": v.name, "digest": v.digest, "seed": s, "config": v.path,
                 "run_dir": str(run_dir_for(out, v, s).resolve())}
                for v in plan.variants for s in seed_list if not (run_dir_for(out, v, s) / "summary.json").exists()]
        added = enqueue(study, jobs)
        say(f"{len(plan.changes)} changes, {len(plan.variants)} distinct configs × {seeds} seeds: "
            f"{added} trials queued in {storage} (study {study_name})")
        if workers == 1:
            work(storage, study_name, data, train_fn, say)
        else:
            _spawn_workers(workers, storage, study_name, data, say)
        _wait_for_others(study, say)
    failed = _failed_trials(study)
    report = analyse(plan, out, seed_list, n_resamples=n_resamples, failed=failed)
    result = AblationResult(plan, report, failed, storage, study_name, time.perf_counter() - t0, not report_only)
    write_json(out / "ablation.json", result_dict(result))
    (out / "ablation.md").write_text(markdown(result))
    return result


def _check_data(config: dict[str, Any], data: Path) -> None:
    """Read ``data`` as BASE's trials will (reader, columns, labels, targets): a file that cannot
    be trained on is refused before any trial (reading costs little beside training)."""
    from .corpus import read_corpus

    cfg = validate_config(copy.deepcopy(config), "BASE")
    corpus = read_corpus(data, cfg.data, require_labels=True)
    if not corpus.targets:
        raise AffectlabError(f"{data}: BASE declares no targets that the data has")


def _spawn_workers(n: int, storage: str, study_name: str, data: Path, say: Callable[[str], None]) -> None:
    """N independent trial processes (``python -m affectlab.ablate``); their lines go to stderr."""
    cmd = [sys.executable, "-m", "affectlab.ablate", storage, study_name, str(data)]
    procs = [subprocess.Popen(cmd) for _ in range(n)]
    say(f"{n} worker processes: {', '.join(str(p.pid) for p in procs)}")
    codes = [p.wait() for p in procs]
    if any(codes):
        say(f"worker exit codes: {codes}")


def _failed_trials(study) -> list[dict[str, Any]]:
    from optuna.trial import TrialState

    done = {t.user_attrs.get("job") for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))}
    out = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)):
        a = t.user_attrs
        if "job" in a and a["job"] not in done:
            out.append({"variant": a["variant"], "seed": a["seed"], "error": a.get("error", "")})
    return out


def result_dict(r: AblationResult) -> dict[str, Any]:
    p = r.plan
    return {"base": p.base_name, "new": p.new_name,
            "changes": [asdict(c) for c in p.changes], "ignored": p.ignored, "invalid": p.invalid,
            "variants": [{"names": v.names, "digest": v.digest, "config": v.path} for v in p.variants],
            **r.report, "failed_trials": r.failed_trials, "storage": r.storage, "study": r.study_name,
            "wall_seconds": r.wall_seconds, "trained": r.trained, "words": words(r)}


def _seed_value(x: float | None) -> str:
    return "not run" if x is None else _fmt(x, False)


def _fmt(x: float, sign: bool = True) -> str:
    return "nan" if x is None or not math.isfinite(x) else (f"{x:+.4f}" if sign else f"{x:.4f}")


def effect_rows(r: AblationResult) -> list[list[str]]:
    """Rows of the effects table: contrast, change, effect, interval, p, seeds used, verdict."""
    changes = {c.key: c for c in r.plan.changes}
    rows = []
    for e in r.report["effects"]:
        c = changes.get(e["key"]) if e["key"] else None
        what = f"{_short(c.base)} → {_short(c.new)}" if c else ""
        ci = "" if not math.isfinite(e["ci_low"]) else f"[{_fmt(e['ci_low'])}, {_fmt(e['ci_high'])}]"
        p = "" if not math.isfinite(e["p_value"]) else f"{e['p_value']:.2g}"
        rows.append([e["label"], what, _fmt(e["value"]), ci, p, str(e["n_seeds"]), e["verdict"]])
    return rows


def words(r: AblationResult) -> list[str]:
    """Plain sentences: which changes are real, which are noise, and how the sum compares to the total."""
    rep = r.report
    metric, split = rep["metric"], rep["split"]
    effects = rep["effects"]
    lines = []
    total = next(e for e in effects if e["kind"] == "total")
    lines.append(f"NEW − BASE: {metric} {_fmt(total['value'])} on {split} (mean of {total['n_seeds']} seed(s)"
                 + (f" with an interval [{_fmt(total['ci_low'])}, {_fmt(total['ci_high'])}]" if math.isfinite(total["ci_low"]) else "")
                 + f"): {total['verdict']}.")
    if len(rep["seeds"]) == 1:
        lines.append("One seed: no interval; every effect below could be seed noise.")
    elif any(e["n_seeds"] < 2 for e in effects):
        lines.append("An effect measured on one seed only has no interval; it could be seed noise.")
    for c in r.plan.changes:
        es = [e for e in effects if e["key"] == c.key]
        if not es:
            continue
        real = [e for e in es if e["verdict"].startswith("real")]
        desc = "; ".join(f"{CONTEXT[e['kind']]} {_fmt(e['value'])}"
                         + (f" [{_fmt(e['ci_low'])}, {_fmt(e['ci_high'])}]" if math.isfinite(e["ci_low"]) else "")
                         for e in es)
        if real:
            where = " and ".join(CONTEXT[e["kind"]] for e in real)
            verdict = f"REAL ({real[0]['verdict'].removeprefix('real: ')} {where})"
            tail = "the interval excludes 0" + (f" {where} only; the other context's interval includes 0"
                                                  if len(real) < len(es) else " in both contexts")
        elif all(e["verdict"] == "noise" for e in es):
            verdict, tail = "NOISE", "every interval includes 0: not distinguishable from seed and sample variation"
        else:
            verdict, tail = "UNKNOWN", es[0]["verdict"]
        lines.append(f"{verdict}: {c.key} {_short(c.base)} → {_short(c.new)}: {desc}; {tail}.")
    for kind, where in CONTEXT.items():
        s = next((e for e in effects if e["kind"] == f"sum_{kind}"), None)
        inter = next((e for e in effects if e["kind"] == f"interaction_{kind}"), None)
        if s and inter:
            lines.append(f"The single effects {where} add up to {_fmt(s['value'])} against a measured total of "
                         f"{_fmt(total['value'])}; interaction {_fmt(inter['value'])}"
                         + (f" [{_fmt(inter['ci_low'])}, {_fmt(inter['ci_high'])}]" if math.isfinite(inter["ci_low"]) else "")
                         + f" ({inter['verdict']}).")
    for i in r.plan.invalid:
        lines.append(f"SKIPPED: {i['variant']}: invalid config ({i['error']}).")
    for f in r.failed_trials:
        lines.append(f"FAILED: {f['variant']} seed {f['seed']}: {f['error']}.")
    for n in rep.get("notes", []):
        lines.append(f"NOTE: {n}.")
    if rep["not_trained"]:
        lines.append(f"NOT FINISHED on every seed (yet): {', '.join(rep['not_trained'])}.")
    return lines


def markdown(r: AblationResult) -> str:
    """The report as a markdown file (DIR/ablation.md)."""
    rep = r.report
    hib = "higher is better" if rep["higher_is_better"] else "lower is better"
    head = (f"# Ablation {r.plan.base_name} → {r.plan.new_name}\n\n"
            f"Primary metric `{rep['metric']}` ({hib}) on the `{rep['split']}` split, seeds {rep['seeds']} "
            f"(model and split seed), {', '.join('–' if n is None else str(n) for n in rep['shared_samples'])} shared samples per seed; intervals: "
            f"{int(rep['level'] * 100)}% paired bootstrap over seeds and {rep['resampled']} "
            f"({rep['n_resamples']} resamples). Effect = metric with the change − without it. "
            + (f"Wall time {r.wall_seconds:.0f} s.\n\n" if r.trained else
               f"Report made from the existing run directories in {r.wall_seconds:.0f} s.\n\n"))
    t = "| contrast | change | effect | 95% CI | p | seeds | verdict |\n|---|---|---|---|---|---|---|\n"
    t += "".join("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |\n" for row in effect_rows(r))
    m = "\n| config | mean " + rep["metric"] + " | per seed |\n|---|---|---|\n"
    m += "".join(f"| {name} | {_fmt(v, False)} | {', '.join(_seed_value(x) for x in rep['per_seed'][name])} |\n"
                 for name, v in rep["means"].items())
    ign = "".join(f"- ignored `{i['key']}` ({_short(i['base'])} → {_short(i['new'])}): {i['reason']}\n" for i in r.plan.ignored)
    return head + t + m + "\n" + (ign + "\n" if ign else "") + "".join(f"- {w}\n" for w in words(r))


__all__ = ["AblationResult", "Change", "Plan", "Variant", "analyse", "enqueue", "markdown", "plan_ablation",
           "run_ablation", "trial_config", "words", "work"]


if __name__ == "__main__":  # a worker process: python -m affectlab.ablate STORAGE STUDY DATA
    import torch

    torch.set_num_threads(1)
    storage_url, name, data_path = sys.argv[1:4]
    work(storage_url, name, data_path, say=lambda line: print(line, file=sys.stderr, flush=True))
