"""Differentiable torch functions of an ART ``PyTorchClassifier``.

Inputs stay in the classifier's raw input space, before its preprocessing, so that ε means what it means in ART's
attacks; gradients flow through the (PyTorch) preprocessing such as standardisation.
"""

from __future__ import annotations

import copy
import types
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch
from torch import nn

from art_sor.classifiers.inputs import check_input_dtype, check_pytorch_classifier
from art_sor.core.lmo import Box

if TYPE_CHECKING:
    from art.estimators.classification import PyTorchClassifier

_INDEX_TARGET_LOSSES = (nn.CrossEntropyLoss, nn.NLLLoss, nn.MultiMarginLoss)

BatchNormMode = Literal["batch", "eval"]
BATCH_NORM_MODES: tuple[BatchNormMode, ...] = ("batch", "eval")


class ClassifierView:
    """Per-sample losses and logits of an ART ``PyTorchClassifier`` as plain torch functions.

    :param classifier: The ART classifier; its model, loss, device, preprocessing and ``clip_values`` are used.
    """

    def __init__(self, classifier: PyTorchClassifier) -> None:
        check_pytorch_classifier(classifier)
        loss = classifier.loss
        if not isinstance(loss, _INDEX_TARGET_LOSSES):
            raise TypeError("classifier.loss must be a classification loss over class indices "
                            f"(CrossEntropyLoss, NLLLoss or MultiMarginLoss), got {type(loss).__name__}")
        if getattr(loss, "reduction", "mean") != "mean":
            raise ValueError(f"classifier.loss has reduction={loss.reduction!r}; art-sor trains on the batch mean "
                             "(the scale of every penalty is set against it), so build it with reduction='mean'")
        self.classifier = classifier
        self.model: nn.Module = classifier.model
        self.device: torch.device = classifier.device
        self.dtype = next((p.dtype for p in self.model.parameters() if p.is_floating_point()), torch.float32)
        self.per_sample_loss = copy.copy(loss)
        self.per_sample_loss.reduction = "none"
        self.batch_norms = [m for m in self.model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        self.has_dropout = any(isinstance(m, nn.modules.dropout._DropoutNd) and m.p > 0
                               for m in self.model.modules())
        self.box = self._box(classifier)

    def _box(self, classifier: PyTorchClassifier) -> Box | None:
        if classifier.clip_values is None:
            return None
        shape = tuple(classifier.input_shape)
        bounds = []
        for bound in classifier.clip_values:
            tensor = torch.as_tensor(np.asarray(bound), dtype=self.dtype, device=self.device)
            bounds.append(tensor.reshape(shape) if tensor.numel() > 1 else tensor)
        return bounds[0], bounds[1]

    def inputs(self, x: np.ndarray | torch.Tensor) -> torch.Tensor:
        """A batch on the classifier's device, in the model's floating dtype (a copy; pinned tensors copy async)."""
        if isinstance(x, torch.Tensor):
            return x.to(device=self.device, dtype=self.dtype, non_blocking=True, copy=True)
        return torch.tensor(x, dtype=self.dtype, device=self.device)

    def labels(self, y: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Class indices on the classifier's device."""
        if isinstance(y, torch.Tensor):
            return y.to(device=self.device, dtype=torch.long, non_blocking=True, copy=True)
        return torch.tensor(y, dtype=torch.long, device=self.device)

    def probe(self, x: np.ndarray | torch.Tensor, name: str = "x") -> None:
        """Check on a few samples that the model returns one logit per class, in a dtype that matches ``x``'s.

        :raises TypeError: If the model returns a tuple or dict rather than a tensor of logits, the data's
                           floating dtype differs from the model's, or the model is float16 on a CPU.
        :raises ValueError: If the model's output width is not ``nb_classes``, its logits are not finite, it fails on
                            inputs of ``input_shape``, or its parameters are on the meta device.
        """
        check_input_dtype(self.classifier, x, name)
        if self.dtype == torch.float16 and self.device.type == "cpu":
            raise TypeError("classifier.model has float16 parameters, which art-sor does not train or attack on a "
                            "CPU (torch's float16 kernels there are incomplete and overflow); use float32 on the CPU, "
                            "or amp=True with a float32 model on CUDA")
        if any(p.is_meta for p in self.model.parameters()):
            raise ValueError("classifier.model has parameters on the meta device, which hold no values; build it "
                             "on a real device, or fill it with model.to_empty(device=...) and load its weights")
        with torch.no_grad(), self.eval_mode():
            x_pre, _ = self.classifier._apply_preprocessing(self.inputs(x[:2]), None, fit=False, no_grad=True)
            try:
                output = self.model(x_pre)
            except RuntimeError as error:  # a shape mismatch inside the model: the classifier's input_shape is wrong
                raise ValueError(f"classifier.model fails on {name} of the classifier's input_shape "
                                 f"{tuple(self.classifier.input_shape)}: {str(error).splitlines()[0]}; build the "
                                 "classifier with the input_shape the model expects") from error
        if not isinstance(output, torch.Tensor):
            raise TypeError(f"classifier.model returns a {type(output).__name__}; art-sor needs a model whose "
                            "forward returns the logits as one tensor (wrap it to return only the logits)")
        expected = self.classifier.nb_classes
        if output.dim() != 2 or output.shape[1] != expected:
            raise ValueError(f"classifier.model returns outputs of shape {tuple(output.shape[1:])} per sample, but "
                             f"the classifier's nb_classes is {expected}")
        if not torch.isfinite(output).all():
            raise ValueError(f"classifier.model returns NaN or inf logits for finite inputs ({name}); check its "
                             "weights and forward")
        if isinstance(self.classifier.loss, nn.NLLLoss):
            total = output.float().exp().sum(dim=1)
            if not torch.allclose(total, torch.ones_like(total), atol=1e-3):
                raise ValueError("classifier.loss is NLLLoss, which needs log-probabilities, but the model's outputs "
                                 f"are not (their exponentials sum to {total[0].item():.3g}, not 1); end the model "
                                 "with nn.LogSoftmax(dim=1) or use CrossEntropyLoss on the logits")

    def logits(self, x: torch.Tensor, fit: bool = True) -> torch.Tensor:
        """Model output for raw inputs ``x``, through the classifier's preprocessing.

        :param x: Raw inputs.
        :param fit: Apply the preprocessing meant for training (``apply_fit``) rather than for prediction.
        """
        x_pre, _ = self.classifier._apply_preprocessing(x, None, fit=fit, no_grad=False)
        return self.model(x_pre)

    def loss_fn(self, y: torch.Tensor, fit: bool = True) -> RecordingLoss:
        """Per-sample loss function of the raw inputs for the labels ``y``."""
        return RecordingLoss(self, y, fit)

    @contextmanager
    def eval_mode(self) -> Iterator[None]:
        """Run the model in eval mode inside the block and restore its previous mode afterwards."""
        was_training = self.model.training
        self.model.eval()
        try:
            yield
        finally:
            self.model.train(was_training)

    @contextmanager
    def perturbation_mode(self, batch_norm: BatchNormMode, order: int = 2,
                          update_running_stats: bool = False) -> Iterator[None]:
        """The mode of passes at perturbed inputs (a regularizer's, PGD-AT's attack): dropout off, batch norm as told.

        ``"batch"`` normalises with the statistics of the batch being evaluated, as the clean training pass does,
        with gradients through them; ``"eval"`` normalises with the running statistics.

        :param order: Highest order of derivative the penalty's weight gradient takes. torch's batch-norm kernel
                      stops at the second; for the third (exact Hessian-vector products, then the weights) batch
                      norm runs as a composite of differentiable operations instead.
        :param update_running_stats: With ``"batch"``, let the first pass through each batch-norm layer update its
                                     running statistics as a training pass does (the loop then reuses that pass
                                     as its clean training pass); later passes leave them untouched.
        """
        was_training = self.model.training
        self.model.eval()
        tracking = [bn.track_running_stats for bn in self.batch_norms]
        hooks = []
        if batch_norm == "batch":
            for bn, tracked in zip(self.batch_norms, tracking, strict=True):
                # Training mode without tracking: batch statistics, and no update of (or reference to) the
                # running buffers, which the next optimizer step must not find modified in place.
                bn.train()
                bn.track_running_stats = update_running_stats and tracked
                if bn.track_running_stats:
                    hooks.append(bn.register_forward_hook(_stop_tracking))
                if order > 2:
                    bn.forward = types.MethodType(_composite_batch_norm, bn)
        try:
            yield
        finally:
            for hook in hooks:
                hook.remove()
            for bn, tracked in zip(self.batch_norms, tracking, strict=True):
                bn.track_running_stats = tracked
                bn.__dict__.pop("forward", None)
            self.model.train(was_training)


def _stop_tracking(module: nn.Module, inputs: object, output: object) -> None:
    """Forward hook: after its first pass, a batch-norm layer stops updating its running statistics."""
    module.track_running_stats = False


def _composite_batch_norm(module: nn.modules.batchnorm._BatchNorm, x: torch.Tensor) -> torch.Tensor:
    """Training-mode batch norm (biased batch variance) from elementary operations, differentiable to any order."""
    dims = [0, *range(2, x.dim())]
    mean = x.mean(dims, keepdim=True)
    var = x.var(dims, unbiased=False, keepdim=True)
    out = (x - mean) * torch.rsqrt(var + module.eps)
    if module.track_running_stats:
        # The running statistics, updated by torch's own training-mode pass (momentum, unbiased variance, count).
        with torch.no_grad():
            type(module).forward(module, x.detach())
    if module.affine:
        shape = [1, -1] + [1] * (x.dim() - 2)
        out = out * module.weight.view(shape) + module.bias.view(shape)
    return out


class RecordingLoss:
    """Per-sample loss of a fixed label batch that keeps the logits of its first evaluation.

    Every regularizer evaluates the loss at the clean batch first, so those logits give the training accuracy
    without an extra forward pass.
    """

    def __init__(self, view: ClassifierView, y: torch.Tensor, fit: bool) -> None:
        self._view = view
        self._y = y
        self._fit = fit
        self.first_logits: torch.Tensor | None = None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Return the per-sample losses at ``x``."""
        logits = self._view.logits(x, fit=self._fit)
        if self.first_logits is None:
            self.first_logits = logits.detach()
        return self._view.per_sample_loss(logits, self._y)
