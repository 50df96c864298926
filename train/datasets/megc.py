"""The MEGC2019 composite: CASME II + SAMM + SMIC-HS in three classes (442 clips, 68 subjects).

Classes: negative (anger, contempt, disgust, sadness, fear, repression; CASME II contributes only
disgust + repression), positive (happiness), surprise (surprise); "others" and CASME II's fear and
sadness are dropped. Subjects stay dataset-prefixed (``casme2/sub01``, ``samm/006``, ``smic/s1``),
so LOSO over the composite is LOSO over its 68 people.
"""

from __future__ import annotations

from pathlib import Path

from microexp.errors import DatasetError

from ._base import ClipRecord, DatasetReport
from .casme2 import load_casme2
from .samm import load_samm
from .smic import load_smic


def load_megc2019(
    casme2: str | Path | None = None,
    samm: str | Path | None = None,
    smic: str | Path | None = None,
    cropped: bool = False,
) -> tuple[list[ClipRecord], DatasetReport]:
    """Load the composite from whichever of the three roots are given (at least one).

    Args:
        casme2, samm, smic: dataset roots as their own loaders take them.
        cropped: use the cropped frames of CASME II and SMIC (SAMM has one version).

    Returns:
        The records whose ``label3`` is set (in CASME II, SAMM, SMIC order) and the merged report.
    """
    if casme2 is None and samm is None and smic is None:
        raise DatasetError("The MEGC2019 composite needs at least one of casme2=, samm=, smic=")
    parts: list[tuple[list[ClipRecord], DatasetReport]] = []
    if casme2 is not None:
        parts.append(load_casme2(casme2, cropped=cropped))
    if samm is not None:
        parts.append(load_samm(samm))
    if smic is not None:
        parts.append(load_smic(smic, variant="HS", cropped=cropped))
    records: list[ClipRecord] = []
    notes: list[str] = []
    for part, report in parts:
        kept = [r for r in part if r.label3 is not None]
        dropped: dict[str, int] = {}
        for r in part:
            if r.label3 is None:
                dropped[r.label] = dropped.get(r.label, 0) + 1
        if dropped:
            notes.append(f"{report.dataset}: dropped " + ", ".join(f"{n} {k}" for k, n in sorted(dropped.items())))
        records += kept
    return records, DatasetReport.merge("megc2019", [r for _, r in parts], len(records), notes)
