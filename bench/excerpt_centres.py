"""Where the shipped pipeline centres its labelled window on excerpt clips (short ``train probe`` clips, one
expression each), against the annotated apex, and where two alternatives would centre it on the clips whose
spotter peaks were all filtered out.

Usage::

    python bench/excerpt_centres.py DIR [DIR ...] [--out results/excerpt_centres.json]

Per clip: ``shipped`` is the labelled window's centre (the top spotted interval's apex, else the sliding
window with the most motion); ``strongest`` the highest spotter peak whatever the filters said; ``argmax``
the spotter score's largest value. The two alternatives are applied only where no peak passed the filters
(``kept`` False), which is where they could change anything. Counts are windows centred within 0.1 s and
0.18 s (the training jitter's span, ``train.cache.JITTER_SPAN`` of a 0.6 s window) of the apex.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from microexp.models import build_model  # noqa: E402
from microexp.pipeline import Predictor  # noqa: E402
from microexp.spot import candidates, signals  # noqa: E402

TOLERANCES = (0.1, 0.18)


def centres(folder: Path, predictor: Predictor) -> dict[str, dict]:
    """Per clip of a ``train probe`` set: annotated apex and each rule's window centre (seconds)."""
    out = {}
    for r in csv.DictReader(open(folder / "annotations.csv", encoding="utf-8")):
        video = next((folder / r["subject"]).glob(r["clip"] + ".*"))
        p = predictor.predict(video)
        times = np.asarray(p.clip.timestamps)
        settings = replace(predictor.spot_settings, min_score=0.0, min_contrast=0.0)
        score, found = candidates(signals(p.clip, p.track, settings), times, p.track.valid, settings)
        kept = any(c.rejected_by(settings) is None for c in found)
        shipped = p.windows[p.best_window].window.center
        strongest = float(times[max(found, key=lambda c: c.score).apex]) if found else shipped
        out[f"{folder.name}/{r['clip']}"] = {
            "label": r["label"], "apex": float(times[int(r["apex"])]), "kept": kept, "shipped": float(shipped),
            "strongest": shipped if kept else strongest, "argmax": shipped if kept else float(times[int(np.argmax(score))]),
            "reasons": sorted({c.rejected_by(settings) or "kept" for c in found}),
        }  # fmt: skip
    return out


def counts(clips: dict[str, dict]) -> dict[str, dict[str, int]]:
    return {rule: {f"within_{t}": sum(abs(c[rule] - c["apex"]) <= t for c in clips.values()) for t in TOLERANCES}
            | {"clips": len(clips), "unkept": sum(not c["kept"] for c in clips.values())}
            for rule in ("shipped", "strongest", "argmax")}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folders", nargs="+", type=Path)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    predictor = Predictor(build_model("stcnn"))  # the window's place does not depend on the weights
    report = {"command": "python bench/excerpt_centres.py " + " ".join(sys.argv[1:]), "sets": {}}
    for folder in args.folders:
        clips = centres(folder, predictor)
        report["sets"][folder.name] = {"counts": counts(clips), "clips": clips}
        print(folder.name, json.dumps(report["sets"][folder.name]["counts"]))
    if args.out:
        args.out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
