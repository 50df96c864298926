"""Why does the spotter miss an expression? For every micro-expression of a cached set
(``bench/spot_cache.py``): the candidate peak that holds its apex (score, region, which filter drops it)
and the interval that outranked it, sorted into three causes:

(a) ``missing``: no kept candidate at the apex (under the threshold, silenced as speech or blink, dropped
    by a filter: the line says which);
(b) ``outranked``: a kept candidate holds or lies near the apex, but a distractor scores higher (the
    annotated event under the top interval: speech, blink, head, macro, or background = noise);
(c) ``placement``: the top interval lies near the apex (``--near`` seconds) without holding it.

Usage: ``python bench/spot_diagnose.py NAME ... [--floor 3] [--cache /tmp/spot/cache] [--set field=value]``
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.spot_cache import _setting, load  # noqa: E402
from microexp.spot import SpotSettings, candidates  # noqa: E402


def _event_under(events, onset: float, offset: float) -> str:
    """Kind of the annotated distractor overlapping [onset, offset] (recording frames) most; background if none."""
    best, kind = 0.0, "background"
    for e in events:
        if e.kind == "micro":
            continue
        overlap = min(offset, e.offset) - max(onset, e.onset)
        if overlap > best:
            best, kind = overlap, e.kind
    return kind


def diagnose(clips, settings: SpotSettings, floor: float, near: float, verbose: bool = True) -> Counter:
    why = Counter()
    for c in clips:
        sig = c.signals(settings)
        _, found = candidates(sig, c.times, c.valid, settings, floor)
        kept = [f for f in found if f.rejected_by(settings) is None]
        top = max(kept, key=lambda f: f.score) if kept else None
        scale = c.fps * (c.times[-1] / max(len(c.times) - 1, 1))  # recording frames per clip frame
        for g in (e for e in c.events if e.kind == "micro"):
            apex = g.apex / scale
            reach = near * c.fps / scale

            def close(f, slack=reach):
                return f.onset - slack <= apex <= f.offset + slack

            holding = [f for f in found if close(f, 1)]
            best = max(holding, key=lambda f: f.score) if holding else None
            a = min(round(apex), len(c.times) - 1)
            masks = "".join(m for m, on in (("S", sig.speech[a]), ("B", sig.blinks[a])) if on) or "-"
            if top is not None and top.onset <= apex <= top.offset:
                verdict = "hit"
            elif top is not None and abs(top.apex - apex) <= reach:
                verdict = "c placement"
            elif any(close(f) for f in kept):
                under = _event_under(c.events, top.onset * scale, top.offset * scale)
                verdict = f"b outranked by {under}"
            else:
                reason = best.rejected_by(settings) if best is not None else "no candidate"
                verdict = f"a {reason or 'not near'} mask {masks}"
            why[verdict] += 1
            if verbose:
                b = (f"{best.region} {best.score:.1f} ret {best.return_ratio:.2f} rep {best.repeat_ratio:.2f} "
                     f"w {best.width:.2f} con {best.contrast:.1f} hd {best.head:.3f}") if best else "-"
                t = f"{top.region} {top.score:.1f} @{c.times[top.apex]:.2f}" if top else "none"
                print(f"{c.key:24s} {g.label:9s} {g.aus:14s} apex {c.times[a]:.2f} {masks:2s} | {verdict:24s} | {b} "
                      f"| top {t}")
    return why


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("names", nargs="+")
    p.add_argument("--floor", type=float, default=3.0, help="lowest candidate score looked at")
    p.add_argument("--near", type=float, default=0.3, help="seconds from the apex that count as near it")
    p.add_argument("--cache", type=Path, default=Path("/tmp/spot/cache"))
    p.add_argument("--set", nargs="*", default=[], help="SpotSettings field=value")
    p.add_argument("--quiet", action="store_true", help="counts only")
    args = p.parse_args()
    settings = SpotSettings(**dict(_setting(a) for a in args.set))
    for name in args.names:
        why = diagnose(load(args.cache, name), settings, args.floor, args.near, not args.quiet)
        print(name, dict(sorted(why.items())), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
