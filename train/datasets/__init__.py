"""Dataset loaders: real micro-expression corpora (in their documented layouts) and synthetic clips.

Each loader returns ``(records, report)``: a list of :class:`ClipRecord` (one per usable clip,
frames naturally sorted, onset/apex/offset as 0-based indices) and a :class:`DatasetReport` of
what was skipped or filled in. :func:`load_dataset` parses the command-line form
``NAME[+OPTION...]=DIR``, one :data:`DATASETS` entry per name:

- ``casme2=DIR``, ``casme2+cropped=DIR``
- ``samm=DIR``
- ``smic=DIR``, ``smic+cropped=DIR``, ``smic+vis=DIR``, ``smic+nir=DIR``
- ``casme_sq=DIR`` (micro-expressions only), ``casme_sq+all=DIR`` (macro too), ``+cropped``
- ``synthetic=DIR``
- ``megc=casme2:DIR,samm:DIR,smic:DIR`` (any subset of the three), ``megc+cropped=...``
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from microexp.errors import DatasetError

from ._base import (
    LABEL3_CASME2,
    LABEL3_GENERAL,
    ClipRecord,
    DatasetReport,
    Issue,
    natural_key,
)
from .casme2 import load_casme2
from .casme_sq import load_casme_sq
from .megc import load_megc2019
from .samm import load_samm
from .smic import load_smic
from .synthetic import load_synthetic

__all__ = [
    "DATASETS",
    "LABEL3_CASME2",
    "LABEL3_GENERAL",
    "ClipRecord",
    "DatasetEntry",
    "DatasetReport",
    "Issue",
    "load_casme2",
    "load_casme_sq",
    "load_dataset",
    "load_megc2019",
    "load_samm",
    "load_smic",
    "load_synthetic",
    "natural_key",
]

Loader = Callable[[str, tuple[str, ...]], tuple[list[ClipRecord], DatasetReport]]


@dataclass(frozen=True)
class DatasetEntry:
    """One dataset of :data:`DATASETS`: its ``--data`` name, the ``+OPTION`` words it takes and its loader.

    ``load(value, options)`` gets the text after ``=`` and the (validated) options in the user's order.
    """

    name: str
    options: frozenset[str]
    load: Loader


def _smic_variant(options: tuple[str, ...]) -> str:
    return next((o.upper() for o in options if o in {"hs", "vis", "nir"}), "HS")


def _megc(value: str, options: tuple[str, ...]) -> tuple[list[ClipRecord], DatasetReport]:
    parts: dict[str, str] = {}
    for item in value.split(","):
        part, colon, path = item.partition(":")  # only the first colon: C:\data stays whole
        part = part.strip().lower()
        if not colon or part not in {"casme2", "samm", "smic"} or not path.strip() or part in parts:
            raise DatasetError(f"megc part {item!r} must be casme2:DIR, samm:DIR or smic:DIR, each at most once")
        parts[part] = path.strip()
    return load_megc2019(**parts, cropped="cropped" in options)


DATASETS: Mapping[str, DatasetEntry] = MappingProxyType(
    {
        e.name: e
        for e in (
            DatasetEntry("casme2", frozenset({"cropped"}), lambda v, o: load_casme2(v, cropped="cropped" in o)),
            DatasetEntry("samm", frozenset(), lambda v, o: load_samm(v)),
            DatasetEntry(
                "smic",
                frozenset({"cropped", "hs", "vis", "nir"}),
                lambda v, o: load_smic(v, variant=_smic_variant(o), cropped="cropped" in o),
            ),
            DatasetEntry(
                "casme_sq",
                frozenset({"cropped", "all"}),
                lambda v, o: load_casme_sq(v, micro_only="all" not in o, cropped="cropped" in o),
            ),
            DatasetEntry("synthetic", frozenset(), lambda v, o: load_synthetic(v)),
            DatasetEntry("megc", frozenset({"cropped"}), _megc),
        )
    }
)


def load_dataset(spec: str) -> tuple[list[ClipRecord], DatasetReport]:
    """Load a dataset from a ``NAME[+OPTION...]=DIR`` string (see the module docstring)."""
    head, sep, value = spec.partition("=")
    name, *options = [part.strip().lower() for part in head.split("+")]
    value = value.strip()
    if not sep or not value or name not in DATASETS:
        raise DatasetError(
            f"Dataset spec {spec!r} must look like NAME=DIR with NAME one of {', '.join(DATASETS)} "
            "(megc=casme2:DIR,samm:DIR,smic:DIR for the composite)."
        )
    entry = DATASETS[name]
    unknown = set(options) - entry.options
    if unknown:
        allowed = ", ".join(sorted(entry.options)) or "none"
        raise DatasetError(f"Unknown option(s) {sorted(unknown)} for {name} (allowed: {allowed})")
    return entry.load(value, tuple(options))
