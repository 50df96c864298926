"""Fast CPU path for :class:`~microexp.models.blocks.SpatioTemporalBlock` (inference and training).

The paper's block is ``relu(maxpool3d(conv3d(x), p))`` with a (kt, kh, kw) = (15, 3, 3) kernel on a
one-channel clip. PyTorch runs a one-channel ``Conv3d`` through a slow im2col fallback; this module
computes the same numbers with an exact reformulation that oneDNN runs fast:

* **Time unfolded into channels.** The conv output at frame ``t`` only sees frames ``t..t+kt-1``, so
  it equals a 2D ``(kh, kw)`` convolution with ``C*kt`` input channels over that window. The clip
  (N, C, T, H, W) becomes a batch of windows (B, C*kt, H, W) in channels-last memory, and the conv
  weight (O, C, kt, kh, kw) is the same tensor viewed as (O, C*kt, kh, kw): no parameter changes.
* **Only what the pool keeps.** ``max_pool3d`` with stride = kernel = p and 'valid' padding drops the
  trailing conv frames/rows/columns, so only ``p*(T'//p)`` frames and ``p*(H'//p)`` rows are computed.
* **Fused and chunked.** Windows are processed a few pooled frames at a time (3 STCNN conv frames,
  1.4 MB, without autograd; 9 frames, 4 MB, with it: the fastest measured for each), so the 40 MB-per-clip
  conv output of STCNN-96 never exists whole: conv -> pool -> store. The conv bias is added after the pool (max(y + b) ==
  max(y) + b for a per-channel constant) and ReLU after the pool (they commute), as in the reference.
  Without autograd the pool is three elementwise ``maximum`` passes (time, rows, columns), cheaper
  than ``max_pool3d`` on channels-last data; with autograd ``max_pool3d`` keeps the argmax indices,
  first maximum in (T, H, W) order as the reference.
* **Sparse-aware backward, width-unfolded.** A custom :class:`torch.autograd.Function` keeps the
  pool's argmax indices; backward scatters each pooled gradient to its argmax in a dense conv-output
  gradient (1 in p**3 entries non-zero, one buffer reused by all chunks) and asks oneDNN for the
  weight (and, only when needed, input) gradient. There the conv is unfolded along *width* instead:
  a (kt, kh) 2D conv over (T, H) with ``C*kw`` channels and batch N*W', whose oneDNN weight gradient
  runs faster than the time-unfolded one (bench/README.md, Models).

Modes: ``auto`` (default: fast path on CPU when the layer fits), ``fast`` (force; raises if the
layer or input does not fit) and ``reference`` (plain ``Conv3d`` -> ``max_pool3d`` -> ReLU).
Precision: ``fp32`` (default, matches the reference to float rounding) or ``bf16`` (opt-in: conv
inputs and weights rounded to bfloat16, fp32 accumulation and output).
"""

from __future__ import annotations

import contextlib
import copy
import ctypes
import ctypes.util
from collections.abc import Iterator
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from microexp.cpuinfo import model_and_flags, read_cpuinfo

MODES = ("auto", "fast", "reference")
PRECISIONS = ("fp32", "bf16")


@dataclass(frozen=True)
class FastConfig:
    """Process-wide switch for the block implementation.

    Attributes:
        mode: ``auto``, ``fast`` or ``reference`` (see module docstring).
        precision: ``fp32`` or ``bf16`` for the conv of the fast path.
        chunk_bytes: size of the conv output computed per oneDNN call without autograd (rounded
            to whole pooled frames, at least one). Three STCNN frames (1.4 MB) measured fastest
            at batch 1 with glibc's default allocator (larger chunks pay fresh page faults).
        train_chunk_bytes: the same for the autograd forward and the backward; ``None`` means
            three times ``chunk_bytes`` (9 STCNN frames: the oneDNN weight gradient runs best
            on those and training allocates large buffers anyway).
    """

    mode: str = "auto"
    precision: str = "fp32"
    chunk_bytes: int = 3 * 32 * 60 * 60 * 4  # three STCNN conv frames, 1.4 MB
    train_chunk_bytes: int | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.chunk_bytes < 1 or (self.train_chunk_bytes is not None and self.train_chunk_bytes < 1):
            raise ValueError("chunk_bytes and train_chunk_bytes must be >= 1")

    @property
    def training_chunk_bytes(self) -> int:
        """Chunk size of the autograd forward and backward."""
        return self.train_chunk_bytes if self.train_chunk_bytes is not None else 3 * self.chunk_bytes


_config = FastConfig()


def get_config() -> FastConfig:
    """The configuration now in force."""
    return _config


def set_mode(
    mode: str = "auto", precision: str | None = None, chunk_bytes: int | None = None, train_chunk_bytes: int | None = None
) -> FastConfig:
    """Choose the block implementation for the whole process; returns the previous configuration."""
    global _config
    previous = _config
    changes: dict[str, object] = {"mode": mode}
    if precision is not None:
        changes["precision"] = precision
    if chunk_bytes is not None:
        changes["chunk_bytes"] = chunk_bytes
    if train_chunk_bytes is not None:
        changes["train_chunk_bytes"] = train_chunk_bytes
    _config = replace(_config, **changes)
    return previous


@contextlib.contextmanager
def fast_mode(
    mode: str = "fast", precision: str = "fp32", chunk_bytes: int | None = None, train_chunk_bytes: int | None = None
) -> Iterator[FastConfig]:
    """Context manager: ``with fast_mode("reference"): ...`` runs the plain PyTorch layers."""
    global _config
    previous = set_mode(mode, precision, chunk_bytes, train_chunk_bytes)
    try:
        yield _config
    finally:
        _config = previous


def fits(conv: nn.Conv3d, pool: int, x: torch.Tensor) -> str | None:
    """Why the fast path cannot run this layer on ``x`` (``None`` when it can)."""
    if not isinstance(conv, nn.Conv3d):
        return "not a Conv3d"
    if conv.stride != (1, 1, 1) or conv.dilation != (1, 1, 1) or conv.groups != 1:
        return "conv must have stride 1, dilation 1, groups 1"
    if conv.padding != (0, 0, 0) or conv.padding_mode != "zeros":
        return "conv must be 'valid' (no padding)"
    if conv._forward_hooks or conv._forward_pre_hooks or conv._backward_hooks or conv._backward_pre_hooks:
        return "the conv has hooks (e.g. a layer attribution), which only the reference path calls"
    if x.device.type != "cpu":
        return f"input on {x.device.type}, fast path is CPU only"
    if x.dtype != torch.float32 or conv.weight.dtype != torch.float32:
        return "fast path takes float32 tensors"
    if x.dim() != 5 or x.shape[1] != conv.in_channels:
        return f"input must be (N, {conv.in_channels}, T, H, W), got {tuple(x.shape)}"
    kt, kh, kw = conv.kernel_size
    _, _, t, h, w = x.shape
    if min(t - kt + 1, h - kh + 1, w - kw + 1) < pool:
        return "input too small for kernel and pool"
    return None


def should_use(conv: nn.Conv3d, pool: int, x: torch.Tensor) -> bool:
    """Whether :class:`SpatioTemporalBlock` should take the fast path for this call."""
    if _config.mode == "reference":
        return False
    reason = fits(conv, pool, x)
    if reason is not None and _config.mode == "fast":
        raise ValueError(f"fast path forced but unavailable: {reason}")
    return reason is None


def reference_block(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, pool: int) -> torch.Tensor:
    """The plain PyTorch block: Conv3d -> max_pool3d -> ReLU."""
    return torch.relu(F.max_pool3d(F.conv3d(x, weight, bias), pool))


def spatiotemporal_block(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, pool: int, precision: str | None = None
) -> torch.Tensor:
    """Fast ``relu(max_pool3d(conv3d(x, weight, bias), pool))`` for 'valid', stride-1 convs.

    Args:
        x: (N, C, T, H, W) float32 clip.
        weight: (O, C, kt, kh, kw) conv weight; bias: (O,) or ``None``.
        pool: max-pool kernel and stride.
        precision: ``fp32`` or ``bf16``; ``None`` takes the configured one.

    Returns:
        (N, O, T'//pool, H'//pool, W'//pool) float32, contiguous, with ``T' = T - kt + 1`` etc.
    """
    precision = precision or _config.precision
    if bias is None:
        bias = torch.zeros(weight.shape[0], dtype=weight.dtype)
    if torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad or bias.requires_grad):
        return _FusedBlock.apply(x, weight, bias, pool, precision, _config.training_chunk_bytes)
    out, _ = _forward(x, weight, bias, pool, precision, _config.chunk_bytes, keep_indices=False)
    return out


# --- implementation ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Geometry:
    n: int
    c: int
    o: int
    kt: int
    kh: int
    kw: int
    pool: int
    tp: int  # pooled frames
    hp: int
    wp: int

    @property
    def tc(self) -> int:  # conv frames kept by the pool
        return self.tp * self.pool

    @property
    def hc(self) -> int:  # conv output rows/cols kept by the pool
        return self.hp * self.pool

    @property
    def wc(self) -> int:
        return self.wp * self.pool


def _geometry(x: torch.Tensor, weight: torch.Tensor, pool: int) -> _Geometry:
    n, c, t, h, w = x.shape
    o, _, kt, kh, kw = weight.shape
    return _Geometry(n, c, o, kt, kh, kw, pool, (t - kt + 1) // pool, (h - kh + 1) // pool, (w - kw + 1) // pool)


def _chunks(g: _Geometry, chunk_bytes: int) -> Iterator[tuple[int, int, int, int]]:
    """(n0, n1, t0, t1) ranges of clips and pooled frames whose fp32 conv output is ~``chunk_bytes``."""
    frame_bytes = 4 * g.o * g.hc * g.wc  # one conv frame of output
    per = max(1, chunk_bytes // (frame_bytes * g.pool))  # pooled frames per chunk
    if per >= g.tp:  # short clips: several whole clips per chunk
        clips = max(1, per // g.tp)
        for n0 in range(0, g.n, clips):
            yield n0, min(g.n, n0 + clips), 0, g.tp
    else:
        for n0 in range(g.n):
            for t0 in range(0, g.tp, per):
                yield n0, n0 + 1, t0, min(g.tp, t0 + per)


def _time_major(x: torch.Tensor, g: _Geometry, dtype: torch.dtype) -> torch.Tensor:
    """(N, C, T, H, W) -> (N, H', W', T', C) contiguous, cropped to what the pool keeps."""
    x = x[:, :, : g.tc + g.kt - 1, : g.hc + g.kh - 1, : g.wc + g.kw - 1]
    return x.permute(0, 3, 4, 2, 1).to(dtype).contiguous()


def _windows(xt: torch.Tensor, g: _Geometry, n0: int, n1: int, t0: int, t1: int) -> torch.Tensor:
    """Time windows of one chunk as a channels-last (B, C*kt, H', W') batch; B = clips * conv frames."""
    # xt.unfold -> (N, H, W, Tc, C, kt): channel index c*kt + k matches weight.view(O, C*kt, kh, kw).
    u = xt[n0:n1].unfold(3, g.kt, 1)[:, :, :, t0 * g.pool : t1 * g.pool]
    b = (n1 - n0) * (t1 - t0) * g.pool
    h, w = u.shape[1], u.shape[2]
    win = torch.empty((b, h, w, g.c * g.kt), dtype=xt.dtype)
    win.view(n1 - n0, (t1 - t0) * g.pool, h, w, g.c, g.kt).copy_(u.permute(0, 3, 1, 2, 4, 5))
    return win.permute(0, 3, 1, 2)  # NCHW view of NHWC memory = channels-last


def _as_5d(y: torch.Tensor, clips: int) -> torch.Tensor:
    """Channels-last (B, O, H, W) conv output -> (clips, O, frames, H, W) channels_last_3d view."""
    b, o, h, w = y.shape
    return y.permute(0, 2, 3, 1).view(clips, b // clips, h, w, o).permute(0, 4, 1, 2, 3)


def _dtype(precision: str) -> torch.dtype:
    return torch.bfloat16 if precision == "bf16" else torch.float32


def _pool_max(y: torch.Tensor, clips: int, g: _Geometry, dst: torch.Tensor) -> None:
    """Max-pool a channels-last chunk ``y`` (B, H, W, O) into ``dst`` (clips, frames/p, H/p, W/p, O).

    Three passes of elementwise ``maximum`` over strided views (time, then rows, then columns): each
    pass reads contiguous runs and shrinks the data by ``p``, faster than ``max_pool3d`` on
    channels-last input. Values only (no argmax), so only the inference path uses it.
    """
    p = g.pool
    b, h, w, o = y.shape
    v = y.view(clips * (b // clips // p), p, h, w, o)
    m = torch.maximum(v[:, 0], v[:, 1]) if p > 1 else v[:, 0].clone()
    for i in range(2, p):
        torch.maximum(m, v[:, i], out=m)
    v = m.view(-1, h // p, p, w, o)
    m2 = torch.maximum(v[:, :, 0], v[:, :, 1]) if p > 1 else v[:, :, 0].clone()
    for i in range(2, p):
        torch.maximum(m2, v[:, :, i], out=m2)
    v = m2.view(-1, h // p, w // p, p, o)
    d = dst.view(-1, h // p, w // p, o)
    d.copy_(v[..., 0, :])
    for i in range(1, p):
        torch.maximum(d, v[..., i, :], out=d)


def _forward(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    pool: int,
    precision: str,
    chunk_bytes: int,
    keep_indices: bool,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    g = _geometry(x, weight, pool)
    dtype = _dtype(precision)
    with torch.no_grad():
        xt = _time_major(x.detach(), g, dtype)
        w2 = weight.detach().reshape(g.o, g.c * g.kt, g.kh, g.kw).to(dtype).contiguous(memory_format=torch.channels_last)
        if keep_indices:  # training: max_pool3d keeps the reference's argmax (first max in T, H, W order)
            # pooled values and indices time-major (N, T, H, W, O): the channels-last pool output of a
            # chunk is then one contiguous block (a strided (N, O, T, H, W) store is slower)
            outl = torch.empty((g.n, g.tp, g.hp, g.wp, g.o), dtype=torch.float32)
            idx = torch.empty(outl.shape, dtype=torch.int64)
            for n0, n1, t0, t1 in _chunks(g, chunk_bytes):
                y = _as_5d(F.conv2d(_windows(xt, g, n0, n1, t0, t1), w2), n1 - n0)
                pooled, where = F.max_pool3d(y, pool, return_indices=True)
                idx[n0:n1, t0:t1] = where.permute(0, 2, 3, 4, 1)
                outl[n0:n1, t0:t1] = pooled.permute(0, 2, 3, 4, 1)
            outl += bias.detach()
            return outl.relu_().permute(0, 4, 1, 2, 3).contiguous(), idx
        # inference: pooled values straight into a (N, T, H, W, O) buffer, one transposing copy at the end
        outl = torch.empty((g.n, g.tp, g.hp, g.wp, g.o), dtype=torch.float32)
        for n0, n1, t0, t1 in _chunks(g, chunk_bytes):
            y = F.conv2d(_windows(xt, g, n0, n1, t0, t1), w2).permute(0, 2, 3, 1)  # (B, H, W, O) contiguous
            _pool_max(y, n1 - n0, g, outl[n0:n1, t0:t1])
        outl += bias.detach()
        outl.relu_()
        return outl.permute(0, 4, 1, 2, 3).contiguous(), None


def _width_major(x: torch.Tensor, g: _Geometry, dtype: torch.dtype) -> torch.Tensor:
    """(N, C, T, H, W) -> (N, W', T, H, C*kw) contiguous: the ``kw`` columns of each output column
    unfolded into channels (channel ``c*kw + j`` is input column ``w + j``), cropped to what the pool keeps."""
    x = x[:, :, : g.tc + g.kt - 1, : g.hc + g.kh - 1, : g.wc + g.kw - 1]
    xw = x.permute(0, 4, 2, 3, 1).to(dtype).contiguous()  # (N, W, T, H, C)
    out = torch.empty((g.n, g.wc, *xw.shape[2:], g.kw), dtype=dtype)
    for j in range(g.kw):  # kw contiguous-source copies beat one strided unfold copy
        out[..., j] = xw[:, j : j + g.wc]
    return out.view(g.n, g.wc, xw.shape[2], xw.shape[3], g.c * g.kw)


def _backward(
    grad: torch.Tensor,
    out: torch.Tensor,
    idx: torch.Tensor,
    x: torch.Tensor,
    weight: torch.Tensor,
    pool: int,
    precision: str,
    chunk_bytes: int,
    need_input: bool,
    need_weight: bool,
) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor]:
    """Gradients through the width-unfolded conv, whose oneDNN weight gradient runs ~1.7x faster than
    the time-unfolded one: a 2D (kt, kh) conv over (T, H) with ``C*kw`` channels, batch = N*W'."""
    g = _geometry(x, weight, pool)
    dtype = _dtype(precision)
    p = g.pool
    grad = torch.where(out > 0, grad, 0.0)  # ReLU
    grad_bias = grad.sum(dim=(0, 2, 3, 4))
    grad = grad.permute(0, 2, 3, 4, 1).contiguous()  # time-major (N, T, H, W, O), as the indices
    if not (need_input or need_weight):
        return None, None, grad_bias
    xw = _width_major(x, g, dtype)  # (N, W', Tin, Hin, C*kw)
    # weight (O, C, kt, kh, kw) -> (O, C*kw, kt, kh): channel c*kw + j, as in xw
    w3 = weight.permute(0, 1, 4, 2, 3).reshape(g.o, g.c * g.kw, g.kt, g.kh).to(dtype)
    w3 = w3.contiguous(memory_format=torch.channels_last)
    grad_w3 = torch.zeros(w3.shape, dtype=torch.float32) if need_weight else None
    grad_xw = torch.zeros((g.n, g.wc + g.kw - 1, xw.shape[2], xw.shape[3], g.c), dtype=torch.float32) if need_input else None
    o_ids = torch.arange(g.o)
    tables: dict[int, torch.Tensor] = {}
    dy_buf: torch.Tensor | None = None  # dense conv-output gradient, one buffer for all chunks
    for n0, n1, t0, t1 in _chunks(g, chunk_bytes):
        clips, frames = n1 - n0, (t1 - t0) * p
        size = clips * g.wc * frames * g.hc * g.o
        if dy_buf is None or dy_buf.numel() < size:
            dy_buf = torch.empty(size, dtype=dtype)
        # Pool indices (flat t*hc*wc + h*wc + w within the chunk's conv frames, per clip and channel)
        # -> offsets in the width-major (clips, W', frames, H', O) conv output of this chunk.
        if frames not in tables:  # t*hc*wc + h*wc + w -> ((w*frames + t)*hc + h)*O, one lookup per index
            t_, h_, w_ = torch.meshgrid(torch.arange(frames), torch.arange(g.hc), torch.arange(g.wc), indexing="ij")
            tables[frames] = (((w_ * frames + t_) * g.hc + h_) * g.o).reshape(-1)
        clip = torch.arange(clips).view(-1, 1, 1, 1, 1) * (g.wc * frames * g.hc * g.o)
        pos = (tables[frames].take(idx[n0:n1, t0:t1]) + clip + o_ids).reshape(-1)
        dy_flat = dy_buf[:size].zero_()  # memset of the chunk: cheaper than resetting the scattered entries
        dy_flat.scatter_(0, pos, grad[n0:n1, t0:t1].reshape(-1).to(dtype))  # each gradient to its argmax
        dy = dy_flat.view(clips * g.wc, frames, g.hc, g.o).permute(0, 3, 1, 2)  # channels-last
        inp = xw[n0:n1, :, t0 * p : t0 * p + frames + g.kt - 1].reshape(clips * g.wc, -1, xw.shape[3], g.c * g.kw)
        d_in, d_w3, _ = torch.ops.aten.convolution_backward(
            dy, inp.permute(0, 3, 1, 2), w3, None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1, [need_input, need_weight, False]
        )
        if need_weight:
            grad_w3 += d_w3
        if need_input:
            # d_in (clips*W', C*kw, Tin, Hin) -> (clips, W', Tin, Hin, C, kw); tap j of column w is input column w+j.
            d_in = d_in.permute(0, 2, 3, 1).reshape(clips, g.wc, -1, xw.shape[3], g.c, g.kw)
            for j in range(g.kw):
                grad_xw[n0:n1, j : j + g.wc, t0 * p : t0 * p + frames + g.kt - 1] += d_in[..., j]
    grad_x = None
    if need_input:
        grad_x = torch.zeros(x.shape, dtype=x.dtype)
        tin, hin, win = grad_xw.shape[2], grad_xw.shape[3], grad_xw.shape[1]
        grad_x[:, :, :tin, :hin, :win] = grad_xw.permute(0, 4, 2, 3, 1)
    grad_w = None
    if need_weight:  # (O, C*kw, kt, kh) -> (O, C, kt, kh, kw)
        grad_w = grad_w3.view(g.o, g.c, g.kw, g.kt, g.kh).permute(0, 1, 3, 4, 2).contiguous().to(weight.dtype)
    return grad_x, grad_w, grad_bias


class _FusedBlock(torch.autograd.Function):
    """Autograd wrapper: forward keeps pool indices, backward is the sparse-aware conv gradient."""

    @staticmethod
    def forward(ctx, x, weight, bias, pool, precision, chunk_bytes):  # noqa: D102
        out, idx = _forward(x, weight, bias, pool, precision, chunk_bytes, keep_indices=True)
        ctx.save_for_backward(x, weight, out, idx)
        ctx.pool, ctx.precision, ctx.chunk_bytes = pool, precision, chunk_bytes
        return out

    @staticmethod
    def backward(ctx, grad):  # noqa: D102
        x, weight, out, idx = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        gx, gw, gb = _backward(
            grad.contiguous(), out, idx, x, weight, ctx.pool, ctx.precision, ctx.chunk_bytes, need_x, need_w
        )
        return gx, gw, (gb if need_b else None), None, None, None


# --- CPU features and reduced-precision inference ----------------------------------------------


@dataclass(frozen=True)
class CpuFeatures:
    """What the CPU offers for reduced precision (from ``/proc/cpuinfo`` flags; all False elsewhere).

    Attributes:
        model: the CPU's model name ("" when unknown).
        avx512_bf16: AVX512-BF16 dot products (Cooper Lake, Sapphire Rapids, AMD Zen 4+).
        amx_bf16: AMX tiles with bf16 (Sapphire Rapids and later).
        avx512_vnni: AVX512-VNNI int8 dot products.
        avx_vnni: AVX-VNNI (the 256-bit form).
        capability: the ATen kernel level torch dispatches to (``torch.backends.cpu.get_cpu_capability``).
    """

    model: str = ""
    avx512_bf16: bool = False
    amx_bf16: bool = False
    avx512_vnni: bool = False
    avx_vnni: bool = False
    capability: str = ""

    @property
    def native_bf16(self) -> bool:
        """Whether bf16 matmuls and convs run in hardware; elsewhere oneDNN emulates them, slower than fp32."""
        return self.avx512_bf16 or self.amx_bf16


def parse_cpuinfo(text: str, capability: str = "") -> CpuFeatures:
    """:class:`CpuFeatures` from the text of ``/proc/cpuinfo`` (first processor's model and flags)."""
    model, flags = model_and_flags(text)
    return CpuFeatures(
        model=model,
        avx512_bf16="avx512_bf16" in flags,
        amx_bf16="amx_bf16" in flags,
        avx512_vnni="avx512_vnni" in flags,
        avx_vnni="avx_vnni" in flags,
        capability=capability,
    )


def cpu_features() -> CpuFeatures:
    """This machine's :class:`CpuFeatures` (a VM reports what its hypervisor passes through)."""
    return parse_cpuinfo(read_cpuinfo(), torch.backends.cpu.get_cpu_capability())


def native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX); only then can ``bf16`` inference pay."""
    return cpu_features().native_bf16


BF16_NOT_NATIVE = (
    "--bf16 ignored: this CPU has neither AVX512-BF16 nor AMX, where bf16 runs emulated and slower than fp32 "
    "(bench/README.md, Models); running fp32"
)


def bf16_if_native(model: nn.Module, features: CpuFeatures | None = None) -> tuple[nn.Module, str | None]:
    """``(bf16_inference(model), None)`` on a CPU with native bf16, else ``(model, why not)``: the
    opt-in ``--bf16`` never makes a run slower without saying so."""
    features = features or cpu_features()
    if not features.native_bf16:
        return model, BF16_NOT_NATIVE
    return bf16_inference(model), None


def int8_inference(model: nn.Module) -> nn.Module:
    """An eval-mode copy of ``model`` whose dense layers are int8 (dynamic quantisation), for inference.

    The dense weights dominate the bytes read per clip (177 MB fp32 for STCNN-96), so batch-1 latency
    is memory-bound; int8 weights are a quarter of that, activations quantised per call. The
    convolution blocks are untouched (fast fp32 path). Logits move by a few percent of their largest
    magnitude (weights rounded to 8 bits per output channel, activations to 7 bits per call); a
    candidate measured by ``bench/models.py`` and ``bench/variants.py``, not a default.
    """
    import warnings

    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    with warnings.catch_warnings():  # torch marks eager quantisation deprecated in favour of torchao
        warnings.simplefilter("ignore")
        # per output channel weight scales: closer to fp32 than one scale per tensor, as fast
        dense = {nn.Linear: per_channel_dynamic_qconfig}
        return quantize_dynamic(copy.deepcopy(model).eval(), dense, dtype=torch.qint8)


def bf16_inference(model: nn.Module) -> nn.Module:
    """An eval-mode copy of ``model`` for bf16 inference (opt-in; the original keeps fp32 weights).

    Dense layers get bfloat16 weights (half the bytes to stream: batch-1 latency of the 177 MB
    STCNN-96 and 708 MB FuseNet-96 dense layers is memory-bound) with inputs cast to bf16 and outputs
    back to fp32; spatiotemporal blocks run their fast path in bf16. Logits move by about 1e-2 of
    their magnitude; do not train the copy.
    """
    fast_copy = copy.deepcopy(model).eval()
    for module in fast_copy.modules():
        if isinstance(module, nn.Linear):
            module.to(torch.bfloat16)
            module.register_forward_pre_hook(lambda _m, args: tuple(a.to(torch.bfloat16) for a in args))
            module.register_forward_hook(lambda _m, _args, out: out.float())
        elif hasattr(module, "precision") and hasattr(module, "reference_forward"):
            module.precision = "bf16"
    return fast_copy


# --- allocator ---------------------------------------------------------------------------------

_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4


def tune_malloc(keep_bytes: int = 1 << 30) -> bool:
    """Stop glibc from returning big buffers to the OS after every use (opt-in, process-wide).

    glibc serves every allocation above 32 MB (the largest mmap threshold it accepts) with a fresh
    ``mmap``, so each training step page-faults its activations and weight gradients anew. Turning
    mmap off (``M_MMAP_MAX=0``) and raising the trim threshold keeps freed memory for reuse. The same
    effect without code: ``MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=1073741824`` in the environment,
    or preloading tcmalloc/jemalloc. Returns ``False`` where glibc's ``mallopt`` is unavailable.
    """
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        return bool(libc.mallopt(_M_MMAP_MAX, 0)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, int(keep_bytes)))
    except (OSError, AttributeError):
        return False
