"""Faults of the fault-case table (benchmarks/fault_cases.py): each is refused with its true cause, before any work."""

from __future__ import annotations

import errno
import os
import resource
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from conftest import digits_cnn, make_classifier
from PIL import Image
from torch import nn

from art_sor import SORTrainer, StandardTrainer
from art_sor.classifiers.checkpoints import load_state_dict_classifier
from art_sor.classifiers.inputs import GeneratorError, check_inputs, generator_batch
from art_sor.cli import main
from art_sor.data.dataset import check_images
from art_sor.data.user_data import load_image_folder
from art_sor.explain.scores import check_judge
from art_sor.models import build_model, trainable_parameters
from art_sor.registry import RegistryError
from art_sor.runs.training import build_run_classifier
from art_sor.runs.training_setup import OptimizerSettings, ScheduleSettings, TrainingSetup
from art_sor.storage import DiskFullError, save_checked, write_text
from art_sor.trainers.state import differing_settings

USER_MODELS = textwrap.dedent("""
    from torch import nn

    class Pair(nn.Module):
        def __init__(self, classes):
            super().__init__()
            self.fc = nn.Linear(64, classes)

        def forward(self, x):
            return self.fc(x.flatten(1)), None

    class Nan(nn.Module):
        def __init__(self, classes):
            super().__init__()
            self.fc = nn.Linear(64, classes)

        def forward(self, x):
            return self.fc(x.flatten(1)) * float("nan")

    class Crop(nn.Module):
        def forward(self, x):
            return x.flatten(1)[:, :10]

    def linear(shape, classes):
        return nn.Sequential(nn.Flatten(), nn.Linear(64, classes))

    def width(shape, classes):
        return nn.Sequential(nn.Flatten(), nn.Linear(64, classes + 2))

    def input_size(shape, classes):
        return nn.Sequential(nn.Flatten(), nn.Linear(32, classes))

    def pair(shape, classes):
        return Pair(classes)

    def double(shape, classes):
        return linear(shape, classes).double()

    def half(shape, classes):
        return linear(shape, classes).half()

    def nan(shape, classes):
        return Nan(classes)

    def frozen(shape, classes):
        return linear(shape, classes).requires_grad_(False)

    def no_parameters(shape, classes):
        return Crop()

    def fails(shape, classes):
        raise RuntimeError("CUDA driver not found")
""")


@pytest.fixture
def user_modules(tmp_path, monkeypatch):
    """``ft_models`` (architectures with one fault each), ``ft_syntax`` and ``ft_raises`` on ``sys.path``."""
    (tmp_path / "ft_models.py").write_text(USER_MODELS)
    (tmp_path / "ft_syntax.py").write_text("def model(shape, classes)\n    return None\n")
    (tmp_path / "ft_raises.py").write_text("raise RuntimeError('needs a GPU driver')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    for name in ("ft_models", "ft_syntax", "ft_raises"):
        sys.modules.pop(name, None)


@pytest.mark.parametrize("architecture, message", [
    ("ft_models:width", r"returns outputs of shape \(12,\) per sample, but the data have 10 classes"),
    ("ft_models:input_size", r"fails on a batch of shape \(2, 1, 8, 8\).*mat1 and mat2"),
    ("ft_models:pair", "returns a tuple; its forward must return the logits as one tensor"),
    ("ft_models:double", "has float64 parameters, but the data are float32"),
    ("ft_models:half", "has float16 parameters, which art-sor does not train or evaluate on a CPU"),
    ("ft_models:nan", "returns NaN or inf logits for finite inputs"),
    ("ft_models:fails", "raised RuntimeError: CUDA driver not found"),
    ("ft_syntax:model", "importing 'ft_syntax' failed with SyntaxError"),
    ("ft_raises:model", "importing 'ft_raises' failed with RuntimeError: needs a GPU driver"),
    ("ft_models:", "give both parts, module:callable"),
    (":width", "give both parts, module:callable"),
])
def test_a_faulty_user_architecture_is_refused_naming_it(user_modules, architecture, message):
    with pytest.raises(RegistryError, match=rf"architecture '{architecture}'.*{message}"):
        build_model(architecture, (1, 8, 8), 10)


def test_a_sound_user_architecture_builds(user_modules):
    assert isinstance(build_model("ft_models:linear", (1, 8, 8), 10), nn.Module)


@pytest.mark.parametrize("architecture, cause", [("ft_models:frozen", "all its 2 parameter tensors have requires_grad"),
                                                 ("ft_models:no_parameters", "it has no parameters")])
def test_a_model_training_cannot_change_is_refused_naming_the_architecture(user_modules, architecture, cause):
    with pytest.raises(RegistryError, match=f"the model has no trainable parameters \\({cause}"):
        trainable_parameters(build_model(architecture, (1, 8, 8), 10), architecture)


def test_the_cli_blames_a_model_without_parameters_on_the_architecture_not_the_optimizer(user_modules, tmp_path):
    result = CliRunner().invoke(main, ["train", "--epochs", "1", "--train-samples", "100", "--quiet", "--device",
                                       "cpu", "--out", str(tmp_path / "out"), "--architecture",
                                       "ft_models:no_parameters"])
    assert result.exit_code == 2 and result.exception is not None and isinstance(result.exception, SystemExit)
    assert "Invalid value for --architecture" in result.output and "no trainable parameters" in result.output
    assert "--optimizer" not in result.output


def test_an_optimizer_without_trainable_parameters_is_refused():
    model = digits_cnn().requires_grad_(False)
    with pytest.raises(ValueError, match="optimizer has no trainable parameters"):
        SORTrainer(make_classifier(model, (1, 8, 8), clip_values=(0.0, 1.0)), eps=0.1)


def test_nan_logits_and_float16_on_a_cpu_are_refused_with_their_cause(digits):
    x, y = digits.x_train[:40], digits.y_train[:40]
    model = digits_cnn()
    model[-1].bias.data[:] = float("nan")
    with pytest.raises(ValueError, match="returns NaN or inf logits"):
        SORTrainer(make_classifier(model, (1, 8, 8), clip_values=(0.0, 1.0)), eps=0.1).fit(x, y, nb_epochs=1,
                                                                                          verbose=False)
    half = make_classifier(digits_cnn().half(), (1, 8, 8), clip_values=(0.0, 1.0))
    with pytest.raises(TypeError, match="float16 parameters, which art-sor does not train or attack on a CPU"):
        SORTrainer(half, eps=0.1).fit(x.astype(np.float16), y, nb_epochs=1, verbose=False)


def test_complex_inputs_are_refused():
    with pytest.raises(TypeError, match="x holds complex numbers"):
        check_inputs(np.zeros((2, 1, 8, 8), np.complex64), (1, 8, 8))


def test_zero_std_with_standardise_names_the_cause(digits):
    data = type(digits)("zeros", np.zeros_like(digits.x_train[:50]), digits.y_train[:50], digits.x_test[:10],
                        digits.y_test[:10], digits.class_names)
    setup = TrainingSetup(epochs=1, batch_size=10, standardise=True, device="cpu")
    with pytest.raises(ValueError, match=r"standardise: channel\(s\) \[0\].*std is 0"):
        build_run_classifier(data, setup)


def test_batch_norm_1d_with_batches_of_one_is_refused(digits):
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 8), nn.BatchNorm1d(8), nn.Linear(8, 10))
    trainer = SORTrainer(make_classifier(model, (1, 8, 8), clip_values=(0.0, 1.0)), eps=0.1)
    with pytest.raises(ValueError, match="batch_size 1 leaves batches of one sample"):
        trainer.check_batches(100, 1)
    trainer.check_batches(100, 2)


# ---- data ----

def npz_file(tmp_path, **arrays):
    x, y = np.random.default_rng(0).random((30, 1, 8, 8)), np.arange(30) % 10
    full = {"x_train": x, "y_train": y, "x_test": x[:10], "y_test": y[:10], **arrays}
    np.savez(tmp_path / "data.npz", **full)
    return tmp_path / "data.npz"


def test_a_huge_npz_label_is_refused_before_anything_class_sized_is_built(tmp_path):
    labels = np.arange(30) % 10
    labels[3] = 2 ** 40
    path = npz_file(tmp_path, y_train=labels)
    # In a child capped at 4 GiB of address space, so that code which sizes anything by the label fails fast
    # (MemoryError) instead of taking the machine's memory.
    code = f"from art_sor.data.user_data import load_npz; load_npz({str(path)!r})"
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                           preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30)))
    assert "ValueError: npz y_train has the label 1099511627776" in child.stderr, child.stderr[-2000:]
    assert "more than the 40 images" in child.stderr


def test_a_value_just_above_one_is_printed_as_itself():
    x = np.zeros((2, 1, 2, 2))
    x[0, 0, 0, 0] = 1.0000001
    with pytest.raises(ValueError, match=r"values in \[0, 1.0000001\]"):
        check_images(x, "x")


def image_tree(root, pixels_of):
    for split in ("train", "test"):
        for label in ("a", "b"):
            (root / split / label).mkdir(parents=True)
            for k in range(2):
                Image.fromarray(pixels_of(k, label)).save(root / split / label / f"{k}.png")
    return root


def test_16_bit_pngs_keep_their_grey_levels(tmp_path):
    def pixels(k, label):
        return np.full((4, 4), 1000 * (k + 1) + 30000 * (label == "b"), np.uint16)

    data = load_image_folder(image_tree(tmp_path, pixels))
    expected = sorted({(1000 * (k + 1) + 30000 * b) / 65535 for k in range(2) for b in (0, 1)})
    np.testing.assert_allclose(np.unique(data.x_train), expected, rtol=1e-6)
    assert data.x_train.dtype == np.float32 and data.input_shape == (1, 4, 4)


def test_8_bit_pngs_still_load_as_before(tmp_path):
    data = load_image_folder(image_tree(tmp_path, lambda k, label: np.full((4, 4), 51 * (k + 1), np.uint8)))
    np.testing.assert_allclose(np.unique(data.x_train), [51 / 255, 102 / 255], rtol=1e-6)


@pytest.mark.parametrize("content", [b"\x89PNG garbage", b"", "truncated"])
def test_an_unreadable_png_is_refused_naming_the_file(tmp_path, content):
    root = image_tree(tmp_path, lambda k, label: np.full((8, 8), 9, np.uint8))
    good = (root / "train/a/0.png").read_bytes()
    (root / "train/b/bad.png").write_bytes(good[:len(good) // 2] if content == "truncated" else content)
    with pytest.raises(ValueError, match=r"train/b/bad.png cannot be read as an image"):
        load_image_folder(root)


# ---- generators, judges, weights, settings, disks ----

class Fault:
    def __init__(self, result):
        self.result = result

    def get_batch(self):
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


def test_a_failing_generator_is_named():
    with pytest.raises(GeneratorError, match=r"generator.get_batch\(\) raised OSError: share gone"):
        generator_batch(Fault(OSError("share gone")))
    with pytest.raises(TypeError, match="must return a pair \\(x, y\\), got a tuple of 3 items"):
        generator_batch(Fault((1, 2, 3)))
    assert generator_batch(Fault((1, 2))) == (1, 2)


def test_a_judge_of_other_classes_or_shape_is_refused():
    judge = make_classifier(digits_cnn(), (1, 8, 8), nb_classes=10)
    check_judge(judge, (1, 8, 8), 10)
    with pytest.raises(ValueError, match="the judge has 10 classes, but the model and data have 3"):
        check_judge(judge, (1, 8, 8), 3)
    with pytest.raises(ValueError, match=r"the judge takes inputs of shape \(1, 8, 8\).*\(3, 8, 8\)"):
        check_judge(judge, (3, 8, 8), 10)


def test_a_state_dict_mismatch_lists_the_missing_and_unexpected_keys(tmp_path):
    weights = build_model("small-cnn", (1, 8, 8), 10).state_dict()
    first = next(iter(weights))
    weights["extra.weight"] = weights.pop(first)
    torch.save(weights, tmp_path / "w.pt")
    with pytest.raises(ValueError, match=f"missing keys {first}; unexpected keys extra.weight"):
        load_state_dict_classifier(tmp_path / "w.pt", "small-cnn", (1, 8, 8), 10, device="cpu")


def test_changed_settings_name_the_one_setting_not_every_optimizer_group():
    saved = {"optimizer": {"param_groups": [{"lr": 0.1, "momentum": 0.9, "betas": [0.9, 0.99]}]}}
    current = {"optimizer": {"param_groups": [{"lr": 0.01, "momentum": 0.9, "betas": [0.9, 0.99]}]}}
    assert differing_settings(saved, current) == ["optimizer.param_groups[0].lr: 0.1 → 0.01"]


def test_a_full_disk_keeps_the_previous_file_and_says_so(tmp_path, monkeypatch):
    path = save_checked(tmp_path / "state.pt", {"epoch": torch.tensor(1)})
    before = path.read_bytes()

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(torch, "save", no_space)
    with pytest.raises(DiskFullError, match=r"no space left on the device while writing .*state.pt; the previous "
                                            r"state.pt is untouched .* nothing saved before was lost"):
        save_checked(path, {"epoch": torch.tensor(2)})
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["state.pt"]  # no partial file left behind
    with pytest.raises(OSError, match="Permission"):  # other OS errors pass through unchanged
        monkeypatch.setattr(torch, "save", lambda *a, **k: (_ for _ in ()).throw(PermissionError("Permission")))
        save_checked(path, {})
    write_text(tmp_path / "ok.txt", "fine")


def test_the_file_size_limit_while_saving_names_the_file_and_the_limit(tmp_path):
    code = textwrap.dedent(f"""
        import torch
        from art_sor.storage import DiskFullError, save_checked, write_text
        for write in (lambda: save_checked({str(tmp_path / 'state.pt')!r}, {{"w": torch.zeros(100_000)}}),
                      lambda: write_text({str(tmp_path / 'report.json')!r}, "x" * 200_000)):
            try:
                write()
            except DiskFullError as error:
                print(error)
    """)
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                           preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000)))
    assert child.returncode == 0, child.stderr
    lines = child.stdout.splitlines()
    assert len(lines) == 2, child.stdout + child.stderr
    for line, name in zip(lines, ("state.pt", "report.json"), strict=True):
        assert line.startswith("the file-size limit of 100000 bytes (ulimit -f) was reached while writing")
        assert name in line and f"no {name} was written" in line
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("optimizer, name", [("sgd", "momentum"), ("adam", "betas")])
def test_onecycle_cycles_only_the_learning_rate(optimizer, name):
    model = nn.Linear(2, 2)
    held = {"momentum": 0.0} if optimizer == "sgd" else {}  # adam takes no momentum setting
    built = OptimizerSettings(optimizer, lr=0.1, **held).build(model.parameters())
    before = built.param_groups[0][name]
    scheduler, interval = ScheduleSettings("onecycle").build(built, epochs=2, batches_per_epoch=3)
    rates = []
    for _ in range(5):
        built.step()
        scheduler.step()
        rates.append(built.param_groups[0]["lr"])
        assert built.param_groups[0][name] == before
    assert interval == "batch" and len(set(rates)) > 1


def test_a_diverged_run_with_finite_losses_is_stopped_naming_the_learning_rate(digits):
    model = digits_cnn()
    classifier = make_classifier(model, (1, 8, 8), clip_values=(0.0, 1.0))
    classifier._optimizer = torch.optim.SGD(model.parameters(), lr=1e8, momentum=0.9)
    with pytest.raises(FloatingPointError, match="training has diverged; lower the learning rate"):
        SORTrainer(classifier, eps=0.1, lam=0.0).fit(digits.x_train[:100], digits.y_train[:100], batch_size=50,
                                                     nb_epochs=1, verbose=False)


def test_adversarial_accuracy_at_chance_is_no_collapse_while_clean_inputs_are_learnt(digits):
    from art_sor.trainers.adversarial import PGDTrainer

    x, y = digits.x_train[:300], digits.y_train[:300]
    learnt = make_classifier(digits_cnn(), (1, 8, 8), clip_values=(0.0, 1.0))
    StandardTrainer(learnt).fit(x, y, nb_epochs=8, batch_size=50, verbose=False)
    at_chance = {"epoch": 2, "loss": 2.30, "train_accuracy": 0.1}
    for classifier, collapsed in ((learnt, False), (make_classifier(digits_cnn(), (1, 8, 8),
                                                                    clip_values=(0.0, 1.0)), True)):
        trainer = PGDTrainer(classifier, eps=0.3)
        trainer.history = [{"epoch": 1, "loss": 2.31, "train_accuracy": 0.1}]
        trainer._last_batch = (x[:100], y[:100])
        warning = trainer.collapse_warning(at_chance)
        assert (warning is not None) == collapsed, warning
    assert "the clean accuracy of the epoch's last batch" in warning


def test_a_resume_with_another_learning_rate_or_without_the_scheduler_is_refused_naming_it(digits, tmp_path):
    x, y = digits.x_train[:100], digits.y_train[:100]

    def classifier(lr):
        return make_classifier(digits_cnn(), (1, 8, 8), lr=lr, clip_values=(0.0, 1.0))

    first = classifier(1e-3)
    scheduler = torch.optim.lr_scheduler.StepLR(first.optimizer, 1, 0.5)
    SORTrainer(first, eps=0.1).fit(x, y, nb_epochs=1, batch_size=50, verbose=False, checkpoint_dir=tmp_path,
                                   scheduler=scheduler)
    other = classifier(0.1)
    torch.optim.lr_scheduler.StepLR(other.optimizer, 1, 0.5)
    with pytest.raises(ValueError, match=r"holds a run with other settings \(saved → this trainer\): "
                                         r"config\.optimizer\.param_groups\[0\]\.initial_lr: 0\.001 → 0\.1; "
                                         r"config\.optimizer\.param_groups\[0\]\.lr: 0\.001 → 0\.1; "
                                         r"scheduler: StepLR per epoch → None$"):
        SORTrainer(other, eps=0.1).fit(x, y, nb_epochs=2, batch_size=50, verbose=False, checkpoint_dir=tmp_path,
                                       resume=True)
    with pytest.raises(ValueError, match=r"initial_lr: 0.001 → None; scheduler: StepLR per epoch → None; "
                                         r"the run was saved with a learning-rate scheduler"):
        SORTrainer(classifier(1e-3), eps=0.1).fit(x, y, nb_epochs=2, batch_size=50, verbose=False,
                                                  checkpoint_dir=tmp_path, resume=True)
