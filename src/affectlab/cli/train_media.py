"""``affectlab train CONFIG --media DIR --labels LABELS.csv``: extract (cached), then train on the result.

The flag checks and the extraction step of ``train``, kept apart from :mod:`affectlab.cli.train`
so that its options stay few; the work is :mod:`affectlab.features.media_corpus`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional, Sequence

from ..core.errors import AffectlabError
from .common import file_progress, print_notes, say

if TYPE_CHECKING:
    from ..config import RunConfig
    from ..features.media_corpus import MediaPlan


def check_sources(data: "Optional[Path | Sequence[Path]]", media: Optional[Path], labels: Optional[Path]) -> None:
    """Exactly one of ``--data`` (once or repeated) and ``--media`` (``--labels`` goes with ``--media``): one line otherwise."""
    if isinstance(data, (list, tuple)) and not data:
        data = None  # typer gives a repeatable option that was not given as an empty list
    if data is not None and (media is not None or labels is not None):
        raise AffectlabError("give --data (features already extracted) or --media with --labels (extracted now), not both")
    if data is None and media is None:
        raise AffectlabError("give --data PATH, or --media DIR with --labels LABELS.csv")
    if (media is None) != (labels is None):
        raise AffectlabError("--media and --labels go together: the folder and the table naming its files")


def plan(config: Path, cfg: "RunConfig", media: Path, labels: Path) -> "MediaPlan":
    """Every check of the extraction (both configs, LABELS.csv, the media files), nothing written."""
    from ..features.media_corpus import plan_media

    return plan_media(cfg, config, media, labels)


def extract(media_plan: "MediaPlan", quiet: bool) -> Path:
    """Extract the planned corpus (cached features are read, not recomputed); say what was done; the pickle."""
    from ..features.media_corpus import extract_plan

    progress, on_progress = file_progress(quiet)
    with progress:
        summary = extract_plan(media_plan, progress=on_progress)
    failed = [p for p in summary.problems if p.status == "failed"]
    if failed:
        print_notes([f"{len(failed)} samples could not be extracted and are left out, e.g. {failed[0].file} "
                     f"(line {failed[0].line}): {failed[0].reason}; all in {summary.errors_path}"])
    say(f"{summary.line()} (settings: {media_plan.origin})", err=True)
    return media_plan.out
