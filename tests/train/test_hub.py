"""Publishing to and loading from the Hub, through the real huggingface_hub client and `hf` CLI.

The Hub is the local double of ``tests/hub_server.py`` (fixtures ``hub`` / ``hub_env``): uploads
go through preupload, the LFS batch API and the NDJSON commit endpoint; downloads through
``/resolve`` with the CDN redirect, exactly as against huggingface.co.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
import torch
from huggingface_hub import HfApi, hf_hub_download
from huggingface_hub.errors import RepositoryNotFoundError
from PIL import Image

from microexp.errors import ModelError
from microexp.models import MicroExpSTCNN, load_model
from microexp.spec import InputSpec
from train.card import render_card
from train.push import PushError, main as push_main, push_run

ROOT = Path(__file__).resolve().parents[2]
HF = ROOT / ".venv" / "bin" / "hf"
if not HF.exists():
    HF = Path(sys.executable).with_name("hf")

METRICS = {
    "labels": ["negative", "positive", "surprise"],
    "accuracy": 0.75,
    "uf1": 0.7333,
    "uar": 0.7222,
    "per_class": {
        "negative": {"precision": 0.8, "recall": 0.8, "f1": 0.8, "support": 10},
        "positive": {"precision": 0.6, "recall": 0.6667, "f1": 0.6316, "support": 3},
        "surprise": {"precision": 0.75, "recall": 0.7, "f1": 0.7241, "support": 7},
    },
    "confusion": [[8, 1, 1], [1, 2, 0], [1, 1, 5]],
    "n": 20,
    "protocol": "loso",
    "folds": 4,
}


def _repo(hub_env, prefix: str = "stcnn") -> str:
    return f"{hub_env.user}/{prefix}-{uuid.uuid4().hex[:8]}"


def make_run_dir(root: Path, seed: int = 0) -> tuple[Path, MicroExpSTCNN]:
    """A run directory as `python -m train fit` leaves it: release/, figures/, metrics.json, run.json."""
    torch.manual_seed(seed)
    model = MicroExpSTCNN(InputSpec(frames=18)).eval()
    run_dir = root / f"run-{seed}"
    release = run_dir / "release"
    model.save_pretrained(release)
    config = json.loads((release / "config.json").read_text())
    run = {
        "data": "synthetic=/data/synth", "dataset_name": "MicroExp synthetic", "synthetic": True,
        "protocol": "loso", "preset": "default", "hyperparameters": {"lr": 0.001, "epochs": 25},
        "num_parameters": sum(p.numel() for p in model.parameters()), "model_name": "microexp-stcnn-test",
        "created": "2025-01-01", "microexp_version": "0.1.0",
    }
    (release / "README.md").write_text(render_card(config, METRICS, run), encoding="utf-8")
    (run_dir / "metrics.json").write_text(json.dumps(METRICS))
    (run_dir / "run.json").write_text(json.dumps(run))
    (run_dir / "figures").mkdir()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(run_dir / "figures" / "curves.png")
    return run_dir, model


@pytest.fixture
def run_and_model(tmp_path):
    return make_run_dir(tmp_path)


def _logits(model: torch.nn.Module) -> torch.Tensor:
    torch.manual_seed(123)
    x = torch.randn(2, 1, 18, 64, 64)
    with torch.no_grad():
        return model.eval()(x)


def _hf(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([str(HF), *args], env=env, capture_output=True, text=True, timeout=120)


def test_push_then_hf_download_and_load_through_the_hub(hub_env, run_and_model, tmp_path):
    run_dir, model = run_and_model
    repo_id = _repo(hub_env)

    url = push_run(run_dir, repo_id, commit_message="first release")

    history = hub_env.server.history(repo_id)
    assert [c.title for c in history] == ["first release", "initial commit"]  # one commit for everything
    assert url == f"{hub_env.endpoint}/{repo_id}/commit/{history[0].oid}"
    files = hub_env.server.files(repo_id)
    assert set(files) == {".gitattributes", "model.safetensors", "config.json", "README.md", "metrics.json",
                          "figures/curves.png"}
    assert hub_env.server.repo(repo_id).commits[history[0].oid].files["model.safetensors"].is_lfs

    local = tmp_path / "downloaded"
    done = _hf(["download", repo_id, "--local-dir", str(local)], hub_env.env)
    assert done.returncode == 0, done.stderr
    sources = {"model.safetensors": "release/model.safetensors", "config.json": "release/config.json",
               "metrics.json": "metrics.json",
               "figures/curves.png": "figures/curves.png"}
    for name, source in sources.items():
        assert (local / name).read_bytes() == (run_dir / source).read_bytes()
    assert json.loads((local / "metrics.json").read_text()) == METRICS
    card = (local / "README.md").read_text()  # the usage examples now name the real repo
    assert card == (run_dir / "release/README.md").read_text().replace("NAMESPACE/MODEL", repo_id)
    assert f'load_model("{repo_id}")' in card and "NAMESPACE/MODEL" not in card

    expected = _logits(model)
    assert torch.equal(_logits(load_model(str(local))), expected)
    assert torch.equal(_logits(load_model(repo_id)), expected)  # over HTTP via /resolve + CDN redirect
    assert torch.equal(_logits(MicroExpSTCNN.from_pretrained(repo_id)), expected)

    info = HfApi().model_info(repo_id)
    assert info.sha == history[0].oid
    assert info.card_data["library_name"] == "microexp"
    assert "synthetic-data" in info.tags


def test_each_push_is_exactly_one_new_commit(hub_env, tmp_path):
    repo_id = _repo(hub_env)
    run_a, _ = make_run_dir(tmp_path, seed=1)
    run_b, model_b = make_run_dir(tmp_path, seed=2)
    api = HfApi()

    push_run(run_a, repo_id)
    first = api.list_repo_commits(repo_id)
    push_run(run_b, repo_id)
    second = api.list_repo_commits(repo_id)

    assert len(first) == 2 and len(second) == 3
    assert second[1].commit_id == first[0].commit_id  # new commit on top of the previous head
    assert api.model_info(repo_id).sha == second[0].commit_id != first[0].commit_id
    assert torch.equal(_logits(load_model(repo_id)), _logits(model_b))
    # An old revision stays loadable by sha.
    old = load_model(repo_id, revision=first[0].commit_id)
    assert not torch.equal(_logits(old), _logits(model_b))


def test_cli_push_to_a_branch_leaves_main_alone(hub_env, run_and_model):
    run_dir, model = run_and_model
    repo_id = _repo(hub_env)
    env = {**hub_env.env, "PYTHONPATH": str(ROOT)}

    done = subprocess.run([sys.executable, "-m", "train.push", str(run_dir), "--repo-id", repo_id,
                           "--revision", "candidate"], env=env, capture_output=True, text=True, timeout=120, cwd=ROOT)

    assert done.returncode == 0, done.stderr
    branch_head = hub_env.server.history(repo_id, "candidate")[0]
    assert done.stdout.strip() == f"{hub_env.endpoint}/{repo_id}/commit/{branch_head.oid}"
    assert hub_env.token not in done.stdout + done.stderr
    assert "model.safetensors" not in hub_env.server.files(repo_id, "main")
    assert "model.safetensors" in hub_env.server.files(repo_id, "candidate")
    assert torch.equal(_logits(load_model(repo_id, revision="candidate")), _logits(model))
    with pytest.raises(ModelError):
        load_model(repo_id)  # main has no config.json


def test_private_repo_needs_the_owners_token(hub_env, run_and_model, tmp_path):
    run_dir, model = run_and_model
    repo_id = _repo(hub_env, "private")
    assert push_main([str(run_dir), "--repo-id", repo_id, "--private"]) == 0

    assert HfApi().model_info(repo_id).private is True
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download(repo_id, "config.json", token=False, cache_dir=tmp_path / "anon")
    stranger = hub_env.server.add_user("stranger")
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download(repo_id, "config.json", token=stranger, cache_dir=tmp_path / "stranger")

    anonymous = {k: v for k, v in hub_env.env.items() if k != "HF_TOKEN"}
    denied = _hf(["download", repo_id, "--local-dir", str(tmp_path / "denied")], anonymous)
    assert denied.returncode != 0
    assert not (tmp_path / "denied" / "model.safetensors").exists()
    allowed = _hf(["download", repo_id, "--local-dir", str(tmp_path / "allowed")], hub_env.env)
    assert allowed.returncode == 0, allowed.stderr
    assert torch.equal(_logits(load_model(str(tmp_path / "allowed"))), _logits(model))


@pytest.mark.parametrize("where", ["release/pytorch_model.bin", "release/extra/weights.pt", "release/state.pkl"])
def test_pickle_files_are_refused_before_anything_is_created(hub_env, run_and_model, where):
    run_dir, _ = run_and_model
    (run_dir / where).parent.mkdir(parents=True, exist_ok=True)
    (run_dir / where).write_bytes(b"\x80\x04not really a pickle")
    repo_id = _repo(hub_env)
    with pytest.raises(PushError, match="pickle"):
        push_run(run_dir, repo_id)
    assert ("model", repo_id) not in hub_env.server.state.repos


def test_incomplete_release_and_missing_token_are_clear_errors(hub_env, run_and_model, monkeypatch, capsys):
    run_dir, _ = run_and_model
    (run_dir / "release" / "README.md").unlink()
    with pytest.raises(PushError, match="README.md"):
        push_run(run_dir, _repo(hub_env))

    run_dir2, _ = make_run_dir(run_dir.parent, seed=5)
    monkeypatch.delenv("HF_TOKEN")
    assert push_main([str(run_dir2), "--repo-id", _repo(hub_env)]) == 1
    err = capsys.readouterr().err
    assert "hf auth login" in err and "HF_TOKEN" in err


def test_mixin_push_to_hub_round_trip(hub_env):
    torch.manual_seed(7)
    model = MicroExpSTCNN(InputSpec(frames=18)).eval()
    repo_id = _repo(hub_env, "mixin")
    model.push_to_hub(repo_id)
    assert torch.equal(_logits(MicroExpSTCNN.from_pretrained(repo_id)), _logits(model))


def test_hub_double_commits_are_atomic(hub, hub_env):
    """A commit naming an LFS object that was never uploaded fails whole: no file of it lands."""
    repo_id = _repo(hub_env, "atomic")
    HfApi().create_repo(repo_id)
    head = hub.history(repo_id)[0].oid
    lines = [
        {"key": "header", "value": {"summary": "half a commit", "description": ""}},
        {"key": "file", "value": {"path": "ok.txt", "content": base64.b64encode(b"ok").decode(), "encoding": "base64"}},
        {"key": "lfsFile", "value": {"path": "w.safetensors", "algo": "sha256", "oid": "0" * 64, "size": 3}},
    ]
    body = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
    request = urllib.request.Request(
        f"{hub.endpoint}/api/models/{repo_id}/commit/main", data=body, method="POST",
        headers={"Authorization": f"Bearer {hub.token}", "Content-Type": "application/x-ndjson"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 422
    assert hub.history(repo_id)[0].oid == head
    assert "ok.txt" not in hub.files(repo_id)


# ----------------------------------------------------------------------------- hardening (issue 10)


@pytest.mark.parametrize(
    ("where", "content"),
    [
        ("release/arrays.npy", b"\x93NUMPY\x01\x00"),
        ("release/arrays.npz", b"PK\x03\x04"),
        ("release/model.joblib", b"\x80\x04"),
        ("release/notes.txt", b"\x80\x05\x95pickled"),  # pickle bytes under an innocent name
        ("release/extra.safetensors", b"PK\x03\x04torch.save zip"),  # a zip renamed to look safe
    ],
)
def test_pickle_capable_files_are_refused_by_extension_and_content(hub_env, run_and_model, where, content):
    run_dir, _ = run_and_model
    (run_dir / where).write_bytes(content + b"\x00" * 32)
    repo_id = _repo(hub_env)
    with pytest.raises(PushError, match="pickle"):
        push_run(run_dir, repo_id)
    assert ("model", repo_id) not in hub_env.server.state.repos


def test_temporaries_are_never_uploaded_and_the_card_has_no_local_path(hub_env, run_and_model, tmp_path):
    run_dir, _ = run_and_model
    (run_dir / "figures" / ".tmp-curves.png.x1y2.png").write_bytes(b"\x89PNG half written")
    (run_dir / "release" / ".tmp-config.json.abc").write_bytes(b"{")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    (run_dir / "metrics.json").write_text(json.dumps({**metrics, "test_data": "synthetic=/home/me/secret/probe"}))
    repo_id = _repo(hub_env)
    push_run(run_dir, repo_id)
    names = {e.rfilename for e in HfApi().model_info(repo_id, files_metadata=False).siblings}
    assert names - {".gitattributes"} == {"config.json", "model.safetensors", "README.md", "figures/curves.png", "metrics.json"}
    card = Path(hf_hub_download(repo_id, "README.md", cache_dir=tmp_path / "c")).read_text()
    pushed = Path(hf_hub_download(repo_id, "metrics.json", cache_dir=tmp_path / "c")).read_text()
    assert "/data/synth" not in card and "`synthetic`" in card  # make_run_dir's --data is synthetic=/data/synth
    assert "/home/me" not in pushed and json.loads(pushed)["test_data"] == "synthetic"


def test_private_push_to_an_existing_public_repo_is_refused(hub_env, run_and_model, capsys):
    run_dir, _ = run_and_model
    repo_id = _repo(hub_env, "public")
    assert push_main([str(run_dir), "--repo-id", repo_id]) == 0
    head = hub_env.server.history(repo_id)[0].oid
    capsys.readouterr()  # the first push's upload progress
    assert push_main([str(run_dir), "--repo-id", repo_id, "--private"]) == 1
    err = capsys.readouterr().err
    assert "public" in err and "--private" in err and len(err.strip().splitlines()) == 1
    assert HfApi().model_info(repo_id).private is False and hub_env.server.history(repo_id)[0].oid == head


def test_network_failure_is_one_clear_line(hub_env, run_and_model, monkeypatch, capsys):
    """The Hub's port is closed: a real connection refused, reported in one line, no traceback."""
    import socket

    from huggingface_hub import constants

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{port}")
    run_dir, _ = run_and_model
    assert push_main([str(run_dir), "--repo-id", _repo(hub_env)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: could not reach the Hub") and "network" in err and len(err.splitlines()) == 1
    assert "Traceback" not in err
