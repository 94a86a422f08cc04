"""Every shipped derivation checks clean, every step proved."""

from pathlib import Path

import pytest

from symce.read.toml import load_derivation
from symce.verify.steps import check

FILES = sorted((Path(__file__).parent.parent / "derivations").glob("*.toml"))


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_derivation_checks_clean(path):
    report = check(load_derivation(path))
    failures = [(r.chain, r.index, r.evidence.value, r.detail) for r in report.steps if not r.evidence.proved]
    assert failures == []
    assert report.passed()


@pytest.mark.parametrize("name, steps", [
    ("softmax_cross_entropy.toml", 21), ("stable_softmax.toml", 10),
    # what the exports stand on (issue 13): every step proved for all k, none only for k = 2..6
    ("cross_entropy_targets.toml", 12), ("cross_entropy_integer_labels.toml", 9),
    ("cross_entropy_soft_targets.toml", 5), ("loss_reductions.toml", 4), ("bce_with_logits.toml", 13),
    ("mean_squared_error.toml", 3), ("temperature_cross_entropy.toml", 6),
])
def test_symbolic_files_are_proved_for_every_k(name, steps):
    report = check(load_derivation(Path(__file__).parent.parent / "derivations" / name))
    assert {r.evidence.name for r in report.steps} == {"PROVED_ALL_K"}
    assert len(report.steps) == steps


CATALOGUE = {  # the first ML course (issue 12): file -> the evidence every step must have
    "sigmoid_bce.toml": "proved",
    "mse_linear_regression.toml": "proved for all n, d",
    "linear_layer.toml": "proved for all n, d",
    "mlp_backprop.toml": "proved for all d, m, o",
    "softmax_jacobian.toml": "proved for all k",
    "log_softmax.toml": "proved for all k",
    "softmax_temperature.toml": "proved for all k",
    "label_smoothing.toml": "proved for all k",
    "weight_decay.toml": "proved for all d",
    "layer_norm.toml": "proved for all d",
}


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_catalogue_is_proved_for_all_of_its_dims(name):
    report = check(load_derivation(Path(__file__).parent.parent / "derivations" / name))
    assert {r.evidence_text for r in report.steps} == {CATALOGUE[name]}
