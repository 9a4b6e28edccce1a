"""Experiment tracking: each run's settings, per-epoch records and final evaluation, to TensorBoard and MLflow.

A :class:`Tracking` says where logs go; :meth:`Tracking.open` gives one run's :class:`RunTracker`, which is also an
epoch hook (:data:`~art_sor.trainers.base.EpochCallback`). Each destination receives each epoch once: the run
folder's ``tracking.json`` records, for the run's key, how many epochs every destination holds (and MLflow's run
id), so a resumed or extended run logs only its new epochs into the same TensorBoard folder and MLflow run, and a
reused run sends its whole history only to a destination that has none of it. Metric names are those of the epoch
records under ``train/`` and of the final evaluation under ``eval/``; the step is the epoch. Tracking changes no
result, so it is no part of the run's key.

Both libraries are optional (extras ``art-sor[tensorboard]`` and ``art-sor[mlflow]``) and imported only when used.
"""

from __future__ import annotations

import abc
import hashlib
import json
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse
from urllib.request import url2pathname

from art_sor.core.errors import SettingError
from art_sor.runs.folders import FolderError, check_writable
from art_sor.runs.run_key import RunKey, RunMismatchError, plain
from art_sor.storage import read_checked_json, write_checked_json
from art_sor.trainers.state import differing_settings

if TYPE_CHECKING:
    from art_sor.trainers.base import EpochTrainer

TRACKING_FILE = "tracking.json"
"""What a run folder's logs hold, per destination."""
OWNER_FILE = "art_sor_run.json"
"""In a TensorBoard run folder: which run writes there, so that two runs never mix their events."""
EXPERIMENT = "art-sor"

# MLflow accepts these characters in metric and parameter names on every platform; TensorBoard gets the same names.
_INVALID_NAME = re.compile(r"[^/\w.\- ]")
_PARAMS_PER_BATCH = 100


def metric_name(name: str) -> str:
    """``name`` with the characters MLflow refuses replaced by ``_`` (``pgd:steps=20`` → ``pgd_steps_20``)."""
    return _INVALID_NAME.sub("_", name)


def flat_params(settings: dict[str, Any], prefix: str = "") -> dict[str, str | int | float | bool]:
    """A nested settings dict as dotted names and scalar values (lists and ``None`` as their JSON text)."""
    flat: dict[str, str | int | float | bool] = {}
    for key, value in settings.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            flat.update(flat_params(value, name))
        else:
            flat[metric_name(name)] = value if isinstance(value, (str, int, float, bool)) else json.dumps(value)
    return flat


def epoch_metrics(record: dict[str, Any]) -> dict[str, float]:
    """The numbers of an epoch record (losses, penalty parts, accuracies, learning rate, seconds, monitor)."""
    return {metric_name(f"train/{key}"): float(value) for key, value in record.items()
            if key != "epoch" and isinstance(value, (int, float)) and not isinstance(value, bool)}


def _digest(run: dict[str, Any]) -> str:
    """A short hash of a run's key, to find its logs again in a store."""
    return hashlib.sha256(json.dumps(run, sort_keys=True).encode()).hexdigest()[:16]


def _writable(folder: str | Path, setting: str) -> None:
    """Refuse a tracking destination that cannot be written, as a setting of the run (checked before any work)."""
    try:
        check_writable(folder, setting)
    except FolderError as error:
        raise SettingError(f"{setting}: {error}", setting) from error


def _require(module: str, extra: str, setting: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(f"{setting} needs {extra}, which is not installed: pip install 'art-sor[{extra}]'") from error


def logs_line(runs: dict[str, dict[str, Any]]) -> str | None:
    """A report's sentence saying where each run's logs went (``None`` when none were logged).

    :param runs: Each run's :meth:`RunTracker.where`, by run label.
    """
    parts = []
    for label, where in runs.items():
        places = ([f"TensorBoard {where['tensorboard']}"] if "tensorboard" in where else []) + (
            [f"MLflow run {where['mlflow']['run_id']} ({where['mlflow']['uri']}, experiment "
             f"{where['mlflow']['experiment']})"] if "mlflow" in where else [])
        if places:
            parts.append(f"{label}: {', '.join(places)}")
    return f"Logs: {'; '.join(parts)}." if parts else None


class Destination(abc.ABC):
    """One run's logs in one backend."""

    @property
    @abc.abstractmethod
    def key(self) -> str:
        """Names the destination in ``tracking.json`` (backend and location)."""

    @abc.abstractmethod
    def begin(self, state: dict[str, Any], run: dict[str, Any]) -> dict[str, Any]:
        """Open the logs of the run whose key is ``run``, continuing those that an earlier session saved in ``state``.

        ``state["epochs"]`` is ``None`` when no ledger says what was logged (``tracking.json`` is new or was lost):
        the destination then counts what it holds itself, so that nothing is logged twice.

        :return: The state to save; its ``epochs`` is 0 when the earlier logs are gone.
        """

    @abc.abstractmethod
    def log(self, metrics: dict[str, float], step: int) -> None:
        """Log metrics at ``step``."""

    @abc.abstractmethod
    def log_final(self, metrics: dict[str, float], params: dict[str, Any], step: int) -> None:
        """Log the final evaluation (with the settings, where the backend pairs them)."""

    @abc.abstractmethod
    def where(self) -> dict[str, Any]:
        """Where the logs are, for reports."""

    @abc.abstractmethod
    def close(self) -> None:
        """Flush and release."""


class TensorBoardDestination(Destination):
    """A run's folder of TensorBoard events (``torch.utils.tensorboard``), under ``log_dir/<run name>``.

    The settings go in as a text summary at the start and as hyperparameters (HParams tab) with the final metrics.
    A session that continues the folder's events purges those past the epochs ``tracking.json`` counts (an epoch
    logged just before a crash that lost its checkpoint is trained and logged again), with TensorBoard's own
    ``purge_step``.
    """

    def __init__(self, log_dir: Path, name: str, folder: Path | None) -> None:
        self.path = (log_dir / name).resolve()
        self._folder = str(folder.resolve()) if folder is not None else None
        self._writer: Any = None

    @property
    def key(self) -> str:
        """``tensorboard:<folder>``."""
        return f"tensorboard:{self.path}"

    def begin(self, state: dict[str, Any], run: dict[str, Any]) -> dict[str, Any]:
        """Refuse a folder that another run logs to; start over when its events are gone."""
        tensorboard = _require("torch.utils.tensorboard", "tensorboard", "log_dir")
        owner, path = {"folder": self._folder, "run": run}, self.path / OWNER_FILE
        if path.exists():
            differing = differing_settings(read_checked_json(path), owner)
            if differing:
                raise RunMismatchError(f"log_dir: {self.path} holds the TensorBoard logs of another run "
                                       f"({'; '.join(differing[:3])}); remove it or choose another log_dir",
                                       "log_dir")
        else:
            write_checked_json(path, owner)
        if not any(self.path.glob("events.out.tfevents.*")):
            state = {"epochs": 0, "final_step": None}
            self._writer = tensorboard.SummaryWriter(log_dir=str(self.path))
            self._writer.add_text("settings", "\n".join(f"    {k} = {v}" for k, v in flat_params(run).items()))
        else:
            if state["epochs"] is None:
                state = self._logged()
            self._writer = tensorboard.SummaryWriter(log_dir=str(self.path), purge_step=state["epochs"] + 1)
        return state

    def _logged(self) -> dict[str, Any]:
        """The last epoch and final-evaluation step that the folder's events hold (purged events excluded)."""
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

        events = EventAccumulator(str(self.path), size_guidance={"scalars": 0})
        events.Reload()
        steps = {prefix: [event.step for tag in events.Tags()["scalars"] if tag.startswith(prefix)
                          for event in events.Scalars(tag)] for prefix in ("train/", "eval/")}
        return {"epochs": max(steps["train/"], default=0), "final_step": max(steps["eval/"], default=None)}

    def log(self, metrics: dict[str, float], step: int) -> None:
        """``add_scalar`` per metric."""
        for name, value in metrics.items():
            self._writer.add_scalar(name, value, global_step=step)
        self._writer.flush()

    def log_final(self, metrics: dict[str, float], params: dict[str, Any], step: int) -> None:
        """Hyperparameters with the final metrics, written into the run's own folder (``run_name="."``)."""
        self._writer.add_hparams(params, metrics, run_name=".", global_step=step)
        self._writer.flush()

    def where(self) -> dict[str, Any]:
        """The run's folder."""
        return {"tensorboard": str(self.path)}

    def close(self) -> None:
        """Close the writer."""
        if self._writer is not None:
            self._writer.close()


class MLflowDestination(Destination):
    """A run in an MLflow experiment (``MlflowClient``); the settings are its parameters, the step the epoch.

    :param uri: Tracking URI, or ``None`` for MLflow's own default (``MLFLOW_TRACKING_URI``, else its default).
    """

    def __init__(self, uri: str | None, experiment: str, name: str, folder: Path | None = None) -> None:
        mlflow = _require("mlflow", "mlflow", "mlflow")
        self.uri = uri or mlflow.get_tracking_uri()
        self.experiment, self.name = experiment, name
        self._folder = str(folder.resolve()) if folder is not None else None
        self._client: Any = None
        self.run_id: str | None = None

    @property
    def key(self) -> str:
        """``mlflow:<uri>#<experiment>``."""
        return f"mlflow:{self.uri}#{self.experiment}"

    def connect(self) -> str:
        """Open the store and the experiment (created if need be); return the experiment's id.

        :raises SettingError: Naming ``mlflow_uri`` when MLflow refuses the store.
        """
        from mlflow.exceptions import MlflowException
        from mlflow.tracking import MlflowClient

        try:
            self._client = MlflowClient(tracking_uri=self.uri)
            experiment = self._client.get_experiment_by_name(self.experiment)
            return experiment.experiment_id if experiment else self._client.create_experiment(self.experiment)
        except MlflowException as error:
            raise SettingError(f"mlflow_uri {self.uri}: {error.message}", "mlflow_uri") from error

    def begin(self, state: dict[str, Any], run: dict[str, Any]) -> dict[str, Any]:
        """Continue the saved run when the store still has it, else create one and log the parameters."""
        from mlflow.entities import Param, RunStatus
        from mlflow.exceptions import MlflowException

        experiment_id = self.connect()
        tags = {"art_sor.run": self.name, "art_sor.key": _digest(run)}
        if self._folder is not None:
            tags["art_sor.folder"] = self._folder
        if state["epochs"] is None:
            state = self._logged(experiment_id, tags)
        run_id = state.get("run_id")
        if run_id is not None:
            try:
                self._client.update_run(run_id, status=RunStatus.to_string(RunStatus.RUNNING))
                self.run_id = run_id
                return state
            except MlflowException:
                pass  # deleted since: start a new run below
        self.run_id = self._client.create_run(experiment_id, run_name=self.name, tags=tags).info.run_id
        items = [Param(key, str(value)) for key, value in flat_params(run).items()]
        for start in range(0, len(items), _PARAMS_PER_BATCH):
            self._client.log_batch(self.run_id, params=items[start:start + _PARAMS_PER_BATCH])
        return {"epochs": 0, "final_step": None, "run_id": self.run_id}

    def _logged(self, experiment_id: str, tags: dict[str, str]) -> dict[str, Any]:
        """The run of this folder and key that the store holds, with its last epoch and final step, if any."""
        if self._folder is None or "'" in self._folder:
            return {"epochs": 0, "final_step": None}
        query = " and ".join(f"tags.`{key}` = '{value}'" for key, value in tags.items())
        runs = self._client.search_runs([experiment_id], filter_string=query, max_results=1)
        if not runs:
            return {"epochs": 0, "final_step": None}
        run = runs[0]
        steps = {prefix: [metric.step for name in run.data.metrics if name.startswith(prefix)
                          for metric in self._client.get_metric_history(run.info.run_id, name)]
                 for prefix in ("train/", "eval/")}
        return {"epochs": max(steps["train/"], default=0), "final_step": max(steps["eval/"], default=None),
                "run_id": run.info.run_id}

    def log(self, metrics: dict[str, float], step: int) -> None:
        """One batch of metrics at ``step``."""
        from mlflow.entities import Metric

        stamp = int(time.time() * 1000)
        self._client.log_batch(self.run_id, metrics=[Metric(k, v, stamp, step) for k, v in metrics.items()])

    def log_final(self, metrics: dict[str, float], params: dict[str, Any], step: int) -> None:
        """The final metrics at ``step`` (the parameters went in when the run was created)."""
        self.log(metrics, step)

    def where(self) -> dict[str, Any]:
        """URI, experiment and run id."""
        return {"mlflow": {"uri": self.uri, "experiment": self.experiment, "run_id": self.run_id}}

    def close(self) -> None:
        """Mark the run finished (a later session may reopen it)."""
        if self.run_id is not None:
            self._client.set_terminated(self.run_id)


@dataclass(frozen=True)
class Tracking:
    """Where runs are logged.

    :param log_dir: TensorBoard folder; each run logs to ``log_dir/<run name>``.
    :param mlflow: Log to MLflow.
    :param mlflow_uri: MLflow tracking URI, or ``None`` for ``MLFLOW_TRACKING_URI`` (else MLflow's default).
    :param experiment: MLflow experiment.
    """

    log_dir: Path | None = None
    mlflow: bool = False
    mlflow_uri: str | None = None
    experiment: str = EXPERIMENT

    @property
    def active(self) -> bool:
        """Whether anything is logged."""
        return self.log_dir is not None or self.mlflow

    def check(self) -> None:
        """Import the libraries and reach the MLflow store, so that a missing extra fails before any training.

        :raises ImportError: Naming the extra to install.
        :raises art_sor.runs.folders.FolderError: Naming ``log_dir`` or ``mlflow_uri``, for a folder that cannot be
                                                  written.
        :raises ValueError: When MLflow refuses the store.
        """
        if self.log_dir is not None:
            _require("torch.utils.tensorboard", "tensorboard", "log_dir")
            _writable(self.log_dir, "log_dir")
        if self.mlflow:
            store = urlparse(self.mlflow_uri or "")
            if store.scheme == "file":  # a file store that cannot be written fails only at the first log
                _writable(url2pathname(store.path), "mlflow_uri")
            MLflowDestination(self.mlflow_uri, self.experiment, "check").connect()

    def open(self, name: str, folder: Path | None = None) -> RunTracker:
        """The tracker of the run ``name`` (e.g. ``sor/seed-0``), whose state lives in ``folder`` (if given)."""
        destinations: list[Destination] = []
        if self.log_dir is not None:
            destinations.append(TensorBoardDestination(Path(self.log_dir), name, folder))
        if self.mlflow:
            destinations.append(MLflowDestination(self.mlflow_uri, self.experiment, name, folder))
        return RunTracker(destinations, folder / TRACKING_FILE if folder is not None else None)


class RunTracker:
    """One run's logs in every destination; call :meth:`start` with the run's key before logging.

    As an epoch hook it logs the epoch's record (and any earlier epochs a destination lacks); run it after the hooks
    that add entries to the record (robustness monitor, best-epoch selection).
    """

    def __init__(self, destinations: Sequence[Destination], state_path: Path | None) -> None:
        self.destinations = list(destinations)
        self.state_path = state_path
        self._state: dict[str, Any] = {}
        self._params: dict[str, Any] = {}
        self._run: dict[str, Any] | None = None

    def start(self, key: RunKey) -> None:
        """Open every destination for the run of ``key``; the saved state counts only for this key."""
        self._run = plain(key.to_dict())
        stored = read_checked_json(self.state_path) if self.state_path and self.state_path.exists() else None
        previous = stored["destinations"] if stored is not None and stored["run"] == self._run else {}
        self._params = flat_params(self._run)
        # A destination the ledger does not know (epochs None) counts what it holds itself.
        self._state = {d.key: d.begin(previous.get(d.key, {"epochs": None, "final_step": None}), self._run)
                       for d in self.destinations}
        self._save()

    def __call__(self, trainer: EpochTrainer, record: dict[str, Any]) -> None:
        """Epoch hook: log the epochs of ``trainer.history`` and ``record`` that a destination lacks (rank 0)."""
        if trainer.parallel.leader:
            self.log_history([*trainer.history, record])

    def log_history(self, history: Iterable[dict[str, Any]]) -> None:
        """Log every record whose epoch a destination does not hold yet."""
        history = list(history)
        for destination in self.destinations:
            state = self._state[destination.key]
            for record in history:
                if record["epoch"] > state["epochs"]:
                    destination.log(epoch_metrics(record), record["epoch"])
                    state["epochs"] = record["epoch"]
        self._save()

    def log_final(self, metrics: dict[str, float], epochs: int) -> None:
        """Log the final evaluation at step ``epochs``, once per destination and number of epochs."""
        metrics = {metric_name(f"eval/{name}"): float(value) for name, value in metrics.items()}
        for destination in self.destinations:
            state = self._state[destination.key]
            if state["final_step"] != epochs:
                destination.log_final(metrics, self._params, epochs)
                state["final_step"] = epochs
        self._save()

    def where(self) -> dict[str, Any]:
        """Where the logs are, for reports."""
        found: dict[str, Any] = {}
        for destination in self.destinations:
            found.update(destination.where())
        return found

    def close(self) -> None:
        """Close every destination."""
        for destination in self.destinations:
            destination.close()

    def __enter__(self) -> RunTracker:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def _save(self) -> None:
        if self.state_path is not None:
            write_checked_json(self.state_path, {"run": self._run, "destinations": self._state})
