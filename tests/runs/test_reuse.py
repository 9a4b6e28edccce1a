"""A cached evaluation is reused only under its full key, art-sor's version included."""

from __future__ import annotations

import art_sor
from art_sor.core.threat import ThreatModel
from art_sor.evaluation.plan import EvaluationPlan
from art_sor.runs.reuse import evaluation_cache_key, stored_evaluation
from art_sor.storage import write_checked_json

PLAN = EvaluationPlan(ThreatModel(0.1, "inf"), attacks=("fgsm",), samples=10, curve=False, geometry=False)


def test_an_evaluation_cached_by_another_version_is_not_reused(tmp_path, monkeypatch):
    model = {"checksum": "0123abcd"}  # a checkpoint's identity carries no version of its own
    key = evaluation_cache_key(PLAN, model)
    assert key["art-sor"] == art_sor.__version__
    cache = tmp_path / "evaluation.json"
    write_checked_json(cache, {"key": key, "complete": True, "result": {}})
    assert stored_evaluation(cache, evaluation_cache_key(PLAN, model)) is not None
    monkeypatch.setattr(art_sor, "__version__", "99.0.0")
    assert stored_evaluation(cache, evaluation_cache_key(PLAN, model)) is None
