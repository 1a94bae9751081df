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


def test_cross_entropy_matches_torch_and_sklearn_with_balanced_class_weights():
    from sklearn.metrics import log_loss
    from sklearn.utils.class_weight import compute_class_weight

    from affectlab.losses import balanced_class_weights

    rng = np.random.default_rng(2)
    labels = np.array([0, 0, 0, 0, 1, 1, 2, 0, 1, 0])
    logits = torch.tensor(rng.normal(size=(10, 3)))
    weights = balanced_class_weights(labels, 3)
    np.testing.assert_allclose(weights, compute_class_weight("balanced", classes=np.arange(3), y=labels))
    # one regression column after the three logits; rows 8 and 9 unlabelled for the category target
    pred = torch.cat([logits, torch.zeros(10, 1)], dim=1)
    target = torch.tensor(np.stack([labels, np.ones(10)], axis=1), dtype=torch.float64)
    mask = torch.ones(10, 2, dtype=torch.bool)
    mask[8:, 0] = False
    terms = [LossTerms(ce=0.5), LossTerms(mse=1.0)]
    total, parts = weighted_loss(pred, target, mask, terms, ["e", "v"], widths=(3, 1),
                                 class_weights=[torch.from_numpy(weights), None])
    y = torch.from_numpy(labels[:8])
    ref = torch.nn.functional.cross_entropy(logits[:8], y, weight=torch.from_numpy(weights))
    assert float(parts["e"]) == pytest.approx(0.5 * float(ref), rel=1e-9)
    proba = torch.softmax(logits[:8], dim=1).numpy()
    assert float(ref) == pytest.approx(log_loss(labels[:8], proba, sample_weight=weights[labels[:8]], labels=[0, 1, 2]), rel=1e-9)
    assert float(parts["v"]) == pytest.approx(1.0) and float(total) == pytest.approx(0.5 * float(ref) + 1.0)
    # without weights: the plain mean over labelled rows
    _, plain = weighted_loss(pred, target, mask, terms, ["e", "v"], widths=(3, 1))
    assert float(plain["e"]) == pytest.approx(0.5 * float(torch.nn.functional.cross_entropy(logits[:8], y)), rel=1e-9)


def test_class_absent_from_training_gets_zero_weight_and_no_nan():
    from affectlab.losses import balanced_class_weights, category_loss

    w = balanced_class_weights(np.array([0.0, 0.0, 1.0, np.nan]), 3)
    assert w.tolist() == pytest.approx([0.5, 1.0, 0.0])  # 3 / (3 * 2), 3 / (3 * 1), absent
    only_unseen = category_loss(torch.zeros(2, 3), torch.tensor([2.0, 2.0]), LossTerms(ce=1.0), torch.from_numpy(w))
    assert float(only_unseen) == 0.0
