"""Threat models: every built-in dataset has a sourced standard radius in each norm."""

from __future__ import annotations

from art_sor.core.norms import GEOMETRIES
from art_sor.core.threat import FALLBACK_RADII, STANDARD_RADII, ThreatModel, standard_radius
from art_sor.registry import DATASETS


def test_every_built_in_dataset_has_a_sourced_radius_per_norm():
    for name in DATASETS.names():
        if name in ("npz", "folder"):
            continue  # the user's own data: the fallback's
        assert set(STANDARD_RADII[name]) == set(GEOMETRIES), name
        assert all(radius.source for radius in STANDARD_RADII[name].values())
    assert ThreatModel.for_dataset("mnist", "l2") == ThreatModel(2.0, "l2")
    assert ThreatModel.for_dataset("cifar10") == ThreatModel(8 / 255, "inf")
    assert standard_radius("npz:data.npz", 1) == FALLBACK_RADII["l1"]
