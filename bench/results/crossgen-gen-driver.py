"""bench/crossgen.py with two experiment knobs (issue 16 lever search, 2026-12-02; run from the repo root):
GEN_PRESET (JSON) overrides fields of the `default` preset (e.g. {"reverse": 0.5}); GEN_BLUR / GEN_TBLUR = sigma
blur every cached window in space (crop pixels) / time (frames) and re-normalise it. Blur and the temporal-mean
removal are linear, so this equals blurring the crops before normalisation (up to edge handling)."""
import json, os, sys
from dataclasses import replace
sys.path.insert(0, os.getcwd())
import torch
import train.fit
from train.presets import PRESETS
over = json.loads(os.environ.get("GEN_PRESET", "{}"))
PRESETS["default"] = replace(PRESETS["default"], **over)
print("preset:", PRESETS["default"], flush=True)
sigma = float(os.environ.get("GEN_BLUR", "0"))
tsigma = float(os.environ.get("GEN_TBLUR", "0"))
if sigma > 0 or tsigma > 0:
    import cv2, numpy as np
    def blur(x):  # (..., H, W) normalised windows
        shape = x.shape
        flat = x.reshape(-1, *shape[-2:]).numpy()
        if sigma > 0:
            flat = np.stack([cv2.GaussianBlur(f, (0, 0), sigma, borderType=cv2.BORDER_REPLICATE) for f in flat])
        out = torch.from_numpy(flat).reshape(shape)
        if tsigma > 0:  # Gaussian along T (dim -3), edges replicated, then the temporal mean removed again
            r = int(np.ceil(3 * tsigma)); k = torch.exp(-torch.arange(-r, r + 1.0) ** 2 / (2 * tsigma**2)); k /= k.sum()
            t = out.movedim(-3, -1)
            tp = torch.cat([t[..., :1].expand(*t.shape[:-1], r), t, t[..., -1:].expand(*t.shape[:-1], r)], -1)
            t = tp.unfold(-1, 2 * r + 1, 1) @ k
            out = t.movedim(-1, -3)
            out = out - out.mean(dim=-3, keepdim=True)
        # re-z-score per window (std over C, T, H, W)
        dims = tuple(range(len(shape) - 4, len(shape)))
        return out / out.std(dim=dims, keepdim=True).clamp_min(1e-6)
    orig = train.fit.load_data
    def load_data(*a, **k):
        ts, meta = orig(*a, **k)
        ts = replace(ts, inputs=tuple(blur(x) for x in ts.inputs), jitter=tuple(blur(j) for j in ts.jitter))
        return ts, meta
    train.fit.load_data = load_data
    print("blur sigma", sigma, "temporal", tsigma, flush=True)
sys.path.insert(0, os.path.join(os.getcwd(), "bench"))
import crossgen
sys.exit(crossgen.main(sys.argv[1:]))
