import numpy as np
import pytest
import torch

from affectlab.config import LossTerms
from affectlab.losses import ccc_loss, corr_loss, weighted_loss
from affectlab.metrics import ccc, pearson


def test_ccc_and_corr_losses_match_metrics():
    rng = np.random.default_rng(1)
    y, p = rng.normal(size=50), rng.normal(size=50)
    assert float(ccc_loss(torch.tensor(p), torch.tensor(y))) == pytest.approx(1 - ccc(y, p), abs=1e-6)
    assert float(corr_loss(torch.tensor(p), torch.tensor(y))) == pytest.approx(1 - pearson(y, p), abs=1e-6)


def test_weighted_loss_masks_and_weights():
    pred = torch.tensor([[0.0, 1.0], [1.0, 2.0], [2.0, 0.0], [9.0, 9.0]], requires_grad=True)
    target = torch.tensor([[0.0, 1.0], [1.0, 1.0], [2.0, 1.0], [0.0, 0.0]])
    mask = torch.tensor([[1, 1], [1, 1], [1, 1], [0, 0]], dtype=torch.bool)
    total, parts = weighted_loss(pred, target, mask, [LossTerms(mse=1.0), LossTerms(ccc=0.7, mae=0.3)], ["v", "a"])
    assert parts["v"].item() == pytest.approx(0.0)  # the masked row (9, 9) is ignored
    expected_a = 0.7 * float(ccc_loss(pred[:3, 1], target[:3, 1])) + 0.3 * (0 + 1 + 1) / 3
    assert float(parts["a"]) == pytest.approx(expected_a, abs=1e-6)
    total.backward()
    assert torch.isfinite(pred.grad).all() and (pred.grad[3] == 0).all()
