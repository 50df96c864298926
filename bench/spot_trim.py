"""Cut a one-micro-expression long-clip set (``bench/spot_cache.py make``) so that each expression's apex lies
``--edge`` seconds from the clip's first frame (even clips) or last frame (odd clips): a clip trimmed tightly
around an expression, whose end frame lies inside the movement. Tuning clips for the spotter's edge handling.

Usage: ``python bench/spot_trim.py SRC OUT [--edge 0.1] [--seconds 2.0] [--crf 24]``
"""

from __future__ import annotations

import argparse
import csv
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from microexp.video import load_clip  # noqa: E402
from train.generated import write_mp4  # noqa: E402


def trim(src: Path, out: Path, edge: float, seconds: float, crf: int) -> int:
    """Write the cut clips and their shifted ``intervals.csv`` (1-based frames, clipped to the cut); returns
    the number of clips."""
    out.mkdir(parents=True)
    rows = list(csv.DictReader(open(src / "intervals.csv", newline="")))
    shutil.copy(src / "long_config.json", out / "long_config.json")
    kept, clips = [], 0
    for i, (sub, name) in enumerate(sorted({(r["subject"], r["clip"]) for r in rows})):
        events = [r for r in rows if (r["subject"], r["clip"]) == (sub, name)]
        micro = [r for r in events if r["kind"] == "micro"]
        if len(micro) != 1:
            continue
        frames = load_clip(src / sub / f"{name}.mp4").frames
        fps = float(micro[0]["fps"])
        length, e, apex = round(seconds * fps), round(edge * fps), int(micro[0]["apex"]) - 1  # 0-based apex
        a = apex - e if i % 2 == 0 else apex + e - length + 1
        a = max(0, min(a, len(frames) - length))  # near the source's own ends: as close as it allows
        (out / sub).mkdir(exist_ok=True)
        write_mp4(out / sub / f"{name}.mp4", frames[a : a + length], fps, crf)
        clips += 1
        for r in events:
            on, ap, off = (int(r[k]) - a for k in ("onset", "apex", "offset"))
            if off < 1 or on > length or (r["kind"] == "micro" and not 1 <= ap <= length):
                continue
            kept.append({**r, "onset": max(on, 1), "apex": min(max(ap, 1), length), "offset": min(off, length)})
    with open(out / "intervals.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(kept)
    return clips


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("src", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--edge", type=float, default=0.1, help="apex to clip end, seconds")
    p.add_argument("--seconds", type=float, default=2.0, help="length of the cut clip")
    p.add_argument("--crf", type=int, default=24)
    args = p.parse_args(argv)
    print(trim(args.src, args.out, args.edge, args.seconds, args.crf), "clips:", args.out / "intervals.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
