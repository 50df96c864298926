"""What the model sees of a micro-expression under camera shake, with landmark or image registration.

For a few faces of the synthetic generator and a few action-unit recipes (apex displacement 4 % of
the inter-ocular distance, no other nuisance), a clip is rendered, shaken frame to frame by a
Gaussian translation of ``--shake`` px sd (a hand-held camera), given sensor noise (sd 2), tracked
with MediaPipe, and the window centred on the apex is aligned as training and inference align it
(``microexp.align.align_window``) with ``spec.extra["register"]`` = ``landmarks`` and ``image``.
The figure is the crop's temporal change: mean |crop - its mean over the window| in grey levels of
the 64 px face crop. A clip without expression ("none") gives the noise floor; an expression is only
visible to a model when it stands clearly above that floor.

Usage: ``python bench/registration.py [--faces 3] [--shake 0 0.4 0.8] [--out bench/results/registration.json]``
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from bench.common import RESULTS, markdown_table, write_json  # noqa: E402
from microexp.align import REGISTER_MODES, align_window  # noqa: E402
from microexp.face import FaceLandmarker  # noqa: E402
from microexp.spec import InputSpec  # noqa: E402
from microexp.windows import window_at  # noqa: E402
from train.synth import make_clip  # noqa: E402
from train.synth.photos import frame_face, load_faces  # noqa: E402

RECIPES = ("AU12", "AU1+AU2", "AU4+AU7", "AU15+AU17", "none")
SPEC = InputSpec(frames=18, window_seconds=0.6, regions=("face",))


def shaken(frames: np.ndarray, sd: float, rng: np.random.Generator) -> np.ndarray:
    """Each frame translated by its own Gaussian (dx, dy) of sd ``sd`` px, then sensor noise (sd 2)."""
    out = []
    for frame in frames:
        dx, dy = rng.normal(0.0, sd, 2) if sd else (0.0, 0.0)
        m = np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]])
        moved = cv2.warpAffine(frame, m, (frame.shape[1], frame.shape[0]), borderMode=cv2.BORDER_REPLICATE)
        out.append(np.clip(moved + rng.normal(0.0, 2.0, moved.shape), 0, 255).astype(np.uint8))
    return np.stack(out)


def measure(faces: int, shakes: list[float]) -> list[dict]:
    rows = []
    with FaceLandmarker() as landmarker:
        photos = load_faces(landmarker=landmarker)[:faces]
        for photo in photos:
            rgb, lm = frame_face(photo)
            for recipe in RECIPES:
                clip = make_clip(rgb, lm, "AU12" if recipe == "none" else recipe, 0,
                                 amplitude=1e-9 if recipe == "none" else 0.04, nuisances=False, seconds=1.2)  # fmt: skip
                for sd in shakes:
                    frames = shaken(clip.frames, sd, np.random.default_rng(1))
                    t = np.arange(len(frames)) / 30.0
                    track = landmarker.track(frames, t)
                    window = window_at(t, SPEC, clip.apex / 30.0)
                    for mode in REGISTER_MODES:
                        crops = align_window(frames, track, window, SPEC.replace(extra={"register": mode})).crops["face"]
                        rows.append({"face": photo.name, "recipe": recipe, "shake_px": sd, "register": mode,
                                     "change": float(np.abs(crops - crops.mean(axis=0)).mean())})  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--faces", type=int, default=3)
    p.add_argument("--shake", type=float, nargs="+", default=[0.0, 0.4, 0.8], help="shake sd in px")
    p.add_argument("--out", type=Path, default=RESULTS / "registration.json")
    args = p.parse_args(argv)
    rows = measure(args.faces, args.shake)
    summary = []
    for recipe in RECIPES:
        for sd in args.shake:
            cell = {"recipe": recipe, "shake_px": sd}
            for mode in REGISTER_MODES:
                values = [r["change"] for r in rows if (r["recipe"], r["shake_px"], r["register"]) == (recipe, sd, mode)]
                cell[mode] = round(float(np.mean(values)), 3)
            summary.append(cell)
    write_json(args.out, {"command": " ".join(["python", "bench/registration.py", *(argv or sys.argv[1:])]),
                          "faces": args.faces, "rows": rows, "summary": summary})  # fmt: skip
    headers = ["recipe", "shake_px", *REGISTER_MODES]
    print(markdown_table(headers, [[cell[h] for h in headers] for cell in summary]))
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
