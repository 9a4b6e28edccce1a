"""How SOR's perturbation search behaves over its iterations, for the replace and Frank-Wolfe step rules.

For a trained model, on the first ``--samples`` test images, prints for each iterate δ₁…δₙ of the search (L∞,
finite-difference HVPs with h=1, inside the data box, as SORTrainer runs it):

* the quadratic model gᵀδ + ½δᵀHδ, with the *exact* Hessian-vector product;
* the true loss rise ℓ(x+δ) − ℓ(x);
* the share of pixels on which consecutive iterates agree in sign (δₖ vs δₖ₊₁) and two apart (δₖ vs δₖ₊₂).

    python benchmarks/search_iterates.py runs/compare-linf/sor/model.pt --dataset fashion-mnist
"""

from __future__ import annotations

import argparse
import itertools

import torch

from art_sor.classifiers.checkpoints import load_classifier
from art_sor.classifiers.inputs import to_index_labels
from art_sor.classifiers.view import ClassifierView
from art_sor.core.batch import batch_dot
from art_sor.core.gradients import gradient_at
from art_sor.core.hvp import hessian_vector_product
from art_sor.core.lmo import linear_maximizer
from art_sor.core.norms import GEOMETRIES
from art_sor.data import load_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint")
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--eps", type=float, default=0.1)
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--samples", type=int, default=256)
    args = parser.parse_args()

    data = load_dataset(args.dataset)
    classifier, _ = load_classifier(args.checkpoint, device="cpu")
    view = ClassifierView(classifier)
    x = view.inputs(data.x_test[:args.samples])
    y = view.labels(to_index_labels(data.y_test[:args.samples], classifier.nb_classes))
    loss_fn = view.loss_fn(y, fit=False)
    with view.eval_mode():
        at = gradient_at(loss_fn, x, create_graph=True)
        grad, box = at.grad.detach(), view.box
        print(f"{args.checkpoint}: {args.samples} test images, L∞ ε={args.eps}")
        for rule in ("replace", "frank_wolfe"):
            delta, iterates = torch.zeros_like(x), []
            for k in range(args.iterations):
                v = grad if k == 0 else grad + hessian_vector_product(loss_fn, at, delta, h=1.0).detach()
                extreme = linear_maximizer(v, args.eps, GEOMETRIES["inf"], x=x, box=box)
                delta = extreme if rule == "replace" else delta + (2.0 / (k + 2)) * (extreme - delta)
                iterates.append(delta)
            quadratic = [(batch_dot(grad, d) + 0.5 * batch_dot(d, hessian_vector_product(loss_fn, at, d, mode="exact")
                                                                 .detach())).mean().item() for d in iterates]
            with torch.no_grad():
                rise = [(loss_fn(x + d) - at.losses.detach()).mean().item() for d in iterates]
            signs = [torch.sign(d) for d in iterates]
            next_agree = [(a == b).float().mean().item() for a, b in itertools.pairwise(signs)]
            skip_agree = [(a == b).float().mean().item() for a, b in zip(signs[:-2], signs[2:], strict=True)]
            print(f"{rule:<12} quadratic model {_row(quadratic)}")
            print(f"{'':<12} true loss rise  {_row(rise)}")
            print(f"{'':<12} sign δₖ~δₖ₊₁    {_row(next_agree)}   δₖ~δₖ₊₂ {_row(skip_agree)}")


def _row(values: list[float]) -> str:
    return " ".join(f"{v:6.3f}" for v in values)


if __name__ == "__main__":
    main()
