"""Evaluations of saved models: run once, cached under the full key of model and plan, reported in one format."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from art.estimators.classification import PyTorchClassifier

from art_sor.classifiers.checkpoints import (
    load_classifier,
    load_state_dict_classifier,
    read_torch_dict,
)
from art_sor.classifiers.published import (
    MADRY_ARCHITECTURE,
    ROBUSTBENCH_EPS,
    ROBUSTBENCH_THREATS,
    MadryCheckpoint,
    RobustBenchModel,
    load_robustbench_classifier,
    madry_checkpoint,
    madry_classifier,
    robustbench_dataset,
)
from art_sor.classifiers.wrapping import standardisation_arrays
from art_sor.core.norms import norm_label
from art_sor.core.threat import ThreatModel, format_radius
from art_sor.data import Dataset
from art_sor.deprecation import moved_names
from art_sor.evaluation.attacks import ART_AUTOATTACK_NOTE, CANONICAL_AUTOATTACK_LABEL
from art_sor.evaluation.full_evaluation import FullEvaluation, default_attacks, evaluate_classifier
from art_sor.evaluation.randomness import ATTACK_SEED
from art_sor.evaluation.worst_case import WorstCaseExamples
from art_sor.plotting import COLOURS, save_figure, style
from art_sor.runs.identity import checkpoint_folder, plain
from art_sor.runs.reports import Report, Table, percent
from art_sor.storage import CHECKSUM_KEY, CorruptFileError, read_checked_json, write_checked_json

# Renamed in 0.3; the old name works for one release.
__getattr__ = moved_names(__name__, {"ModelEvaluation": "art_sor.runs.evaluating:TestSetEvaluation"})

CANONICAL_NOTE = (f"{CANONICAL_AUTOATTACK_LABEL} is the reference AutoAttack of Croce and Hein (pyautoattack, "
                  "standard version: APGD-CE, APGD-T, FAB-T, Square-5000), run through art-sor's ART wrapper")


@dataclass(frozen=True)
class EvaluationPlan:
    """How a model is evaluated; equal plans give comparable numbers.

    :param threat: The threat model.
    :param attacks: Attack specs, or ``None`` for :func:`~art_sor.evaluation.full_evaluation.default_attacks`.
    :param samples: Leading test images attacked (clean accuracy uses all of them).
    :param curve: Security curve.
    :param geometry: Gradient norm, Hessian eigenvalue and linearity gap.
    :param tolerance: Accuracy difference the obfuscation diagnostics tolerate.
    :param batch_size: Batch size of attacks and predictions.
    """

    threat: ThreatModel
    attacks: tuple[str, ...] | None = None
    samples: int = 1000
    curve: bool = True
    geometry: bool = True
    tolerance: float = 0.02
    batch_size: int = 128

    @property
    def attack_specs(self) -> list[str]:
        """The attacks that run."""
        return list(self.attacks) if self.attacks is not None else default_attacks(self.threat)

    def key(self) -> dict[str, Any]:
        """What the numbers depend on besides the model (the attacks' seed included)."""
        return plain({"threat": self.threat.to_dict(), "attacks": self.attack_specs, "samples": self.samples,
                      "curve": self.curve, "geometry": self.geometry, "tolerance": self.tolerance,
                      "attack_seed": ATTACK_SEED})


@dataclass
class TestSetEvaluation:
    """A model's evaluation and its clean accuracy on the whole test set."""

    clean_accuracy: float
    evaluation: FullEvaluation
    test_images: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {"clean_accuracy": self.clean_accuracy, "test_images": self.test_images,
                "evaluation": self.evaluation.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TestSetEvaluation:
        """Inverse of :meth:`to_dict`."""
        return cls(clean_accuracy=data["clean_accuracy"], test_images=data["test_images"],
                   evaluation=FullEvaluation.from_dict(data["evaluation"]))

    def metrics(self) -> dict[str, float]:
        """The headline numbers, by name (for experiment trackers): accuracies, worst case and geometry."""
        r = self.evaluation.robustness
        metrics = {"clean_accuracy": self.clean_accuracy, "attacked_clean_accuracy": r.clean_accuracy,
                   **{f"accuracy/{a.spec}": a.accuracy for a in r.attacks},
                   "worst_case_accuracy": r.worst_case_accuracy()}
        g = self.evaluation.geometry
        if g is not None:
            metrics |= {"gradient_norm": g.gradient_norm, "hessian_eigenvalue": g.hessian_eigenvalue,
                        "linearity_gap": g.linearity_gap}
        return metrics

    def to_markdown(self) -> str:
        """A short summary: clean accuracy on the whole test set, then :meth:`FullEvaluation.to_markdown`."""
        return (f"Clean accuracy on all {self.test_images} test images: {percent(self.clean_accuracy)} %.\n"
                f"{self.evaluation.to_markdown()}")

    def __str__(self) -> str:
        return self.to_markdown()


def cached_evaluation(plan: EvaluationPlan, model: dict[str, Any], cache: Path) -> TestSetEvaluation | None:
    """The finished evaluation that :func:`evaluate_model` would reuse from ``cache``, or ``None``."""
    stored = _stored(cache, _cache_key(plan, model))
    return TestSetEvaluation.from_dict(stored["result"]) if stored is not None and stored["complete"] else None


def _cache_key(plan: EvaluationPlan, model: dict[str, Any]) -> dict[str, Any]:
    return {"model": plain(model), "plan": plan.key()}


def _stored(cache: Path | None, key: dict[str, Any]) -> dict[str, Any] | None:
    """The cache's contents if it holds an evaluation (finished or not) under ``key``."""
    stored = read_checked_json(cache) if cache is not None and cache.exists() else None
    return stored if stored is not None and stored["key"] == key else None


def evaluate_model(classifier: PyTorchClassifier, data: Dataset, plan: EvaluationPlan, model: dict[str, Any],
                   cache: Path | None = None, verbose: bool = True,
                   adversarial: Path | None = None) -> TestSetEvaluation:
    """Evaluate ``classifier`` on ``data``'s test set with ``plan``, reusing a cached evaluation of the same model.

    The cache file holds the model's key (``model``), the plan's key and the result. It is written after every
    attack, so an interrupted evaluation keeps what it measured and a rerun continues from there; it is reused
    only when both keys are equal.

    :param model: Identifies the model (its run key, or its checkpoint's checksum).
    :param cache: JSON file for the cached evaluation, or ``None``.
    :param adversarial: ``.npz`` file for each attacked sample's worst-case adversarial example (see
                        :mod:`~art_sor.evaluation.worst_case`), saved with the same key. Unless one with this key
                        exists beside a complete cache, every attack runs again, so that the examples and the
                        numbers come from one run.
    """
    key = _cache_key(plan, model)
    stored = _stored(cache, key)
    if adversarial is not None and not _saved_examples(adversarial, key):
        stored = None
    previous = None
    if stored is not None:
        if stored["complete"]:
            return TestSetEvaluation.from_dict(stored["result"])
        previous = FullEvaluation.from_dict(stored["result"]["evaluation"])
    clean = float(np.mean(classifier.predict(data.x_test, batch_size=plan.batch_size).argmax(axis=1)
                          == data.y_test))
    test_images = len(data.x_test)

    def save(evaluation: FullEvaluation, complete: bool) -> None:
        if cache is not None:
            result = TestSetEvaluation(clean, evaluation, test_images).to_dict()
            write_checked_json(cache, {"key": key, "complete": complete, "result": result})

    x, y = data.x_test[:plan.samples], data.y_test[:plan.samples]
    examples = WorstCaseExamples() if adversarial is not None else None
    evaluation = evaluate_classifier(classifier, x, y, plan.threat, attacks=plan.attack_specs, curve=plan.curve,
                                     geometry=plan.geometry, tolerance=plan.tolerance, batch_size=plan.batch_size,
                                     verbose=verbose, on_partial=lambda partial: save(partial, False),
                                     previous=previous, examples=examples)
    if examples is not None:
        examples.save(adversarial, plan.threat, key)
    save(evaluation, True)
    return TestSetEvaluation(clean, evaluation, test_images)


def _saved_examples(path: Path, key: dict[str, Any]) -> bool:
    """Whether ``path`` holds worst-case examples saved under ``key``."""
    if not path.exists():
        return False
    with np.load(path) as saved:
        return "key" in saved and json.loads(str(saved["key"])) == key


def attack_notes(evaluation: FullEvaluation) -> list[str]:
    """What readers must know about the attacks that ran (which AutoAttack is which)."""
    labels = {r.label for r in evaluation.robustness.attacks}
    notes = []
    if "AutoAttack (ART ensemble)" in labels:
        notes.append(ART_AUTOATTACK_NOTE)
    if any(label.endswith("Croce–Hein)") for label in labels):
        notes.append(CANONICAL_NOTE)
    return notes


def evaluation_report(result: TestSetEvaluation, title: str, context: dict[str, Any]) -> Report:
    """The report of one model's evaluation; ``context`` (checkpoint, dataset, training key) goes into the JSON."""
    evaluation = result.evaluation
    r = evaluation.robustness
    threat = r.threat
    attacks = evaluation.attack_table()
    label, samples, accuracy, seconds = attacks.rows[-1]
    attacks.rows[-1] = [f"**{label}**", samples, f"**{accuracy}**", seconds]
    checks = Table(["check", "verdict", "evidence"],
                   [[c.name, {True: "pass", False: "**FAIL**", None: "not run"}[c.passed], c.detail]
                    for c in evaluation.checks], numeric=False)
    blocks: list[str | Table] = [
        f"Threat model: {threat.label}; {len(r.clean)} test images attacked. Clean accuracy on all "
        f"{result.test_images} test images: {percent(result.clean_accuracy)} %.", attacks,
        "A sample counts as robust only if no attack broke it.", "## Gradient-obfuscation diagnostics", checks]
    if evaluation.obfuscation_suspected:
        blocks.append("**Possible gradient obfuscation: at least one diagnostic failed; treat these robust "
                      "accuracies as upper bounds.**")
    if evaluation.curve is not None:
        c = evaluation.curve
        blocks += [f"## Security curve ({c.attack})",
                   Table(["ε", "accuracy (%)"], [[format_radius(e), percent(a)] for e, a in zip(c.eps, c.accuracy,
                                                                                             strict=True)])]
    if evaluation.geometry is not None:
        g = evaluation.geometry
        measures = [["‖∇ₓℓ‖₂", f"{g.gradient_norm:.4g}"], ["dual norm ‖∇ₓℓ‖_*", f"{g.gradient_dual_norm:.4g}"],
                    ["top Hessian eigenvalue", f"{g.hessian_eigenvalue:.4g}"],
                    [f"local-linearity gap γ(ε = {format_radius(threat.eps)})", f"{g.linearity_gap:.4g}"]]
        blocks += [f"## Geometry ({g.samples} samples)", Table(["measure", "mean"], measures)]
    blocks += [f"Note: {note}." for note in attack_notes(evaluation)]
    plots = {"attacks.png": lambda path: plot_attacks(evaluation, path, title)}
    if evaluation.curve is not None:
        plots["security_curve.png"] = lambda path: plot_security_curve(evaluation, path, title)
    return Report(title=title, blocks=blocks, data={**context, **result.to_dict(), "notes": attack_notes(evaluation)},
                  plots=plots)


def plot_attacks(evaluation: FullEvaluation, path: Path, title: str) -> None:
    """Bar chart of accuracy per attack, with clean and worst-case bars."""
    r = evaluation.robustness
    labels = ["clean", *[a.label + ("*" if a.samples < len(r.clean) else "") for a in r.attacks], "worst case"]
    values = [r.clean_accuracy, *[a.accuracy for a in r.attacks], r.worst_case_accuracy()]
    with style() as plt:
        fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(labels)), 4.0))
        bars = ax.bar(range(len(labels)), [100 * v for v in values],
                      color=[COLOURS[0]] + [COLOURS[1]] * len(r.attacks) + [COLOURS[3]])
        ax.bar_label(bars, fmt="%.1f", fontsize=7)
        ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
        ax.set_ylabel("accuracy (%)")
        ax.set_ylim(0, 108)
        ax.grid(axis="x", visible=False)
        subset = " (* on a subset)" if any(a.samples < len(r.clean) for a in r.attacks) else ""
        ax.set_title(f"{title}\n{r.threat.label}{subset}")
        save_figure(fig, path)


def plot_security_curve(evaluation: FullEvaluation, path: Path, title: str) -> None:
    """Accuracy against ε, with the evaluated ε and chance level marked."""
    c = evaluation.curve
    with style() as plt:
        fig, ax = plt.subplots(figsize=(6.0, 4.0))
        ax.plot(c.eps, [100 * a for a in c.accuracy], marker="o", color=COLOURS[0], label=c.attack)
        ax.axhline(100 * c.chance, color="grey", linestyle=":", label="chance")
        threat = evaluation.robustness.threat
        ax.axvline(threat.eps, color=COLOURS[3], linestyle="--", label=f"evaluated ε = {format_radius(threat.eps)}")
        if threat.eps in c.eps:  # curves computed before the evaluated ε was one of their points lack it
            at = 100 * c.accuracy[c.eps.index(threat.eps)]
            ax.plot([threat.eps], [at], marker="D", markersize=8, color=COLOURS[3], linestyle="none",
                    label=f"{at:.1f} % at the evaluated ε")
        ax.set_xlabel(f"ε ({norm_label(c.norm)})")
        ax.set_ylabel("accuracy (%)")
        ax.set_ylim(0, 100)
        ax.set_title(f"{title}\nsecurity curve")
        ax.legend(loc="upper right")
        save_figure(fig, path)


ROBUSTBENCH_MODEL_DIR = "models"
"""RobustBench's own default folder for its models."""


class ModelMismatchError(ValueError):
    """A saved model that does not fit the data or the options given with it.

    :ivar option: The option at fault (``--dataset``, ``--architecture``, ``--mean``...).
    """

    def __init__(self, message: str, option: str) -> None:
        super().__init__(message)
        self.option = option


@dataclass
class OpenedModel:
    """A saved model ready to evaluate.

    :ivar classifier: The ART classifier, on inputs in [0, 1].
    :ivar identity: What identifies the weights (a checksum, or a RobustBench name with its files' checksums).
    :ivar run: The key of the art-sor run that trained it, or ``None``.
    :ivar name: Its name in titles and captions.
    :ivar folder: Its part of the default output folder's name, different for every model.
    :ivar threat: The threat model it was trained for (``eps`` and ``norm``), where known.
    """

    classifier: PyTorchClassifier
    identity: dict[str, Any]
    run: dict[str, Any] | None
    name: str
    folder: str
    threat: dict[str, Any] | None = None


Standardisation = tuple[Sequence[float], Sequence[float]]
"""``(mean, std)`` of the inputs a model was trained on: one value, or one per channel, each."""


def open_model(source: Path | RobustBenchModel, data: Dataset, architecture: str | None = None,
               device: str = "auto", standardisation: Standardisation | None = None,
               model_dir: str | os.PathLike[str] | None = None, download: bool = False) -> OpenedModel:
    """Open a model and check that it fits ``data``.

    ``source`` is an art-sor checkpoint, a MadryLab ``robustness`` checkpoint (such as the SOR paper's models;
    ``architecture`` defaults to theirs, ``resnet18``), a bare ``state_dict`` of ``architecture``, or a RobustBench
    model (see :mod:`art_sor.classifiers.published`).

    :param standardisation: ``(mean, std)`` for a bare ``state_dict`` of a model trained on standardised inputs,
                            applied inside the classifier so that ε stays in pixel space; refused for the other
                            formats, which carry their own.
    :param model_dir: Where RobustBench keeps its models (default ``models``); refused for other models.
    :param download: Let RobustBench download missing weights.
    :raises art_sor.storage.CorruptFileError: If the file cannot be read as such, or its run key names an unknown
                                              threat model.
    :raises ModelMismatchError: If the model's input shape or number of classes is not the dataset's, or an
                                option does not apply to the model.
    :raises ImportError: For a RobustBench model without the ``robustbench`` extra.
    :raises FileNotFoundError: For a RobustBench model whose weights are missing and ``download`` is false.
    """
    if isinstance(source, RobustBenchModel):
        return _open_robustbench(source, data, architecture, standardisation, model_dir or ROBUSTBENCH_MODEL_DIR,
                                 download, device)
    if model_dir is not None:
        raise ModelMismatchError(f"{source} is a file; --model-dir is where RobustBench keeps robustbench:NAME models",
                                 "--model-dir")
    content = read_torch_dict(source, "a model checkpoint or state_dict")
    if CHECKSUM_KEY in content:  # written by art-sor: its own errors (corrupted, edited) are the ones to report
        opened = _open_art_sor(source, architecture, standardisation, device)
    else:
        madry = madry_checkpoint(content)
        if madry is not None:
            opened = _open_madry(source, madry, data, architecture, standardisation, device)
        elif architecture is None:
            raise CorruptFileError(f"{source} is neither an art-sor checkpoint nor a MadryLab robustness checkpoint; "
                                   "for a bare state_dict pass its --architecture")
        else:
            preprocessing = _standardisation(standardisation, data.input_shape[0])
            classifier = load_state_dict_classifier(source, architecture, data.input_shape, data.nb_classes,
                                                    device, preprocessing)
            identity = {"state_dict": _sha256(source), "architecture": architecture}
            if standardisation is not None:  # absent otherwise, so that earlier evaluations keep their key
                identity["standardisation"] = [[float(v) for v in values] for values in standardisation]
            opened = OpenedModel(classifier, identity, None, source.stem, checkpoint_folder(source))
    shape, classes = tuple(opened.classifier.input_shape), opened.classifier.nb_classes
    if shape != data.input_shape:
        raise ModelMismatchError(f"the model expects inputs of shape {shape}, but {data.name} has "
                                 f"{data.input_shape}", "--dataset")
    if classes != data.nb_classes:
        raise ModelMismatchError(f"the model has {classes} classes, but {data.name} has {data.nb_classes}",
                                 "--dataset")
    return opened


def _open_art_sor(path: Path, architecture: str | None, standardisation: Standardisation | None,
                  device: str) -> OpenedModel:
    if architecture is not None:
        raise ModelMismatchError("this is an art-sor checkpoint, which names its own architecture; drop "
                                 "--architecture", "--architecture")
    classifier, state = load_classifier(path, device=device)
    if standardisation is not None:
        mean, std = state["preprocessing"]
        raise ModelMismatchError(f"this art-sor checkpoint carries its own standardisation (mean {mean}, std "
                                 f"{std}); drop --mean and --std", "--mean")
    run = state["metadata"].get("run")
    if run is not None:
        try:
            ThreatModel(**run["threat"])
        except (ValueError, TypeError, KeyError) as error:
            raise CorruptFileError(f"{path}: its run key holds an invalid threat model ({error})") from error
    return OpenedModel(classifier, {"checkpoint": state["checksum"]}, run,
                       run["defence"]["spec"] if run else path.stem, checkpoint_folder(path),
                       run["threat"] if run else None)


def _open_madry(path: Path, madry: MadryCheckpoint, data: Dataset, architecture: str | None,
                standardisation: Standardisation | None, device: str) -> OpenedModel:
    if standardisation is not None:
        raise ModelMismatchError(f"this MadryLab robustness checkpoint carries its own normaliser (mean "
                                 f"{list(madry.mean)}, std {list(madry.std)}); drop --mean and --std", "--mean")
    if madry.channels != data.input_shape[0]:
        raise ModelMismatchError(f"the checkpoint's normaliser has {madry.channels} channels, but {data.name} has "
                                 f"{data.input_shape[0]}", "--dataset")
    given, architecture = architecture, architecture or MADRY_ARCHITECTURE
    try:
        classifier = madry_classifier(madry, data.input_shape, data.nb_classes, architecture, device, path)
    except CorruptFileError as error:
        # The library does not record its architecture: a network other than the SOR paper's needs naming.
        raise ModelMismatchError(f"{error}; {'check' if given else 'pass'} the network's --architecture",
                                 "--architecture") from error
    epoch = f", epoch {madry.epoch}" if madry.epoch is not None else ""
    identity = {"madry_checkpoint": _sha256(path), "architecture": architecture}
    return OpenedModel(classifier, identity, None, f"{path.stem} (MadryLab robustness{epoch})",
                       checkpoint_folder(path))


def _open_robustbench(model: RobustBenchModel, data: Dataset, architecture: str | None,
                      standardisation: Standardisation | None, model_dir: str | os.PathLike[str], download: bool,
                      device: str) -> OpenedModel:
    if architecture is not None:
        raise ModelMismatchError("RobustBench models come with their own architecture; drop --architecture",
                                 "--architecture")
    if standardisation is not None:
        raise ModelMismatchError("RobustBench models standardise their inputs themselves; drop --mean and --std",
                                 "--mean")
    try:
        robustbench_dataset(data.name)
    except ValueError as error:
        raise ModelMismatchError(str(error), "--dataset") from error
    try:
        loaded = load_robustbench_classifier(model, data.name, model_dir, download, device)
    except ValueError as error:
        raise ModelMismatchError(str(error), "CHECKPOINT") from error
    threat = {"norm": ROBUSTBENCH_THREATS[loaded.threat_model], "eps": ROBUSTBENCH_EPS[loaded.threat_model]}
    return OpenedModel(loaded.classifier, loaded.identity, None, f"{model.name} (RobustBench, {loaded.threat_model})",
                       f"robustbench-{loaded.dataset}-{loaded.threat_model}-{model.name}", threat)


def _standardisation(standardisation: Standardisation | None, channels: int) -> tuple[np.ndarray, np.ndarray]:
    if standardisation is None:
        return standardisation_arrays([0.0], [1.0])
    for values, option in zip(standardisation, ("--mean", "--std"), strict=True):
        if len(values) not in (1, channels):
            raise ModelMismatchError(f"{option} has {len(values)} values; give one, or one per channel ({channels})",
                                     option)
    return standardisation_arrays(*standardisation)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
