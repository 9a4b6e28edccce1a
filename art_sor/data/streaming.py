"""Training data streamed through a ``torch.utils.data.DataLoader``, behind ART's ``DataGenerator`` interface.

Workers load and augment batches while the trainer computes; on CUDA the batches are pinned so that the copy to
the GPU overlaps with compute. Shuffling and augmentation draw from seeds the loader takes from torch's global
generator at the start of every epoch, so a seeded run, and a run resumed from its saved generator state, sees
the same batches.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from art.data_generators import DataGenerator
from torch.utils.data import DataLoader

from art_sor.core.checks import check_choice, check_count
from art_sor.data.dataset import AUGMENTATIONS


class ArrayImages(torch.utils.data.Dataset):
    """Images and labels held in NumPy arrays, with optional per-sample augmentation.

    :param x: Images ``(n, c, h, w)`` in ``[0, 1]``; not copied.
    :param y: Labels ``(n,)``.
    :param augmentation: ``"none"`` or ``"crop-flip"`` (torchvision's ``RandomCrop(padding=4)`` and
                         ``RandomHorizontalFlip``).
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, augmentation: str = "none") -> None:
        from torchvision.transforms import v2

        check_choice(augmentation, AUGMENTATIONS, "augmentation")
        self.x, self.y = x, y
        self.transform = (v2.Compose([v2.RandomCrop(x.shape[-2:], padding=4), v2.RandomHorizontalFlip()])
                          if augmentation == "crop-flip" else None)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = torch.from_numpy(self.x[index])
        if self.transform is not None:
            image = self.transform(image)
        return image, torch.tensor(self.y[index])


class LoaderGenerator(DataGenerator):
    """ART ``DataGenerator`` over a ``DataLoader``: ``get_batch`` yields CPU tensors (pinned on CUDA).

    One pass of the loader is one epoch of ``ceil(size / batch_size)`` batches; the loader's iterator (and with
    it the shuffle and the workers' seeds) is created at the first batch of each epoch.

    :param loader: The data loader.
    :param size: Number of samples per epoch.
    :param batch_size: Its batch size.
    """

    def __init__(self, loader: DataLoader, size: int, batch_size: int) -> None:
        super().__init__(size=size, batch_size=batch_size)
        self._iterator = loader
        self._epoch: Iterator[tuple[torch.Tensor, torch.Tensor]] | None = None

    def get_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The next batch ``(x, y)``; after the last batch of an epoch, the first of the next."""
        if self._epoch is None:
            self._epoch = iter(self.iterator)
        try:
            return next(self._epoch)
        except StopIteration:
            self._epoch = iter(self.iterator)
            return next(self._epoch)


def training_generator(x: np.ndarray, y: np.ndarray, batch_size: int, augmentation: str = "none",
                       workers: int = 0, pin_memory: bool = False) -> LoaderGenerator:
    """A shuffling ``DataLoader`` over ``(x, y)`` wrapped as an ART ``DataGenerator``.

    :param workers: Loader processes (0 loads in the training process).
    :param pin_memory: Pin batches for asynchronous copies to CUDA.
    """
    batch_size = check_count(batch_size, "batch_size")
    workers = check_count(workers, "workers", minimum=0)
    loader = DataLoader(ArrayImages(x, y, augmentation), batch_size=batch_size, shuffle=True, num_workers=workers,
                        pin_memory=pin_memory, persistent_workers=workers > 0, drop_last=False)
    return LoaderGenerator(loader, size=len(x), batch_size=batch_size)
