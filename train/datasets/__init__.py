"""Dataset loaders: real micro-expression corpora (in their documented layouts) and synthetic clips.

Each loader returns ``(records, report)``: a list of :class:`ClipRecord` (one per usable clip,
frames naturally sorted, onset/apex/offset as 0-based indices) and a :class:`DatasetReport` of
what was skipped or filled in. :func:`load_dataset` parses the command-line form
``NAME[+OPTION...]=DIR``:

- ``casme2=DIR``, ``casme2+cropped=DIR``
- ``samm=DIR``
- ``smic=DIR``, ``smic+cropped=DIR``, ``smic+vis=DIR``, ``smic+nir=DIR``
- ``casme_sq=DIR`` (micro-expressions only), ``casme_sq+all=DIR`` (macro too), ``+cropped``
- ``synthetic=DIR``
- ``megc=casme2:DIR,samm:DIR,smic:DIR`` (any subset of the three), ``megc+cropped=...``
"""

from __future__ import annotations

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
    "LABEL3_CASME2",
    "LABEL3_GENERAL",
    "ClipRecord",
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

_OPTIONS = {
    "casme2": {"cropped"},
    "samm": set(),
    "smic": {"cropped", "hs", "vis", "nir"},
    "casme_sq": {"cropped", "all"},
    "synthetic": set(),
    "megc": {"cropped"},
}


def load_dataset(spec: str) -> tuple[list[ClipRecord], DatasetReport]:
    """Load a dataset from a ``NAME[+OPTION...]=DIR`` string (see the module docstring)."""
    head, sep, value = spec.partition("=")
    name, *options = [part.strip().lower() for part in head.split("+")]
    value = value.strip()
    if not sep or not value or name not in _OPTIONS:
        raise DatasetError(
            f"Dataset spec {spec!r} must look like NAME=DIR with NAME one of {', '.join(_OPTIONS)} "
            "(megc=casme2:DIR,samm:DIR,smic:DIR for the composite)."
        )
    unknown = set(options) - _OPTIONS[name]
    if unknown:
        allowed = ", ".join(sorted(_OPTIONS[name])) or "none"
        raise DatasetError(f"Unknown option(s) {sorted(unknown)} for {name} (allowed: {allowed})")
    cropped = "cropped" in options
    if name == "casme2":
        return load_casme2(value, cropped=cropped)
    if name == "samm":
        return load_samm(value)
    if name == "smic":
        variant = next((o.upper() for o in options if o in {"hs", "vis", "nir"}), "HS")
        return load_smic(value, variant=variant, cropped=cropped)
    if name == "casme_sq":
        return load_casme_sq(value, micro_only="all" not in options, cropped=cropped)
    if name == "synthetic":
        return load_synthetic(value)
    parts: dict[str, str] = {}
    for item in value.split(","):
        part, colon, path = item.partition(":")  # only the first colon: C:\data stays whole
        part = part.strip().lower()
        if not colon or part not in {"casme2", "samm", "smic"} or not path.strip() or part in parts:
            raise DatasetError(
                f"megc part {item!r} must be casme2:DIR, samm:DIR or smic:DIR, each at most once"
            )
        parts[part] = path.strip()
    return load_megc2019(**parts, cropped=cropped)
