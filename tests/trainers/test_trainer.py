"""SORTrainer behaviour inside ART workflows: formats, models, schedulers, validation, errors, checkpoints."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from art.data_generators import DataGenerator, NumpyDataGenerator
from art.defences.trainer import Trainer
from conftest import digits_cnn, make_classifier
from torch import nn

from art_sor import SORTrainer, StandardTrainer, StepSettings
from art_sor.classifiers.view import ClassifierView
from art_sor.classifiers.wrapping import wrap_model
from art_sor.core import sor_loss
from art_sor.core.threat import ThreatModel
from art_sor.trainers.adversarial import PGDTrainer


class PlainCNN(nn.Module):
    """Not an nn.Sequential: ART's own TRADES/FBF index outputs with [0] and break on the Sequential case."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, padding=1)
        self.fc = nn.Linear(8 * 16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(nn.functional.max_pool2d(torch.relu(self.conv(x)), 2), 1))


def test_is_an_art_trainer(digits_classifier):
    trainer = SORTrainer(digits_classifier, ThreatModel(0.1, "inf"))
    assert isinstance(trainer, Trainer)
    assert trainer.get_classifier() is digits_classifier


@pytest.mark.parametrize("model_factory", [digits_cnn, lambda: PlainCNN()], ids=["sequential", "plain"])
@pytest.mark.parametrize("one_hot", [False, True], ids=["index", "one-hot"])
def test_fit_learns_with_either_label_format_and_model_kind(small_digits, model_factory, one_hot):
    x, y, x_test, y_test = small_digits
    torch.manual_seed(0)
    classifier = make_classifier(model_factory(), (1, 8, 8), clip_values=(0.0, 1.0))
    labels = np.eye(10, dtype=np.float32)[y] if one_hot else y
    trainer = SORTrainer(classifier, ThreatModel(0.05, "inf"))
    history = trainer.fit(x, labels, nb_epochs=4, batch_size=32, verbose=False)
    assert len(history) == 4
    assert history[-1]["loss"] < history[0]["loss"]
    accuracy = np.mean(trainer.predict(x_test).argmax(1) == y_test)
    assert accuracy > 0.7


def test_one_hot_and_index_labels_train_identically(small_digits):
    x, y, _, _ = small_digits
    weights = []
    for labels in (y, np.eye(10)[y]):
        torch.manual_seed(1)
        classifier = make_classifier(digits_cnn(), (1, 8, 8))
        SORTrainer(classifier, ThreatModel(0.05, "inf")).fit(x, labels, nb_epochs=1, batch_size=64, verbose=False)
        weights.append(torch.cat([p.detach().flatten() for p in classifier.model.parameters()]))
    torch.testing.assert_close(weights[0], weights[1])


def test_history_records_parts_accuracy_and_time(small_digits):
    x, y, x_val, y_val = small_digits
    trainer = SORTrainer(make_classifier(digits_cnn(), (1, 8, 8)), ThreatModel(0.05, "inf"))
    history = trainer.fit(x, y, validation_data=(x_val, y_val), nb_epochs=2, batch_size=50, verbose=False)
    record = history[-1]
    for key in ("epoch", "loss", "clean_loss", "first_order", "second_order", "penalty", "train_accuracy",
                "validation_accuracy", "seconds", "learning_rate"):
        assert key in record, key
    assert record["epoch"] == 2
    assert record["loss"] == pytest.approx(record["clean_loss"] + record["penalty"], rel=1e-5)
    assert 0 <= record["validation_accuracy"] <= 1 and record["seconds"] > 0
    assert trainer.history is history


def test_validation_accuracy_uses_one_preprocessing_pass(small_digits):
    """ART's trainers standardise validation data twice; ours must report the classifier's own accuracy."""
    x, y, x_val, y_val = small_digits
    classifier = make_classifier(digits_cnn(), (1, 8, 8), preprocessing=(0.3, 0.4))
    history = SORTrainer(classifier, ThreatModel(0.05, "inf")).fit(x, y, validation_data=(x_val, y_val), nb_epochs=2,
                                                                   verbose=False)
    expected = np.mean(classifier.predict(x_val).argmax(1) == y_val)
    assert history[-1]["validation_accuracy"] == pytest.approx(expected)


def test_step_lr_scheduler_steps_once_per_epoch(small_digits):
    x, y, _, _ = small_digits
    classifier = make_classifier(digits_cnn(), (1, 8, 8), lr=0.01)
    scheduler = torch.optim.lr_scheduler.StepLR(classifier.optimizer, step_size=1, gamma=0.5)
    history = SORTrainer(classifier, ThreatModel(0.05, "inf")).fit(x, y, nb_epochs=3, scheduler=scheduler,
                                                                   verbose=False)
    assert [r["learning_rate"] for r in history] == pytest.approx([0.01, 0.005, 0.0025])
    assert classifier.optimizer.param_groups[0]["lr"] == pytest.approx(0.00125)


def test_any_object_with_step_is_a_scheduler(small_digits):
    x, y, _, _ = small_digits

    class Counter:
        steps = 0

        def step(self) -> None:
            self.steps += 1

    counter = Counter()
    SORTrainer(make_classifier(digits_cnn(), (1, 8, 8)), ThreatModel(0.05, "inf")).fit(x, y, nb_epochs=2,
                                                                                       scheduler=counter,
                                                                                       verbose=False)
    assert counter.steps == 2


def test_caller_arrays_are_never_modified(small_digits):
    x, y, x_val, y_val = small_digits
    arrays = [x, y, x_val, y_val]
    copies = [a.copy() for a in arrays]
    flags = [a.flags.writeable for a in arrays]
    classifier = make_classifier(digits_cnn(), (1, 8, 8), clip_values=(0.0, 1.0), preprocessing=(0.5, 0.5))
    SORTrainer(classifier, ThreatModel(0.1, "inf"), iterations=2).fit(x, y, validation_data=(x_val, y_val), nb_epochs=1,
                                                                       verbose=False)
    for array, copy, flag in zip(arrays, copies, flags, strict=True):
        np.testing.assert_array_equal(array, copy)
        assert array.flags.writeable == flag


def test_fit_generator_over_art_data_generator(small_digits):
    x, y, x_test, y_test = small_digits
    torch.manual_seed(0)
    classifier = make_classifier(digits_cnn(), (1, 8, 8))
    generator = NumpyDataGenerator(x, y, batch_size=32, drop_remainder=False, shuffle=True)
    history = SORTrainer(classifier, ThreatModel(0.05, "inf")).fit_generator(generator, nb_epochs=4, verbose=False)
    assert len(history) == 4 and history[-1]["loss"] < history[0]["loss"]
    assert np.mean(classifier.predict(x_test).argmax(1) == y_test) > 0.6


def test_fit_and_fit_generator_refuse_keywords_they_do_not_take(small_digits):
    # ART's Trainer.fit takes **kwargs; swallowing them trained the default 20 epochs for fit(..., epochs=5).
    x, y, _, _ = small_digits
    trainer = StandardTrainer(make_classifier(digits_cnn(), (1, 8, 8)))
    with pytest.raises(TypeError, match=r"unknown keyword argument\(s\) 'epochs' \(did you mean 'nb_epochs'\?\)"):
        trainer.fit(x, y, epochs=5, verbose=False)
    generator = NumpyDataGenerator(x, y, batch_size=32, drop_remainder=False, shuffle=True)
    with pytest.raises(TypeError, match=r"fit_generator\(\) got unknown keyword argument\(s\) 'batch_size'"):
        trainer.fit_generator(generator, batch_size=64, verbose=False)
    assert trainer.history == []


class _Yields(DataGenerator):
    """A user's generator that declares one batch size and yields another."""

    def __init__(self, x: np.ndarray, y: np.ndarray, declared: int, yielded: int) -> None:
        super().__init__(len(x), declared)
        self.x, self.y, self.yielded, self.start = x, y, yielded, 0

    def get_batch(self) -> tuple[np.ndarray, np.ndarray]:
        batch = slice(self.start, self.start + self.yielded)
        self.start = (self.start + self.yielded) % len(self.x)
        return self.x[batch], self.y[batch]


def test_fit_generator_refuses_a_generator_that_does_not_yield_what_it_declares(small_digits):
    from art.data_generators import PyTorchDataGenerator
    from torch.utils.data import DataLoader, TensorDataset

    x, y, _, _ = small_digits
    x, y = x[:160], y[:160]
    dataset = TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
    trainer = SORTrainer(make_classifier(digits_cnn(), (1, 8, 8)), ThreatModel(0.05, "inf"))
    faults = [(PyTorchDataGenerator(DataLoader(dataset, batch_size=32), size=160, batch_size=64),
               "generator.batch_size is 64 but its DataLoader yields batches of 32"),
              (PyTorchDataGenerator(DataLoader(dataset, batch_size=64), size=200, batch_size=64),
               "generator.size is 200 but its DataLoader holds 160"),
              (PyTorchDataGenerator(DataLoader(dataset, batch_size=64, drop_last=True), size=160, batch_size=64),
               "drop_last=True"),
              (NumpyDataGenerator(x, y, batch_size=64), "yields 2 batches per epoch"),
              (_Yields(x, y, declared=64, yielded=32), "returned 32 samples as batch 1 of 3")]
    for generator, message in faults:
        with pytest.raises(ValueError, match=message):
            trainer.fit_generator(generator, nb_epochs=1, verbose=False)
        assert trainer.history == []


def test_standard_trainer_has_no_penalty(small_digits):
    x, y, _, _ = small_digits
    history = StandardTrainer(make_classifier(digits_cnn(), (1, 8, 8))).fit(x, y, nb_epochs=1, verbose=False)
    assert history[0]["loss"] == history[0]["clean_loss"] and "penalty" not in history[0]


def test_regularizer_passes_leave_batchnorm_statistics_alone(small_digits):
    """Only the clean, train-mode pass may move BN's running statistics; the perturbed passes run in eval mode."""
    x, y, _, _ = small_digits
    torch.manual_seed(0)
    model = digits_cnn(batch_norm=True)
    classifier = make_classifier(model, (1, 8, 8), lr=1e-12)
    bn = model[1]
    expected = bn.running_mean.clone()
    with torch.no_grad():
        batch = torch.tensor(x[:64])
        expected = 0.9 * expected + 0.1 * model[0](batch).mean(dim=(0, 2, 3))
    SORTrainer(classifier, ThreatModel(0.3, "inf"), iterations=3).fit(x[:64], y[:64], nb_epochs=1, batch_size=64,
                                                                      verbose=False)
    torch.testing.assert_close(bn.running_mean, expected)
    assert bn.num_batches_tracked.item() == 1


def test_loss_flows_through_standardisation(digits):
    """δ lives in raw input space: SOR through ART's preprocessing equals SOR on the explicitly composed model."""
    torch.manual_seed(0)
    model = digits_cnn().double()
    classifier = make_classifier(model, (1, 8, 8), preprocessing=(0.2, 0.5), clip_values=(0.0, 1.0))
    view = ClassifierView(classifier)
    x = torch.tensor(digits.x_train[:16], dtype=torch.float64)
    y = torch.tensor(digits.y_train[:16])
    ours = sor_loss(view.loss_fn(y), x, ThreatModel(0.1, "inf"), box=view.box)
    explicit = sor_loss(lambda z: nn.functional.cross_entropy(model((z - 0.2) / 0.5), y, reduction="none"), x,
                        ThreatModel(0.1, "inf"), box=(torch.tensor(0.0), torch.tensor(1.0)))
    torch.testing.assert_close(ours.loss, explicit.loss)
    torch.testing.assert_close(ours.delta, explicit.delta)
    assert ours.loss.dtype == torch.float64


def test_checkpoint_saves_every_epoch_and_resumes(small_digits, tmp_path):
    x, y, _, _ = small_digits

    def run(nb_epochs: int, resume: bool) -> tuple[SORTrainer, list]:
        torch.manual_seed(0)
        classifier = make_classifier(digits_cnn(), (1, 8, 8))
        trainer = SORTrainer(classifier, ThreatModel(0.05, "inf"))
        return trainer, trainer.fit(x, y, nb_epochs=nb_epochs, batch_size=64, verbose=False,
                                    checkpoint_dir=tmp_path / "run", resume=resume)

    run(2, resume=False)
    assert (tmp_path / "run" / "training_state.pt").exists()
    resumed, history = run(3, resume=True)
    assert [r["epoch"] for r in history] == [1, 2, 3]

    torch.manual_seed(0)
    straight = make_classifier(digits_cnn(), (1, 8, 8))
    SORTrainer(straight, ThreatModel(0.05, "inf")).fit(x, y, nb_epochs=3, batch_size=64, verbose=False)
    for a, b in zip(resumed.get_classifier().model.parameters(), straight.model.parameters(), strict=True):
        torch.testing.assert_close(a, b)


def test_resume_refuses_another_configuration(small_digits, tmp_path):
    x, y, _, _ = small_digits
    first = SORTrainer(make_classifier(digits_cnn(), (1, 8, 8)), ThreatModel(0.05, "inf"))
    first.fit(x, y, nb_epochs=1, verbose=False, checkpoint_dir=tmp_path)
    other = SORTrainer(make_classifier(digits_cnn(), (1, 8, 8)), ThreatModel(0.1, "inf"))
    with pytest.raises(ValueError, match=r"other settings.*config.eps: 0.05 → 0.1"):
        other.fit(x, y, nb_epochs=2, verbose=False, checkpoint_dir=tmp_path, resume=True)


def test_resume_refuses_other_data_or_another_scheduler(small_digits, tmp_path):
    x, y, _, _ = small_digits

    def trainer() -> SORTrainer:
        return SORTrainer(make_classifier(digits_cnn(), (1, 8, 8)), ThreatModel(0.05, "inf"))

    def one_cycle(fitted: SORTrainer) -> torch.optim.lr_scheduler.OneCycleLR:
        return torch.optim.lr_scheduler.OneCycleLR(fitted.get_classifier().optimizer, max_lr=0.01, epochs=3,
                                                   steps_per_epoch=5)

    first = trainer()
    first.fit(x, y, nb_epochs=1, batch_size=64, verbose=False, checkpoint_dir=tmp_path, scheduler=one_cycle(first),
              scheduler_interval="batch")
    with pytest.raises(ValueError, match="training data: other x or y"):
        subset = trainer()
        subset.fit(x[:256], y[:256], nb_epochs=2, batch_size=64, verbose=False, checkpoint_dir=tmp_path,
                   resume=True, scheduler=one_cycle(subset), scheduler_interval="batch")
    with pytest.raises(ValueError, match="scheduler: OneCycleLR per batch → None"):
        trainer().fit(x, y, nb_epochs=2, batch_size=64, verbose=False, checkpoint_dir=tmp_path, resume=True)
    same = trainer()
    history = same.fit(x, y, nb_epochs=2, batch_size=64, verbose=False, checkpoint_dir=tmp_path, resume=True,
                       scheduler=one_cycle(same), scheduler_interval="batch")
    assert [record["epoch"] for record in history] == [1, 2]


def test_a_fresh_fit_does_not_replace_another_runs_training_state(small_digits, tmp_path):
    x, y, _, _ = small_digits
    first = SORTrainer(make_classifier(digits_cnn(), (1, 8, 8)), ThreatModel(0.05, "inf"))
    first.fit(x, y, nb_epochs=1, verbose=False, checkpoint_dir=tmp_path)
    first.fit(x, y, nb_epochs=2, verbose=False, checkpoint_dir=tmp_path)  # its own state: it goes on
    saved = (tmp_path / "training_state.pt").read_bytes()
    other = SORTrainer(make_classifier(digits_cnn(), (1, 8, 8)), ThreatModel(0.05, "inf"))
    with pytest.raises(ValueError, match=r"holds the training state of another run.*overwrite=True"):
        other.fit(x, y, nb_epochs=1, verbose=False, checkpoint_dir=tmp_path)
    assert (tmp_path / "training_state.pt").read_bytes() == saved
    assert len(other.fit(x, y, nb_epochs=1, verbose=False, checkpoint_dir=tmp_path, overwrite=True)) == 1
    with pytest.raises(ValueError, match="is a file"):
        other.fit(x, y, nb_epochs=1, verbose=False, checkpoint_dir=tmp_path / "training_state.pt")
    wider = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    with pytest.raises(ValueError, match="training state of another model"):
        SORTrainer(make_classifier(wider, (1, 8, 8)), ThreatModel(0.05, "inf")).fit(
            x, y, nb_epochs=3, verbose=False, checkpoint_dir=tmp_path, resume=True)


def test_amp_trains_in_bfloat16_on_cpu(small_digits):
    x, y, x_test, y_test = small_digits
    torch.manual_seed(0)
    classifier = make_classifier(digits_cnn(), (1, 8, 8))
    trainer = SORTrainer(classifier, ThreatModel(0.05, "inf"), step_settings=StepSettings(amp=True))
    history = trainer.fit(x, y, nb_epochs=4, batch_size=32, verbose=False)
    assert not trainer.scales_gradients  # bfloat16 keeps float32's range: no loss scaling on CPUs
    assert history[-1]["loss"] < history[0]["loss"]
    assert np.mean(classifier.predict(x_test).argmax(1) == y_test) > 0.6


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_trains_on_cuda_when_the_classifier_is_on_cuda(small_digits):
    x, y, _, _ = small_digits
    classifier = make_classifier(digits_cnn(), (1, 8, 8), device_type="gpu", clip_values=(0.0, 1.0))
    assert classifier.device.type == "cuda"
    trainer = SORTrainer(classifier, ThreatModel(0.05, "inf"), step_settings=StepSettings(amp=True))
    trainer.fit(x, y, nb_epochs=1, verbose=False)
    assert trainer.regularizer.box[0].device.type == "cuda"
    assert next(classifier.model.parameters()).device.type == "cuda"


def test_progress_bar_and_logging(small_digits, capsys, caplog):
    x, y, _, _ = small_digits
    with caplog.at_level("INFO", logger="art_sor"):
        SORTrainer(make_classifier(digits_cnn(), (1, 8, 8)), ThreatModel(0.05, "inf")).fit(x, y, nb_epochs=1,
                                                                                           verbose=True)
    assert "sor 1/1" in capsys.readouterr().err
    assert any("sor epoch 1" in message for message in caplog.messages)
    SORTrainer(make_classifier(digits_cnn(), (1, 8, 8)), ThreatModel(0.05, "inf")).fit(x, y, nb_epochs=1, verbose=False)
    assert capsys.readouterr().err == ""


# ---- bad input: every error names the argument ----

def test_rejects_non_pytorch_estimator():
    from art.estimators.classification import SklearnClassifier
    from sklearn.linear_model import LogisticRegression

    with pytest.raises(TypeError, match="classifier"):
        SORTrainer(SklearnClassifier(LogisticRegression()), ThreatModel(0.1, "inf"))


def test_rejects_classifier_without_optimizer():
    from art.estimators.classification import PyTorchClassifier

    classifier = PyTorchClassifier(digits_cnn(), nn.CrossEntropyLoss(), (1, 8, 8), 10)
    with pytest.raises(ValueError, match="optimizer"):
        SORTrainer(classifier, ThreatModel(0.1, "inf"))


@pytest.mark.parametrize("kwargs,name", [
    ({"threat": 0.1}, "threat"), ({"iterations": 0}, "iterations"), ({"iterations": 1.5}, "iterations"),
    ({"h": 0.0}, "h"), ({"hvp": "approx"}, "hvp"), ({"step": "momentum"}, "step"),
])
def test_rejects_bad_hyperparameters(digits_classifier, kwargs, name):
    with pytest.raises(ValueError, match=name):
        SORTrainer(digits_classifier, **{"threat": ThreatModel(0.1, "inf"), **kwargs})


@pytest.mark.parametrize("args,name", [
    ((0.0, "inf"), "eps"), ((-0.1, "inf"), "eps"), ((float("nan"), "inf"), "eps"), ((0.1, 3), "norm"),
    ((0.1, "l3"), "norm"),
])
def test_the_threat_model_checks_radius_and_norm_once(args, name):
    with pytest.raises(ValueError, match=name):
        ThreatModel(*args)


@pytest.mark.parametrize("norm", [np.inf, "inf", 2, "l2"])
def test_accepts_norm_spellings(digits_classifier, norm):
    assert SORTrainer(digits_classifier, ThreatModel(0.1, norm)).regularizer.threat.norm in ("inf", "l2")


def test_rejects_bad_data(small_digits, digits_classifier):
    x, y, _, _ = small_digits
    trainer = SORTrainer(digits_classifier, ThreatModel(0.1, "inf"))
    nan_x = x.copy()
    nan_x[3, 0, 2, 2] = np.nan
    inf_x = x.copy()
    inf_x[0, 0, 0, 0] = np.inf
    cases = [
        ((x, y[:-1]), ValueError, "different lengths"),
        ((x, np.where(y == 0, 10, y)), ValueError, "y has labels outside"),
        ((x, np.where(y == 0, -1, y)), ValueError, "y has labels outside"),
        ((nan_x, y), ValueError, "x contains NaN or inf"),
        ((inf_x, y), ValueError, "x contains NaN or inf"),
        ((x.reshape(len(x), 64), y), ValueError, "input_shape"),
        ((x[:, :, :4], y), ValueError, "input_shape"),
        ((x, np.full((len(y), 10), 0.1)), ValueError, "not one-hot"),
        ((list(x), y), TypeError, "x must be a numpy array"),
    ]
    for (xx, yy), error, message in cases:
        with pytest.raises(error, match=message):
            trainer.fit(xx, yy, nb_epochs=1, verbose=False)


def test_rejects_bad_fit_arguments(small_digits, digits_classifier):
    x, y, x_val, y_val = small_digits
    trainer = SORTrainer(digits_classifier, ThreatModel(0.1, "inf"))
    with pytest.raises(ValueError, match="batch_size"):
        trainer.fit(x, y, batch_size=0)
    with pytest.raises(ValueError, match="nb_epochs"):
        trainer.fit(x, y, nb_epochs=0)
    with pytest.raises(TypeError, match="scheduler"):
        trainer.fit(x, y, scheduler=0.5)
    with pytest.raises(ValueError, match=r"validation_data\[1\]"):
        trainer.fit(x, y, validation_data=(x_val, y_val[:-2]))
    with pytest.raises(ValueError, match="checkpoint_dir"):
        trainer.fit(x, y, resume=True)


def test_rejects_loss_over_probabilities():
    from art.estimators.classification import PyTorchClassifier

    model = digits_cnn()
    classifier = PyTorchClassifier(model, nn.MSELoss(), (1, 8, 8), 10,
                                   optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    with pytest.raises(TypeError, match=r"classifier\.loss"):
        SORTrainer(classifier, ThreatModel(0.1, "inf"))


def test_diverging_loss_stops_with_a_clear_error(small_digits):
    x, y, _, _ = small_digits
    classifier = make_classifier(digits_cnn(), (1, 8, 8), lr=1e30)
    with pytest.raises(FloatingPointError, match="training loss"):
        StandardTrainer(classifier).fit(x, y, nb_epochs=3, verbose=False)


# ---- batch norm in the regularizer's passes, collapse warnings, schedules ----

def test_composite_batch_norm_matches_torch_to_second_order():
    from art_sor.classifiers.view import _composite_batch_norm

    torch.manual_seed(0)
    bn = nn.BatchNorm2d(3).double().train()
    with torch.no_grad():
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.5, 0.5)
    bn.track_running_stats = False
    x = torch.randn(5, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    native, composite = bn(x), _composite_batch_norm(bn, x)
    torch.testing.assert_close(composite, native)
    second = []
    for out in (native, composite):
        (g,) = torch.autograd.grad(out.pow(3).sum(), x, create_graph=True)
        second.append(torch.autograd.grad(g.pow(2).sum(), bn.weight)[0])
    torch.testing.assert_close(second[1], second[0])


def test_batch_mode_penalty_sees_the_trained_network_and_leaves_statistics_alone(small_digits):
    x, _, _, _ = small_digits
    torch.manual_seed(0)
    model = digits_cnn(batch_norm=True)
    classifier = make_classifier(model, (1, 8, 8))
    view = ClassifierView(classifier)
    batch = torch.tensor(x[:32])
    before = model[1].running_mean.clone(), model[1].running_var.clone()
    model.train()
    with torch.no_grad():
        trained_network = model(batch)
    model[1].running_mean.copy_(before[0])
    model[1].running_var.copy_(before[1])
    for order in (2, 3):
        with view.perturbation_mode("batch", order), torch.no_grad():
            torch.testing.assert_close(model(batch), trained_network)
    torch.testing.assert_close(model[1].running_mean, before[0])
    assert model.training and model[1].track_running_stats and "forward" not in model[1].__dict__
    with view.perturbation_mode("eval"), torch.no_grad():
        assert not torch.allclose(model(batch), trained_network)


def test_exact_hvps_train_a_batch_norm_model(small_digits):
    x, y, _, _ = small_digits
    classifier = make_classifier(digits_cnn(batch_norm=True), (1, 8, 8), clip_values=(0.0, 1.0))
    trainer = SORTrainer(classifier, ThreatModel(0.1, "inf"), hvp="exact", iterations=2)
    history = trainer.fit(x[:64], y[:64], nb_epochs=2, batch_size=32, verbose=False)
    assert all(np.isfinite(r["loss"]) for r in history)


def test_collapse_is_warned_and_recorded(small_digits, caplog):
    x, y, _, _ = small_digits
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    nn.init.zeros_(model[1].weight)
    nn.init.zeros_(model[1].bias)
    classifier = make_classifier(model, (1, 8, 8), lr=1e-12)  # all but frozen at a constant prediction: chance
    with caplog.at_level("WARNING", logger="art_sor"):
        history = SORTrainer(classifier, ThreatModel(0.1, "inf")).fit(x, y, nb_epochs=3, verbose=False)
    assert "warnings" not in history[0]  # the first epoch is spared
    for record in history[1:]:
        assert "training has collapsed" in record["warnings"][0] and "penalty_warmup_epochs" in record["warnings"][0]
    assert sum("training has collapsed" in message for message in caplog.messages) == 2


def test_collapse_advice_names_the_batch_norm_option(small_digits):
    classifier = make_classifier(digits_cnn(batch_norm=True), (1, 8, 8))
    trainer = SORTrainer(classifier, ThreatModel(0.1, "inf"), step_settings=StepSettings(batch_norm="eval"))
    warning = trainer.collapse_warning({"epoch": 2, "train_accuracy": 0.1, "clean_loss": 2.3})
    assert "batch_norm='batch'" in warning
    assert trainer.collapse_warning({"epoch": 2, "train_accuracy": 0.5, "clean_loss": 1.0}) is None


def test_per_batch_scheduler_steps_after_every_batch(small_digits):
    x, y, _, _ = small_digits
    classifier = make_classifier(digits_cnn(), (1, 8, 8), lr=0.01)
    scheduler = torch.optim.lr_scheduler.StepLR(classifier.optimizer, step_size=1, gamma=0.9)
    history = SORTrainer(classifier, ThreatModel(0.05, "inf")).fit(x, y, batch_size=100, nb_epochs=2,
                                                                   scheduler=scheduler,
                                                                   scheduler_interval="batch", verbose=False)
    assert scheduler.last_epoch == 6  # 3 batches per epoch
    assert [r["learning_rate"] for r in history] == pytest.approx([0.01, 0.01 * 0.9 ** 3])


def test_scheduler_of_another_optimizer_and_bad_interval_are_refused(small_digits, digits_classifier):
    x, y, _, _ = small_digits
    other = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    trainer = SORTrainer(digits_classifier, ThreatModel(0.1, "inf"))
    with pytest.raises(ValueError, match="another optimizer"):
        trainer.fit(x, y, scheduler=torch.optim.lr_scheduler.StepLR(other, 1))
    with pytest.raises(ValueError, match="scheduler_interval"):
        trainer.fit(x, y, scheduler_interval="step")
    with pytest.raises(ValueError, match="batch_norm"):
        SORTrainer(digits_classifier, ThreatModel(0.1, "inf"), step_settings=StepSettings(batch_norm="train"))


def test_sor_warmups_ramp_lam_and_eps(small_digits):
    x, y, _, _ = small_digits
    trainer = SORTrainer(make_classifier(digits_cnn(), (1, 8, 8)), ThreatModel(0.2, "inf"), lam=1.0,
                         penalty_warmup_epochs=1, eps_warmup_epochs=3)
    seen = []
    history = trainer.fit(x, y, nb_epochs=4, verbose=False,
                          epoch_callback=lambda current, record: seen.append((current.penalty_weight,
                                                                              current.epoch_regularizer.threat.eps)))
    assert [weight for weight, _ in seen] == pytest.approx([0.5, 1.0, 1.0, 1.0])
    assert [eps for _, eps in seen] == pytest.approx([0.05, 0.1, 0.15, 0.2])
    assert trainer.config()["penalty_warmup_epochs"] == 1 and trainer.regularizer.lam == 1.0
    first = history[0]
    assert first["penalty"] == pytest.approx(0.5 * (first["first_order"] + first["second_order"]), rel=1e-4)


def test_losses_and_optimizers_that_would_train_silently_wrong_are_refused(small_digits):
    x, y, _, _ = small_digits
    model = digits_cnn()
    from art.estimators.classification import PyTorchClassifier

    summed = PyTorchClassifier(model, nn.CrossEntropyLoss(reduction="sum"), (1, 8, 8), 10,
                               optimizer=torch.optim.Adam(model.parameters()))
    with pytest.raises(ValueError, match="reduction='sum'"):
        SORTrainer(summed, ThreatModel(0.1, "inf"))
    frozen = make_classifier(digits_cnn(), (1, 8, 8), lr=0.0)
    with pytest.raises(ValueError, match="learning rate 0"):
        StandardTrainer(frozen)
    raw = PyTorchClassifier(model, nn.NLLLoss(), (1, 8, 8), 10, optimizer=torch.optim.Adam(model.parameters()))
    with pytest.raises(ValueError, match="NLLLoss, which needs log-probabilities"):
        StandardTrainer(raw).fit(x, y, nb_epochs=1, verbose=False)
    log_probabilities = nn.Sequential(digits_cnn(), nn.LogSoftmax(dim=1))
    fine = PyTorchClassifier(log_probabilities, nn.NLLLoss(), (1, 8, 8), 10,
                             optimizer=torch.optim.Adam(log_probabilities.parameters()))
    assert StandardTrainer(fine).fit(x, y, nb_epochs=1, verbose=False)[0]["loss"] > 0


def test_resume_with_another_batch_size_is_refused(small_digits, tmp_path):
    x, y, _, _ = small_digits
    SORTrainer(make_classifier(digits_cnn(), (1, 8, 8)), ThreatModel(0.1, "inf")).fit(
        x, y, nb_epochs=1, batch_size=64, checkpoint_dir=tmp_path, verbose=False)
    trainer = SORTrainer(make_classifier(digits_cnn(), (1, 8, 8)), ThreatModel(0.1, "inf"))
    with pytest.raises(ValueError, match="batch_size: 64 → 32"):
        trainer.fit(x, y, nb_epochs=2, batch_size=32, checkpoint_dir=tmp_path, resume=True, verbose=False)


def test_trainer_settings_that_cannot_change_what_runs_are_refused(small_digits):
    x, y, _, _ = small_digits
    plain = make_classifier(digits_cnn(), (1, 8, 8))
    with pytest.raises(ValueError, match=r"batch_norm='eval' has no effect: classifier\.model has no batch-norm"):
        SORTrainer(plain, ThreatModel(0.1, "inf"), step_settings=StepSettings(batch_norm="eval"))
    SORTrainer(make_classifier(digits_cnn(batch_norm=True), (1, 8, 8)), ThreatModel(0.1, "inf"),
               step_settings=StepSettings(batch_norm="eval"))
    with pytest.raises(ValueError, match="penalty_warmup_epochs=2 has no effect: lam is 0"):
        SORTrainer(plain, ThreatModel(0.1, "inf"), lam=0.0, penalty_warmup_epochs=2)
    with pytest.raises(ValueError, match="eps_warmup_epochs=2 has no effect: lam is 0"):
        SORTrainer(plain, ThreatModel(0.1, "inf"), lam=0.0, eps_warmup_epochs=2)
    for micro in (50, 64):
        trainer = SORTrainer(plain, ThreatModel(0.1, "inf"), step_settings=StepSettings(micro_batch_size=micro))
        with pytest.raises(ValueError, match=f"micro_batch_size {micro} is not below batch_size 50"):
            trainer.fit(x, y, batch_size=50, nb_epochs=1, verbose=False)
        assert trainer.history == []


def test_training_refuses_a_radius_that_covers_the_data_box(small_digits):
    x, y, _, _ = small_digits
    for trainer in (SORTrainer(make_classifier(digits_cnn(), (1, 8, 8), clip_values=(0.0, 1.0)), ThreatModel(8, "inf")),
                    PGDTrainer(make_classifier(digits_cnn(), (1, 8, 8), clip_values=(0.0, 1.0)), ThreatModel(8,
                                                                                                             "inf"))):
        with pytest.raises(ValueError, match="eps=8/255"):
            trainer.fit(x, y, nb_epochs=1, verbose=False)
        assert trainer.history == []


def test_models_and_arrays_that_torch_would_fail_on_are_refused_in_words(small_digits):
    x, y, _, _ = small_digits
    narrow = make_classifier(nn.Sequential(nn.Flatten(), nn.Linear(32, 10)), (1, 8, 8))
    with pytest.raises(ValueError, match=r"fails on x of the classifier's input_shape \(1, 8, 8\)"):
        SORTrainer(narrow, ThreatModel(0.1, "inf")).fit(x, y, nb_epochs=1, verbose=False)
    with pytest.raises(ValueError, match="meta device"):
        wrap_model(nn.Sequential(nn.Flatten(), nn.Linear(64, 10)).to("meta"), (1, 8, 8), 10, device="cpu")
    reversed_x, reversed_y = x[::-1], y[::-1]
    trainer = SORTrainer(make_classifier(digits_cnn(), (1, 8, 8)), ThreatModel(0.1, "inf"))
    history = trainer.fit(reversed_x, reversed_y, nb_epochs=1, verbose=False)
    assert len(history) == 1 and reversed_x.strides[0] < 0  # trained on a copy; the caller's view is unchanged


def test_a_resume_does_not_silently_undo_a_learning_rate_set_after_the_trainer_was_built(small_digits, tmp_path):
    x, y, _, _ = small_digits
    SORTrainer(make_classifier(digits_cnn(), (1, 8, 8), lr=1e-3), ThreatModel(0.05, "inf")).fit(x, y, nb_epochs=1,
                                                                                                verbose=False,
                                                                                               checkpoint_dir=tmp_path)
    classifier = make_classifier(digits_cnn(), (1, 8, 8), lr=1e-3)
    trainer = SORTrainer(classifier, ThreatModel(0.05, "inf"))
    for group in classifier.optimizer.param_groups:
        group["lr"] = 0.1
    with pytest.raises(ValueError, match=r"changed after this trainer was built "
                                         r"\(param_groups\[0\]\.lr: 0\.001 → 0\.1"):
        trainer.fit(x, y, nb_epochs=2, verbose=False, checkpoint_dir=tmp_path, resume=True)
    assert classifier.optimizer.param_groups[0]["lr"] == 0.1 and trainer.history == []


def test_an_optimizer_without_trainable_parameters_is_refused():
    model = digits_cnn().requires_grad_(False)
    with pytest.raises(ValueError, match="optimizer has no trainable parameters"):
        SORTrainer(make_classifier(model, (1, 8, 8), clip_values=(0.0, 1.0)), ThreatModel(0.1, "inf"))


def test_nan_logits_and_float16_on_a_cpu_are_refused_with_their_cause(digits):
    x, y = digits.x_train[:40], digits.y_train[:40]
    model = digits_cnn()
    model[-1].bias.data[:] = float("nan")
    with pytest.raises(ValueError, match="returns NaN or inf logits"):
        SORTrainer(make_classifier(model, (1, 8, 8), clip_values=(0.0, 1.0)), ThreatModel(0.1, "inf")).fit(
            x, y, nb_epochs=1, verbose=False)
    half = make_classifier(digits_cnn().half(), (1, 8, 8), clip_values=(0.0, 1.0))
    with pytest.raises(TypeError, match="float16 parameters, which art-sor does not train or attack on a CPU"):
        SORTrainer(half, ThreatModel(0.1, "inf")).fit(x.astype(np.float16), y, nb_epochs=1, verbose=False)


def test_batch_norm_1d_with_batches_of_one_is_refused(digits):
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 8), nn.BatchNorm1d(8), nn.Linear(8, 10))
    trainer = SORTrainer(make_classifier(model, (1, 8, 8), clip_values=(0.0, 1.0)), ThreatModel(0.1, "inf"))
    with pytest.raises(ValueError, match="batch_size 1 leaves batches of one sample"):
        trainer.check_batches(100, 1)
    trainer.check_batches(100, 2)


def test_a_diverged_run_with_finite_losses_is_stopped_naming_the_learning_rate(digits):
    model = digits_cnn()
    classifier = make_classifier(model, (1, 8, 8), optimizer=torch.optim.SGD(model.parameters(), lr=1e8, momentum=0.9),
                                 clip_values=(0.0, 1.0))
    with pytest.raises(FloatingPointError, match="training has diverged; lower the learning rate"):
        SORTrainer(classifier, ThreatModel(0.1, "inf"), lam=0.0).fit(digits.x_train[:100], digits.y_train[:100],
                                                                     batch_size=50, nb_epochs=1, verbose=False)


def test_adversarial_accuracy_at_chance_is_no_collapse_while_clean_inputs_are_learnt(digits):
    from art_sor.trainers.adversarial import PGDTrainer

    x, y = digits.x_train[:300], digits.y_train[:300]
    learnt = make_classifier(digits_cnn(), (1, 8, 8), clip_values=(0.0, 1.0))
    StandardTrainer(learnt).fit(x, y, nb_epochs=8, batch_size=50, verbose=False)
    at_chance = {"epoch": 2, "loss": 2.30, "train_accuracy": 0.1}
    for classifier, collapsed in ((learnt, False), (make_classifier(digits_cnn(), (1, 8, 8),
                                                                    clip_values=(0.0, 1.0)), True)):
        trainer = PGDTrainer(classifier, ThreatModel(0.3, "inf"))
        trainer.history = [{"epoch": 1, "loss": 2.31, "train_accuracy": 0.1}]
        warning = trainer.collapse_warning(at_chance, (x[:100], y[:100]))
        assert (warning is not None) == collapsed, warning
    assert "the clean accuracy of the epoch's last batch" in warning


def test_numpy_scalar_eps_is_stored_plainly_and_resumes(small_digits, tmp_path):
    x, y, _, _ = small_digits
    trainer = SORTrainer(make_classifier(digits_cnn(), (1, 8, 8)), ThreatModel(np.float64(0.1), "inf"))
    assert type(trainer.regularizer.threat.eps) is float
    trainer.fit(x, y, nb_epochs=1, verbose=False, checkpoint_dir=tmp_path)
    again = SORTrainer(make_classifier(digits_cnn(), (1, 8, 8)), ThreatModel(np.float64(0.1), "inf"))
    assert len(again.fit(x, y, nb_epochs=1, verbose=False, checkpoint_dir=tmp_path, resume=True)) == 1


def test_second_fit_with_the_same_total_warns(small_digits):
    x, y, _, _ = small_digits
    trainer = StandardTrainer(make_classifier(digits_cnn(), (1, 8, 8)))
    trainer.fit(x, y, nb_epochs=2, verbose=False)
    with pytest.warns(UserWarning, match="nb_epochs=4 for 2 more"):
        assert len(trainer.fit(x, y, nb_epochs=2, verbose=False)) == 2
    assert len(trainer.fit(x, y, nb_epochs=4, verbose=False)) == 4


def test_amp_must_be_a_bool(digits_classifier):
    with pytest.raises(TypeError, match="amp"):
        SORTrainer(digits_classifier, ThreatModel(0.1, "inf"), step_settings=StepSettings(amp="no"))


def test_data_outside_the_clip_values_is_refused(small_digits, digits_classifier):
    x, y, _, _ = small_digits
    with pytest.raises(ValueError, match="outside the classifier's clip_values"):
        SORTrainer(digits_classifier, ThreatModel(0.1, "inf")).fit(x * 255, y, nb_epochs=1, verbose=False)


class Wide(nn.Module):
    def __init__(self, width: int = 12, output: str = "tensor") -> None:
        super().__init__()
        self.fc, self.output = nn.Linear(64, width), output

    def forward(self, x: torch.Tensor):
        logits = self.fc(x.flatten(1))
        return {"tensor": logits, "tuple": (logits, logits), "dict": {"logits": logits}}[self.output]


@pytest.mark.parametrize("model,error,message", [
    (Wide(12), ValueError, r"outputs of shape \(12,\)"),
    (Wide(10, "tuple"), TypeError, "returns a tuple"),
    (Wide(10, "dict"), TypeError, "returns a dict"),
    (Wide(10).double(), TypeError, "x is float32 but the model's parameters are float64"),
])
def test_model_mistakes_fail_before_an_epoch(small_digits, model, error, message):
    x, y, _, _ = small_digits
    trainer = SORTrainer(make_classifier(model, (1, 8, 8), clip_values=(0.0, 1.0)), ThreatModel(0.1, "inf"))
    started = time.perf_counter()
    with pytest.raises(error, match=message):
        trainer.fit(x, y, nb_epochs=1, verbose=False)
    assert trainer.history == [] and time.perf_counter() - started < 5


def test_float64_data_for_a_float32_model_is_refused(small_digits, digits_classifier):
    x, y, _, _ = small_digits
    with pytest.raises(TypeError, match="x is float64 but the model's parameters are float32"):
        SORTrainer(digits_classifier, ThreatModel(0.1, "inf")).fit(x.astype(np.float64), y, nb_epochs=1, verbose=False)


def test_batchnorm1d_batch_of_one_is_refused(small_digits):
    x, y, _, _ = small_digits
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 10))
    trainer = SORTrainer(make_classifier(model, (1, 8, 8)), ThreatModel(0.1, "inf"))
    with pytest.raises(ValueError, match=r"batch of one sample.*BatchNorm1d"):
        trainer.fit(x[:101], y[:101], batch_size=50, nb_epochs=1, verbose=False)
