"""SMIC (HS: 100 fps, 164 clips, 16 subjects; VIS/NIR: 25 fps).

Layout: ``HS/s1/micro/{negative,positive,surprise}/s1_ne_01/image586126.bmp`` (often under
``SMIC_all_raw/``); cropped: ``SMIC_all_cropped/HS/.../reg_image*.bmp``. There is no annotation
file: labels are the folder names and every clip spans the expression, so onset = first frame,
offset = last frame and apex = their midpoint (the usual convention; SMIC has no apex).
"""

from __future__ import annotations

from pathlib import Path

from microexp.errors import DatasetError

from ._base import ClipRecord, Collector, DatasetReport, list_frames, require_dir, subdirs

FPS = {"HS": 100.0, "VIS": 25.0, "NIR": 25.0}
LABELS = ("negative", "positive", "surprise")


def _variant_root(root: Path, variant: str, cropped: bool) -> Path:
    parents = ("SMIC_all_cropped", "SMIC_cropped", "cropped") if cropped else ("SMIC_all_raw", "SMIC", "")
    candidates = [root / p / variant if p else root / variant for p in parents]
    if cropped and root.name.lower().endswith("cropped"):
        candidates.insert(0, root / variant)
    if not cropped:
        candidates.append(root / variant)
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    if any((d / "micro").is_dir() for d in subdirs(root)):
        return root  # the user pointed at the variant folder itself
    kind = "SMIC_all_cropped/" if cropped else ""
    raise DatasetError(f"No SMIC {kind}{variant}/s*/micro/ folders in {root}")


def load_smic(
    root: str | Path, variant: str = "HS", cropped: bool = False
) -> tuple[list[ClipRecord], DatasetReport]:
    """Load SMIC micro-expression clips of one camera.

    Args:
        root: the SMIC folder (holding ``HS/``, ``SMIC_all_raw/HS/`` or ``SMIC_all_cropped/HS/``)
            or the variant folder itself.
        variant: ``HS`` (high speed, the one used by MEGC), ``VIS`` or ``NIR``.
        cropped: use ``SMIC_all_cropped`` (``reg_image*.bmp``).
    """
    variant = variant.upper()
    if variant not in FPS:
        raise DatasetError(f"SMIC variant must be one of {sorted(FPS)}, got {variant!r}")
    root = require_dir(root, "SMIC")
    base = _variant_root(root, variant, cropped)
    col = Collector("smic", base)
    records = col.records
    for subject_dir in subdirs(base):
        subject = f"smic/{subject_dir.name}"
        for label_dir in subdirs(subject_dir / "micro"):
            label = label_dir.name.lower()
            known = label in LABELS
            if not known:
                col.add("unknown_label", subject, label_dir.name, f"folder {label_dir}", False)
            for clip_dir in subdirs(label_dir):
                frames = list_frames(clip_dir)
                if not frames:
                    col.add("no_frames", subject, clip_dir.name, str(clip_dir), True)
                    continue
                last = len(frames) - 1
                records.append(
                    ClipRecord(
                        dataset="smic",
                        subject=subject,
                        clip=clip_dir.name,
                        frames=frames,
                        video=None,
                        fps=FPS[variant],
                        onset=0,
                        apex=last // 2,
                        offset=last,
                        label=label,
                        label3=label if known else None,
                    )
                )
    if records:
        col.notes.append(
            "SMIC has no apex annotation: onset = first frame, offset = last, "
            f"apex = midpoint for all {len(records)} clips"
        )
    return records, col.report()
