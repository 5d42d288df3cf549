"""Weights from local folders and from a Hub served on 127.0.0.1, through the real huggingface_hub client.

Hub tests run the Lifter in a subprocess so that ``HF_ENDPOINT``, ``HF_HOME`` and ``HF_HUB_OFFLINE``
are read by huggingface_hub exactly as in a user's process.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from fake_hub import FakeHub, Repo

from mtf_pose import Lifter, WeightsError
from mtf_pose.model import ModelConfig, build_model
from mtf_pose.weights import CONFIG_NAME, WEIGHTS_NAME, WeightsConfig, save_weights

SMALL = ModelConfig(name="small", depth=1, channels=16, frames=9)

REPORT = """
import json, sys
from mtf_pose import Lifter, WeightsError
args = json.loads(sys.argv[1])
try:
    lifter = Lifter.from_pretrained(args["source"], revision=args.get("revision"),
                                    local_files_only=args.get("local_files_only", False))
except WeightsError as error:
    print(json.dumps({"error": str(error)}))
else:
    print(json.dumps({"checksum": float(sum(p.double().sum() for p in lifter.model.parameters())),
                      "name": lifter.config.model.name}))
"""


def _weights_files(seed: int, folder: Path) -> dict[str, bytes]:
    torch.manual_seed(seed)
    model = build_model(SMALL)
    save_weights(folder, model, WeightsConfig(model=SMALL))
    return {name: (folder / name).read_bytes() for name in (CONFIG_NAME, WEIGHTS_NAME)}


def _checksum(folder: Path) -> float:
    lifter = Lifter.from_pretrained(folder)
    return float(sum(p.double().sum() for p in lifter.model.parameters()))


def _lift_in_subprocess(hub_url: str, cache: Path, offline: bool = False, **args: object) -> dict:
    env = {**os.environ, "HF_ENDPOINT": hub_url, "HF_HOME": str(cache), "HF_HUB_DISABLE_TELEMETRY": "1",
           "HF_HUB_ETAG_TIMEOUT": "5", "HF_HUB_DOWNLOAD_TIMEOUT": "5"}
    env.pop("HF_HUB_OFFLINE", None)
    if offline:
        env["HF_HUB_OFFLINE"] = "1"
    result = subprocess.run([sys.executable, "-c", REPORT, json.dumps(args)], capture_output=True, text=True, env=env,
                            timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def versions(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("weights")
    v1, v2 = _weights_files(1, root / "v1"), _weights_files(2, root / "v2")
    return {"v1": v1, "v2": v2, "v1_sum": _checksum(root / "v1"), "v2_sum": _checksum(root / "v2")}


def test_download_pinning_and_offline_cache(versions: dict, tmp_path: Path) -> None:
    cache = tmp_path / "hf"
    with FakeHub() as hub:
        repo = hub.repos["lab/mdtf-small"] = Repo()
        first = repo.commit(versions["v1"], ref="v1")
        repo.commit(versions["v2"], ref="main", parent=first)
        latest = _lift_in_subprocess(hub.url, cache, source="lab/mdtf-small")
        assert latest["checksum"] == pytest.approx(versions["v2_sum"])
        by_tag = _lift_in_subprocess(hub.url, cache, source="lab/mdtf-small", revision="v1")
        by_commit = _lift_in_subprocess(hub.url, cache, source="lab/mdtf-small", revision=first)
        assert by_tag["checksum"] == by_commit["checksum"] == pytest.approx(versions["v1_sum"])
        assert any(request.startswith("GET /lab/mdtf-small/resolve/") for request in hub.requests)
    # The server is gone: the cache serves every revision fetched before, offline.
    offline = _lift_in_subprocess(hub.url, cache, offline=True, source="lab/mdtf-small")
    assert offline["checksum"] == pytest.approx(versions["v2_sum"])
    pinned = _lift_in_subprocess(hub.url, cache, source="lab/mdtf-small", revision="v1", local_files_only=True)
    assert pinned["checksum"] == pytest.approx(versions["v1_sum"])
    never = _lift_in_subprocess(hub.url, cache, offline=True, source="lab/never-downloaded")
    assert "not in the local cache" in never["error"]


def test_missing_corrupt_and_unknown_are_clear_errors(versions: dict, tmp_path: Path) -> None:
    cache = tmp_path / "hf"
    with FakeHub() as hub:
        hub.repos["lab/config-only"] = Repo()
        hub.repos["lab/config-only"].commit({CONFIG_NAME: versions["v1"][CONFIG_NAME]})
        hub.repos["lab/corrupt"] = Repo()
        hub.repos["lab/corrupt"].commit({CONFIG_NAME: versions["v1"][CONFIG_NAME],
                                         WEIGHTS_NAME: versions["v1"][WEIGHTS_NAME][:1000]})
        hub.repos["lab/bad-config"] = Repo()
        hub.repos["lab/bad-config"].commit({CONFIG_NAME: b"{not json", WEIGHTS_NAME: versions["v1"][WEIGHTS_NAME]})
        missing = _lift_in_subprocess(hub.url, cache, source="lab/config-only")
        corrupt = _lift_in_subprocess(hub.url, cache, source="lab/corrupt")
        bad_config = _lift_in_subprocess(hub.url, cache, source="lab/bad-config")
        unknown = _lift_in_subprocess(hub.url, cache, source="lab/nope")
        bad_revision = _lift_in_subprocess(hub.url, cache, source="lab/corrupt", revision="v9")
    assert "lacks config.json or model.safetensors" in missing["error"]
    assert "model.safetensors: not a readable safetensors file" in corrupt["error"]
    assert "config.json: not valid JSON" in bad_config["error"]
    assert "no such model repo" in unknown["error"]
    assert "has no revision 'v9'" in bad_revision["error"]


PUSH = """
import json, sys, torch
from mtf_pose import Lifter
from mtf_pose.model import ModelConfig, build_model
from mtf_pose.weights import WeightsConfig
config = ModelConfig(name="small", depth=1, channels=16, frames=9)
torch.manual_seed(3)
lifter = Lifter(build_model(config), WeightsConfig(model=config, training={"summary": "pushed by a test"}))
print(json.dumps({"url": lifter.push_to_hub("lab/pushed", token="test-token"),
                  "checksum": float(sum(p.double().sum() for p in lifter.model.parameters()))}))
"""


def test_push_to_hub_then_load(tmp_path: Path) -> None:
    with FakeHub() as hub:
        env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_DISABLE_TELEMETRY": "1"}
        env.pop("HF_HUB_OFFLINE", None)
        pushed = subprocess.run([sys.executable, "-c", PUSH], capture_output=True, text=True, env=env, timeout=300,
                                check=False)
        assert pushed.returncode == 0, pushed.stderr
        pushed_info = json.loads(pushed.stdout.strip().splitlines()[-1])
        files = hub.repos["lab/pushed"].commits[hub.repos["lab/pushed"].refs["main"]]
        assert set(files) == {CONFIG_NAME, WEIGHTS_NAME, "README.md"}
        card = files["README.md"].decode()
        assert card.startswith("---\n") and "library_name: mtf_pose" in card and "pushed by a test" in card
        loaded = _lift_in_subprocess(hub.url, tmp_path / "hf2", source="lab/pushed")
    assert loaded["checksum"] == pytest.approx(pushed_info["checksum"])
    assert pushed_info["url"].startswith(hub.url + "/lab/pushed/commit/")


def test_local_sources(tmp_path: Path) -> None:
    torch.manual_seed(4)
    save_weights(tmp_path / "w", build_model(SMALL), WeightsConfig(model=SMALL))
    expected = _checksum(tmp_path / "w")
    for source in (tmp_path / "w", tmp_path / "w" / WEIGHTS_NAME, str(tmp_path / "w" / CONFIG_NAME)):
        assert _checksum(source) == pytest.approx(expected)
    lone = tmp_path / "lone"
    lone.mkdir()
    (lone / "weights.safetensors").write_bytes((tmp_path / "w" / WEIGHTS_NAME).read_bytes())
    with pytest.raises(WeightsError, match="no config.json beside it"):
        Lifter.from_pretrained(lone / "weights.safetensors")
    with pytest.raises(WeightsError, match="no such file or folder, and not a Hugging Face Hub repo id"):
        Lifter.from_pretrained(tmp_path / "missing")
    with pytest.raises(WeightsError, match="pickle checkpoints are never loaded"):
        from mtf_pose.weights import read_state_dict

        read_state_dict(tmp_path / "model.pth")


def test_strict_loading_names_the_keys(tmp_path: Path) -> None:
    save_weights(tmp_path / "w", build_model(SMALL), WeightsConfig(model=SMALL))
    config = json.loads((tmp_path / "w" / CONFIG_NAME).read_text())
    config["model"]["channels"] = 32
    (tmp_path / "w" / CONFIG_NAME).write_text(json.dumps(config))
    with pytest.raises(WeightsError, match=r"mis-shaped keys: .*\(file \(16,"):
        Lifter.from_pretrained(tmp_path / "w")


NO_NETWORK = """
import socket
def refuse(*args, **kwargs):
    raise RuntimeError("network access attempted")
socket.socket.connect = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse
from mtf_pose import Lifter
lifter = Lifter.from_pretrained()
print(lifter)
"""


def test_embedded_default_makes_no_network_call() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    result = subprocess.run([sys.executable, "-c", NO_NETWORK], capture_output=True, text=True, env=env,
                            timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    assert "source='embedded default'" in result.stdout


def test_save_pretrained_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(5)
    lifter = Lifter(build_model(SMALL), WeightsConfig(model=SMALL, training={"summary": "unit test"}), device="cpu")
    lifter.save_pretrained(tmp_path / "saved")
    card = (tmp_path / "saved" / "README.md").read_text()
    assert card.startswith("---\n") and "unit test" in card
    again = Lifter.from_pretrained(tmp_path / "saved")
    for (name, a), (_, b) in zip(lifter.model.state_dict().items(), again.model.state_dict().items()):
        assert torch.equal(a, b), name
    assert io.StringIO(card).readline().strip() == "---"


def test_saved_files_get_the_umask_permissions_of_any_new_file(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    try:
        save_weights(tmp_path / "saved", build_model(SMALL), card="card")
    finally:
        os.umask(umask)
    for name in (WEIGHTS_NAME, CONFIG_NAME, "README.md"):
        assert (tmp_path / "saved" / name).stat().st_mode & 0o777 == 0o644, name
