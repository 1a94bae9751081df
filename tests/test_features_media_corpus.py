"""affectlab.features.media_corpus: which extract settings a run records and predict compares."""

from __future__ import annotations

import pytest

from affectlab.core.errors import AffectlabError
from affectlab.features.extract_config import ExtractConfig
from affectlab.features.media_corpus import check_same_settings, feature_settings


def settings(**audio) -> dict:
    """The recorded settings of an extraction with the default config and ``audio`` changed."""
    cfg = ExtractConfig.model_validate({"audio": audio, "face": {"enabled": True}})
    return feature_settings(cfg.model_dump(mode="json"))


def test_settings_that_leave_the_values_alone_are_not_compared():
    base = settings()
    for change in ({"min_duration": 0.05}, {"min_voiced_fraction": 0.5}, {"compare": True}, {"lld_pool": 10}):
        check_same_settings(base, settings(**change), {"audio"}, "new.pkl")  # no refusal


@pytest.mark.parametrize("change, key", [
    ({"pitch_floor": 60}, "audio.pitch_floor"),
    ({"sample_rate": 8000}, "audio.sample_rate"),
    ({"praat": False}, "audio.praat"),
    ({"sequence": "lld"}, "audio.sequence"),
])
def test_settings_that_change_the_values_are_refused_for_the_features_used(change, key):
    with pytest.raises(AffectlabError, match=f"new.pkl: extracted with {key} "):
        check_same_settings(settings(), settings(**change), {"audio"}, "new.pkl")
    check_same_settings(settings(), settings(**change), {"vision"}, "new.pkl")  # a face-only model: no matter


def test_files_without_recorded_settings_are_not_checked():
    check_same_settings({}, settings(pitch_floor=60), {"audio"}, "x.pkl")
    check_same_settings(settings(), {}, {"audio"}, "x.pkl")
