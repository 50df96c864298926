"""The fast CPU block (microexp/models/fast.py) against the plain PyTorch reference.

Tolerances: fp32 results are compared relative to the largest reference magnitude of each tensor
(``|fast - ref| <= 1e-5 * max|ref|``): the fast path sums the same products in another order, so
differences are float rounding (measured <= 5e-6). With dyadic inputs and weights every product and
sum is exact in fp32, so outputs must then be bitwise equal (gradients still differ by the order
of fp32 reductions). bf16 (opt-in) rounds conv inputs and weights to 8 mantissa bits: outputs within
1e-2 of the largest magnitude (measured 3e-3); gradients are compared by relative L2 norm within
0.15 (measured 2e-3 to 8e-2), because rounding moves some max-pool argmaxes to a neighbour. In fp32 that can
happen too where two candidates of a pool window tie to within rounding; the whole-model test then redraws its
inputs, but only when such a near tie is there.
"""

from __future__ import annotations

import pytest
import torch

from microexp.models import build_model, default_spec, fast
from microexp.models.blocks import SpatioTemporalBlock
from microexp.spec import InputSpec
from tests.fixtures.toy import arch_fixture_params, use_arch

FP32_TOL = 1e-5

GEOMETRIES = [  # (batch, channels, frames, height, width, filters, kernel, pool)
    (1, 1, 96, 64, 64, 32, (15, 3, 3), 3),  # STCNN-96
    (3, 1, 18, 32, 33, 32, (15, 3, 3), 3),  # FuseNet-18 branch, odd width
    (2, 1, 17, 64, 64, 16, (9, 3, 3), 3),  # two-stream motion stream
    (2, 3, 20, 35, 31, 8, (5, 3, 2), 2),  # RGB, non-square kernel, pool 2
]


def _close(ref: torch.Tensor, got: torch.Tensor, tol: float = FP32_TOL) -> float:
    err = ((ref - got).abs().max() / ref.abs().max().clamp_min(1e-30)).item()
    assert err <= tol, f"relative error {err:.2e} > {tol:.0e}"
    return err


def _dyadic(shape: tuple[int, ...], scale: int) -> torch.Tensor:
    """Values k/scale with |k| <= 8: fp32 conv sums of these are exact."""
    return torch.randint(-8, 9, shape) / scale


def _block_grads(x, w, b, pool, fn, **kw):
    x, w, b = (t.detach().clone().requires_grad_() for t in (x, w, b))
    out = fn(x, w, b, pool, **kw)
    weights = torch.linspace(-1, 1, out.numel()).view(out.shape)
    return (out.detach(), *torch.autograd.grad((out * weights).sum(), (x, w, b)))


@pytest.mark.parametrize("geom", GEOMETRIES, ids=lambda g: "x".join(map(str, g[:5])))
def test_block_exact_on_dyadic_values(geom):
    n, c, t, h, w_, o, kernel, pool = geom
    torch.manual_seed(0)
    x, w, b = _dyadic((n, c, t, h, w_), 8), _dyadic((o, c, *kernel), 64), _dyadic((o,), 8)
    ref = _block_grads(x, w, b, pool, fast.reference_block)
    got = _block_grads(x, w, b, pool, fast.spatiotemporal_block, precision="fp32")
    assert got[0].shape == ref[0].shape and got[0].is_contiguous()
    assert torch.equal(got[0], ref[0])
    for r, g in zip(ref[1:], got[1:]):
        _close(r, g)


@pytest.mark.parametrize("geom", GEOMETRIES[:3], ids=lambda g: "x".join(map(str, g[:5])))
def test_block_random_values_fp32_and_bf16(geom):
    n, c, t, h, w_, o, kernel, pool = geom
    torch.manual_seed(1)
    x, w, b = torch.randn(n, c, t, h, w_), torch.randn(o, c, *kernel) * 0.1, torch.randn(o)
    ref = _block_grads(x, w, b, pool, fast.reference_block)
    got = _block_grads(x, w, b, pool, fast.spatiotemporal_block, precision="fp32")
    for r, g in zip(ref, got):
        _close(r, g)
    bf16 = _block_grads(x, w, b, pool, fast.spatiotemporal_block, precision="bf16")
    _close(ref[0], bf16[0], 1e-2)
    for r, g in zip(ref[1:], bf16[1:]):
        assert ((r - g).norm() / r.norm()).item() <= 0.15


def test_inference_path_matches_autograd_path():
    torch.manual_seed(2)
    x, w, b = torch.randn(2, 1, 30, 20, 20), torch.randn(4, 1, 15, 3, 3), torch.randn(4)
    with torch.no_grad():
        plain = fast.spatiotemporal_block(x, w, b, 3)
    assert torch.equal(plain, fast.spatiotemporal_block(x, w.requires_grad_(), b, 3))


def _spec(arch: str, frames: int) -> InputSpec:
    return default_spec(arch, frames=frames)


def _run(model, inputs, mode: str, train: bool, seed: int = 0):
    """Forward + backward under one implementation; returns (logits, param grads, input grads)."""
    model.zero_grad(set_to_none=True)
    xs = [x.detach().clone().requires_grad_() for x in inputs]
    model.train(train)
    torch.manual_seed(seed)  # same dropout masks in both runs: the fast block draws no random numbers
    with fast.fast_mode(mode):
        logits = model(*xs)
        (logits * torch.tensor([1.0, -2.0, 0.5])).sum().backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    model.zero_grad(set_to_none=True)
    return logits.detach(), grads, [x.grad for x in xs]


@pytest.fixture(params=arch_fixture_params())
def arch(request):
    """Every registered architecture and a toy one registered for the test."""
    with use_arch(request.param) as name:
        yield name


def _blocks(model) -> list[SpatioTemporalBlock]:
    return [m for m in model.modules() if isinstance(m, SpatioTemporalBlock)]


NEAR_TIE = 1e-5  # relative gap under which two implementations' rounding may pick another max-pool winner


def _near_tie(model, inputs: tuple[torch.Tensor, ...]) -> bool:
    """Whether some block's max-pool winner (in a window that passes the ReLU) leads its runner-up by at most
    :data:`NEAR_TIE` of the conv output's magnitude. There the fast and the reference conv, which round differently,
    may route the window's gradient to different positions: both are valid subgradients, but the conv's weight
    gradient then differs by a few percent (one input draw in 8 for the flow models)."""
    captured = []
    hooks = [b.register_forward_hook(lambda m, a, out: captured.append((m, a[0]))) for b in _blocks(model)]
    try:
        with torch.no_grad(), fast.fast_mode("reference"):
            model.eval()(*inputs)
    finally:
        for h in hooks:
            h.remove()
    return any(_min_pool_gap(b.conv(x), b.pool) <= NEAR_TIE for b, x in captured)


def _min_pool_gap(y: torch.Tensor, p: int) -> float:
    n, c, t, h, w = y.shape
    t, h, w = t // p, h // p, w // p
    windows = y[:, :, : t * p, : h * p, : w * p].reshape(n, c, t, p, h, p, w, p).permute(0, 1, 2, 4, 6, 3, 5, 7)
    top = windows.reshape(n, c, t, h, w, p**3).topk(2, dim=-1).values
    passing = top[..., 0] > 0
    gaps = (top[..., 0] - top[..., 1])[passing] / y.abs().max().clamp_min(1e-30)
    return gaps.min().item() if gaps.numel() else float("inf")


@pytest.mark.parametrize("train", [False, True], ids=["eval", "train"])
def test_models_t18_outputs_and_all_gradients(arch, train):
    """"fast" mode is forced, so every spatiotemporal block of the model must take the fast path (it
    raises otherwise, the toy's blocks included); other layers run their ordinary PyTorch code in both
    runs, so a model without such blocks must give the same numbers in both modes."""
    torch.manual_seed(0)
    model = build_model(arch, input_spec=_spec(arch, 18))
    for draw in range(4):  # a mismatch is forgiven only where the inputs hold a near tie (_near_tie), then redrawn
        inputs = model.example_inputs(3)
        ref = _run(model, inputs, "reference", train)
        got = _run(model, inputs, "fast", train)
        try:
            _close(ref[0], got[0])
            assert ref[1].keys() == got[1].keys()
            for name in ref[1]:
                _close(ref[1][name], got[1][name])
            for r, g in zip(ref[2], got[2]):
                _close(r, g)
            return
        except AssertionError:
            if draw == 3 or not _near_tie(model, inputs):
                raise


FULL_GRADIENTS_MAX_PARAMS = 50_000_000  # above this (the 177M-parameter FuseNets at T=96) compare the light gradients
LIGHT_TENSOR_MAX = 1_000_000  # light: every parameter tensor up to this size (convs, biases, classifiers)


def test_models_t96_outputs_and_gradients(arch):
    """The paper's CAS(ME)^2 length: logits, input gradients and parameter gradients (all of them, or for
    the largest models every tensor but the big dense weights, so two copies of them fit in memory)."""
    torch.manual_seed(0)
    model = build_model(arch, input_spec=_spec(arch, 96))  # same seed in both runs: same dropout masks
    inputs = model.example_inputs(1)
    full = sum(p.numel() for p in model.parameters()) <= FULL_GRADIENTS_MAX_PARAMS
    kept = [n for n, p in model.named_parameters() if full or p.numel() <= LIGHT_TENSOR_MAX]
    assert len(kept) >= sum(1 for m in _blocks(model) for _ in m.parameters())  # every block's conv compared
    results = []
    for mode in ("reference", "fast"):
        logits, grads, xgrads = _run(model, inputs, mode, train=True)
        results.append((logits, {n: grads[n] for n in kept}, xgrads))
        del grads
    (ref_logits, ref_grads, ref_x), (got_logits, got_grads, got_x) = results
    _close(ref_logits, got_logits)
    for name in kept:
        _close(ref_grads[name], got_grads[name])
    for r, g in zip(ref_x, got_x):
        _close(r, g)


def test_parameters_and_state_dict_unchanged():
    model = build_model("stcnn", input_spec=InputSpec(frames=18))
    assert sum(p.numel() for p in model.parameters()) == 1_643_267
    assert list(model.state_dict()) == [
        "block.conv.weight", "block.conv.bias", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"
    ]
    assert isinstance(model.block.conv, torch.nn.Conv3d)


def test_modes_and_fallbacks():
    block = SpatioTemporalBlock(1, 4, (5, 3, 3), 3)
    x = torch.randn(1, 1, 12, 16, 16)
    assert fast.get_config().mode == "auto" and fast.should_use(block.conv, block.pool, x)
    with fast.fast_mode("reference"):
        assert not fast.should_use(block.conv, block.pool, x)
        assert torch.equal(block(x), block.reference_forward(x))
    assert fast.get_config().mode == "auto"  # restored
    x64 = x.double()
    block64 = SpatioTemporalBlock(1, 4, (5, 3, 3), 3).double()
    assert fast.fits(block64.conv, 3, x64) is not None
    assert block64(x64).dtype == torch.float64  # auto falls back to the reference path
    with fast.fast_mode("fast"), pytest.raises(ValueError, match="fast path forced"):
        block64(x64)
    with pytest.raises(ValueError, match="mode must be"):
        fast.set_mode("turbo")
    with pytest.raises(ValueError, match="precision must be"):
        fast.fast_mode("fast", precision="fp8").__enter__()
    assert fast.get_config() == fast.FastConfig()


def test_bf16_opt_in_model_logits_close():
    torch.manual_seed(3)
    model = build_model("stcnn", input_spec=InputSpec(frames=18)).eval()
    (x,) = model.example_inputs(4)
    with torch.no_grad():
        ref = model.block.reference_forward(x)
        with fast.fast_mode("fast", precision="bf16"):
            got = model.block(x)
    _close(ref, got, 1e-2)


@pytest.mark.parametrize("chunk_bytes", [1, 40_000, 1 << 30], ids=["per-frame", "mid", "whole-batch"])
def test_chunking_does_not_change_results(chunk_bytes):
    torch.manual_seed(4)
    x, w, b = _dyadic((3, 1, 26, 17, 17), 8), _dyadic((5, 1, 7, 3, 3), 64), _dyadic((5,), 8)
    ref = _block_grads(x, w, b, 3, fast.reference_block)
    with fast.fast_mode("fast", chunk_bytes=chunk_bytes):
        got = _block_grads(x, w, b, 3, fast.spatiotemporal_block)
    assert torch.equal(got[0], ref[0])
    for r, g in zip(ref[1:], got[1:]):
        _close(r, g)


def test_bf16_inference_copy_keeps_original_fp32(arch):
    torch.manual_seed(5)
    model = build_model(arch, input_spec=_spec(arch, 18)).eval()
    inputs = model.example_inputs(2)
    fast_copy = fast.bf16_inference(model)
    linears = [(a, b) for a, b in zip(model.modules(), fast_copy.modules()) if isinstance(a, torch.nn.Linear)]
    assert all(a.weight.dtype == torch.float32 and b.weight.dtype == torch.bfloat16 for a, b in linears)
    assert all(b.precision == "bf16" for b in _blocks(fast_copy)) and all(b.precision is None for b in _blocks(model))
    with torch.no_grad():
        ref, got = model(*inputs), fast_copy(*inputs)
    assert got.dtype == torch.float32
    _close(ref, got, 3e-2)


def test_tune_malloc_in_a_subprocess():
    """Process-wide allocator setting: exercised in a child so the test process is unaffected."""
    import subprocess
    import sys

    code = (
        "import torch; from microexp.models import fast, build_model; from microexp.spec import InputSpec;"
        "assert fast.tune_malloc();"
        "m = build_model('stcnn', input_spec=InputSpec(frames=18)); (x,) = m.example_inputs(2);"
        "m(x).sum().backward(); print('ok')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_hooks_on_the_conv_still_fire():
    """Layer attributions hook ``block.conv``: auto mode must then run the reference path."""
    block = SpatioTemporalBlock(1, 4, (5, 3, 3), 3)
    seen = []
    handle = block.conv.register_forward_hook(lambda _m, _i, out: seen.append(out.shape))
    block(torch.randn(1, 1, 12, 16, 16))
    handle.remove()
    assert seen == [torch.Size([1, 4, 8, 14, 14])]


@pytest.mark.parametrize("geom", GEOMETRIES, ids=lambda g: "x".join(map(str, g[:5])))
def test_inference_path_exact_on_dyadic_values(geom):
    """No-grad calls take the values-only path (elementwise max passes instead of max_pool3d)."""
    n, c, t, h, w_, o, kernel, pool = geom
    torch.manual_seed(6)
    x, w, b = _dyadic((n, c, t, h, w_), 8), _dyadic((o, c, *kernel), 64), _dyadic((o,), 8)
    with torch.no_grad():
        ref = fast.reference_block(x, w, b, pool)
        for chunk_bytes in (1, None):
            with fast.fast_mode("fast", chunk_bytes=chunk_bytes):
                got = fast.spatiotemporal_block(x, w, b, pool)
            assert got.shape == ref.shape and got.is_contiguous()
            assert torch.equal(got, ref)
        _close(ref, fast.spatiotemporal_block(x, w, b, pool, precision="bf16"), 1e-2)


def test_gradients_with_flat_regions_follow_the_reference_argmax():
    """Constant image regions make max-pool ties everywhere: the backward must route each gradient
    to the first maximum in (T, H, W) order, as PyTorch's max_pool3d does."""
    torch.manual_seed(7)
    x = _dyadic((2, 1, 26, 20, 23), 8)
    x[:, :, :, :8] = 0.25  # flat band: every window there has 27 equal conv outputs
    x[0, :, 5:12] = 0.0
    w, b = _dyadic((6, 1, 7, 3, 3), 64), _dyadic((6,), 8)
    ref = _block_grads(x, w, b, 3, fast.reference_block)
    got = _block_grads(x, w, b, 3, fast.spatiotemporal_block, precision="fp32")
    assert torch.equal(got[0], ref[0])
    for r, g in zip(ref[1:], got[1:]):
        _close(r, g)


def test_training_chunks_default_to_three_inference_chunks_and_do_not_change_results():
    assert fast.FastConfig(chunk_bytes=100).training_chunk_bytes == 300
    assert fast.FastConfig(chunk_bytes=100, train_chunk_bytes=7).training_chunk_bytes == 7
    with pytest.raises(ValueError, match="train_chunk_bytes"):
        fast.FastConfig(train_chunk_bytes=0)
    torch.manual_seed(8)
    x, w, b = _dyadic((2, 1, 29, 14, 16), 8), _dyadic((4, 1, 5, 3, 3), 64), _dyadic((4,), 8)
    ref = _block_grads(x, w, b, 3, fast.reference_block)
    for train_chunk_bytes in (1, 4 * 4 * 12 * 12 * 3 * 2, 1 << 30):  # per pooled frame, two, whole batch
        with fast.fast_mode("fast", chunk_bytes=1 << 30, train_chunk_bytes=train_chunk_bytes):
            got = _block_grads(x, w, b, 3, fast.spatiotemporal_block)
        assert torch.equal(got[0], ref[0])
        for r, g in zip(ref[1:], got[1:]):
            _close(r, g)


# --- CPU features, bf16 only where native, int8 dense candidate --------------------------------

SAPPHIRE_RAPIDS = (
    "model name\t: Intel(R) Xeon(R) Platinum 8480+\nflags\t\t: fpu avx2 avx512f avx512_vnni avx512_bf16 amx_bf16 amx_tile\n"
)
ICE_LAKE = "model name\t: Intel(R) Xeon(R) Platinum 8375C\nflags\t\t: fpu avx2 avx512f avx512_vnni\n"
ZEN3 = "processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse avx avx2 fma\n\nprocessor\t: 1\nflags\t\t: fpu\n"


def test_cpuinfo_flags_decide_native_bf16():
    spr, icl, zen3 = (fast.parse_cpuinfo(t) for t in (SAPPHIRE_RAPIDS, ICE_LAKE, ZEN3))
    assert spr.native_bf16 and spr.amx_bf16 and spr.avx512_bf16 and spr.model.startswith("Intel(R) Xeon(R) Platinum")
    assert not icl.native_bf16 and icl.avx512_vnni  # VNNI int8, but bf16 would be emulated
    assert not zen3.native_bf16 and not zen3.avx512_vnni and zen3.model == "AMD EPYC"
    assert fast.parse_cpuinfo("") == fast.CpuFeatures()  # no /proc/cpuinfo (macOS, Windows): nothing claimed
    here = fast.cpu_features()
    assert here.capability == torch.backends.cpu.get_cpu_capability() and fast.native_bf16() == here.native_bf16


def test_bf16_opt_in_runs_fp32_with_a_reason_where_not_native():
    model = build_model("stcnn", input_spec=_spec("stcnn", 18)).eval()
    same, why = fast.bf16_if_native(model, fast.parse_cpuinfo(ICE_LAKE))
    assert same is model and "fp32" in why and "AVX512-BF16" in why
    copy, why = fast.bf16_if_native(model, fast.parse_cpuinfo(SAPPHIRE_RAPIDS))
    assert why is None and copy is not model
    assert {m.weight.dtype for m in copy.modules() if isinstance(m, torch.nn.Linear)} == {torch.bfloat16}


def test_int8_inference_copy_quantises_dense_layers_only(arch):
    torch.manual_seed(6)
    model = build_model(arch, input_spec=_spec(arch, 18)).eval()
    inputs = model.example_inputs(4)
    q = fast.int8_inference(model)
    dense = [m for m in q.modules() if isinstance(m, torch.ao.nn.quantized.dynamic.Linear)]
    assert dense and not any(type(m) is torch.nn.Linear for m in q.modules())
    assert {m.weight.dtype for m in model.modules() if isinstance(m, torch.nn.Linear)} == {torch.float32}
    assert [type(b) for b in _blocks(q)] == [type(b) for b in _blocks(model)]  # conv blocks untouched
    with torch.no_grad():
        ref, got = model(*inputs), q(*inputs)
    assert got.dtype == torch.float32
    _close(ref, got, 0.1)  # measured up to 6.1e-2 (FuseNet): activations are quantised to 7 bits per call
