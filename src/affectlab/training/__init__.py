"""Training: a LightningModule around any network, early stopping, checkpoints, resume, seeds."""

from . import fusion_estimator as _fusion_estimator  # noqa: F401  (registers the fusion models)
from . import sequence_estimator as _sequence_estimator  # noqa: F401  (registers user_sequence)
from . import mlp_estimator as _mlp_estimator  # noqa: F401  (registers mlp)
from .fit import fit_network
from .module import AffectModule

__all__ = ["AffectModule", "fit_network"]
