"""Datasets by name (the ``art_sor.datasets`` registry), as float32 arrays in ``[0, 1]``, channels first.

A dataset spec is a registered name (``art-sor list datasets``), optionally with one argument after a colon:
``npz:PATH`` and ``folder:PATH`` read the user's own data.
"""

from __future__ import annotations

import inspect
import os
import re
from pathlib import Path

from art_sor.core.errors import SettingError
from art_sor.data.dataset import AUGMENTATIONS, Dataset, data_root
from art_sor.registry import DATASETS, RegistryError
from art_sor.specs import Spec

__all__ = ["AUGMENTATIONS", "Dataset", "data_root", "dataset_spec", "load_dataset"]

_OPTION = re.compile(r"[A-Za-z_]\w*=")


def dataset_spec(text: str) -> Spec:
    """Parse a dataset spec: ``name``, ``name:key=value,...``, or ``name:PATH`` (the ``path`` option).

    :raises ValueError: For an unknown dataset, options its loader does not take, or one it needs missing.
    """
    name, _, rest = text.strip().partition(":")
    # A path may hold "=" (a file named a=b.npz): one that exists is a path, not an option.
    is_path = rest and (not _OPTION.match(rest) or Path(rest).exists())
    spec = DATASETS.check(Spec(name, (("path", rest),)) if is_path else Spec.parse(text))
    given = dict(spec.options)
    missing = [key for key, default in DATASETS.options(spec.name).items()
               if default is inspect.Parameter.empty and key not in given]
    if missing:
        raise RegistryError(f"dataset {spec.name!r} needs {', '.join(missing)}"
                            + (f": write {spec.name}:PATH" if missing == ["path"] else ""))
    return spec


def load_dataset(spec: str | Spec, root: str | os.PathLike[str] | None = None, download: bool = False) -> Dataset:
    """Load a dataset by spec.

    :param spec: ``digits``, ``fashion-mnist``, ``cifar10``, ``npz:data.npz``, ... (``art-sor list datasets``).
    :param root: Data root for downloadable datasets (default :func:`data_root`).
    :param download: Let torchvision download a dataset that has no local copy.
    :raises FileNotFoundError: If the data is not there (the message says how to get it).
    :raises ValueError: For an unknown dataset or malformed user data.
    :raises SettingError: Naming ``root`` or ``download``, given to a dataset that does not read it.
    """
    spec = spec if isinstance(spec, Spec) else dataset_spec(spec)
    settings = {}
    for key, value in (("root", root), ("download", download)):
        if DATASETS.takes(spec.name, key):
            settings[key] = value
        elif value:
            raise SettingError(f"dataset {spec.name!r} does not read {key} (it is not downloaded); drop it", key)
    return DATASETS.build(spec, **settings)
