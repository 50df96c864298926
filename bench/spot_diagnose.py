"""Why does the spotter miss an expression? For every micro-expression of a cached set
(``bench/spot_cache.py``): the candidate peak that holds its apex (score, region, which filter drops it)
and the interval that outranked it.

Usage: ``python bench/spot_diagnose.py NAME [--floor 3] [--cache /tmp/spot/cache]``
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.spot_cache import load  # noqa: E402
from microexp.spot import SpotSettings, candidates  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("name")
    p.add_argument("--floor", type=float, default=3.0, help="lowest candidate score looked at")
    p.add_argument("--cache", type=Path, default=Path("/tmp/spot/cache"))
    args = p.parse_args()
    settings = SpotSettings()
    why = Counter()
    for c in load(args.cache, args.name):
        _, found = candidates(c.sig, c.times, c.valid, settings, args.floor)
        kept = [f for f in found if f.rejected_by(settings) is None]
        top = max(kept, key=lambda f: f.score) if kept else None
        scale = c.fps * (c.times[-1] / max(len(c.times) - 1, 1))  # recording frames per clip frame
        for g in (e for e in c.events if e.kind == "micro"):
            apex = g.apex / scale
            holding = [f for f in found if f.onset - 1 <= apex <= f.offset + 1]
            best = max(holding, key=lambda f: f.score) if holding else None
            if top is not None and top.onset - 1 <= apex <= top.offset + 1:
                verdict = "hit"
            elif best is None:
                verdict = "no candidate"
            else:
                verdict = best.rejected_by(settings) or "outranked"
            why[verdict] += 1
            b = (f"{best.region} {best.score:.1f} ret {best.return_ratio:.2f} rep {best.repeat_ratio:.2f} "
                 f"w {best.width:.2f} 2nd {best.second:.1f} sp {best.speech:d} bl {best.blink:d}") if best else "-"
            t = f"{top.region} {top.score:.1f} @{c.times[top.apex]:.2f}" if top else "none"
            print(f"{c.key:24s} {g.label:9s} {g.aus:14s} apex {c.times[round(apex)]:.2f} | {verdict:12s} | {b} | top {t}")
    print(dict(why))
    return 0


if __name__ == "__main__":
    sys.exit(main())
