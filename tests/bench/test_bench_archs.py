"""The benchmarks take their architectures from the registry: a toy one registered here is offered,
chosen by default and measured, and is gone again once unregistered."""

from __future__ import annotations

import pytest

from bench import models as bench_models
from bench import seeds as bench_seeds
from bench import train as bench_train
from bench import variants as bench_variants
from microexp.models import ARCHITECTURES
from tests.fixtures.toy import TOY, registered_toy

BENCHES = {  # module -> the arguments its CLI requires
    "seeds": (bench_seeds, ["--data", "synthetic=unused"]),
    "variants": (bench_variants, ["--data", "synthetic=unused"]),
    "train": (bench_train, []),
    "models": (bench_models, []),
}


@pytest.mark.parametrize("bench", list(BENCHES))
def test_bench_architectures_come_from_the_registry(bench):
    module, required = BENCHES[bench]
    with registered_toy():
        args = module.build_parser().parse_args(required)
        assert args.archs == list(ARCHITECTURES) and args.archs[-1] == TOY
        assert module.build_parser().parse_args([*required, "--archs", TOY]).archs == [TOY]
    with pytest.raises(SystemExit):  # unregistered: no longer a valid choice
        module.build_parser().parse_args([*required, "--archs", TOY])
    assert TOY not in module.build_parser().parse_args(required).archs


def test_workload_lists_cover_every_chosen_architecture():
    archs = list(ARCHITECTURES)
    assert bench_train.workloads(archs, quick=True) == [(a, 18, bench_train.CLIPS[18]) for a in archs]
    full = bench_train.workloads(archs, quick=False)
    assert {(a, t) for a, t, _ in full} == {(a, t) for a in archs for t in (18, 96)}
    assert bench_models.workloads(archs, [18, 96]) == {
        **{f"{a}-96": (a, 96) for a in archs},
        **{f"{a}-18": (a, 18) for a in archs},
    }


def test_benches_measure_a_registered_toy_architecture(tmp_path):
    """The measuring code has no per-architecture branch: the toy runs through both benches."""
    with registered_toy():
        speed = bench_models.measure(TOY, 18, repeats=1, min_seconds=0.0)
        assert set(speed) == {"reference", "fast", "fast-int8", "fast-bf16"}  # no Keras server given
        assert all(v > 0 for row in speed.values() for v in row.values())
        assert set(speed["fast"]) == {"infer_b1_ms", "infer_b16_ms", "train_clips_s"}
        loop = bench_train.measure(TOY, 18, clips=8, preset_name="default", epochs=1)
        assert loop["clips"] == 8 and loop["clips_per_s"] > 0
