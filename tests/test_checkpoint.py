import os

import pytest
import torch

import workbench as wb
from workbench import checkpoint


def test_round_trip_rebuilds_architecture_and_weights(tmp_path):
    model = wb.build("resnet", width=0.5, seed=1)
    path = checkpoint.save_model(model, tmp_path / "r.safetensors", metadata={"accuracy": 0.5})
    loaded = checkpoint.load_model(path)
    assert loaded.config == model.config and not loaded.training
    for (k, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), k
    assert checkpoint.read_metadata(path)["accuracy"] == 0.5


def test_checkpoint_is_plain_safetensors_without_pickle(tmp_path):
    from safetensors.torch import load_file

    path = checkpoint.save_model(wb.build("lenet5"), tmp_path / "l.safetensors")
    assert "features.0.weight" in load_file(path)
    assert b"\x80" not in path.read_bytes()[:2]             # not a pickle stream


def test_corruption_is_detected(tmp_path):
    path = checkpoint.save_model(wb.build("lenet5"), tmp_path / "l.safetensors")
    blob = bytearray(path.read_bytes())
    blob[-100] ^= 0xFF                                        # flip bits in the last tensor's data
    path.write_bytes(bytes(blob))
    with pytest.raises(checkpoint.ChecksumError, match="is corrupt"):
        checkpoint.load_model(path)


def test_never_overwrites_without_permission(tmp_path):
    path = tmp_path / "m.safetensors"
    checkpoint.save_model(wb.build("lenet5", seed=0), path)
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="pass overwrite=True"):
        checkpoint.save_model(wb.build("lenet5", seed=1), path)
    assert path.read_bytes() == before
    checkpoint.save_model(wb.build("lenet5", seed=1), path, overwrite=True)
    assert path.read_bytes() != before


def test_atomic_write_leaves_no_temporary_files(tmp_path):
    checkpoint.atomic_write(tmp_path / "a.bin", b"abc")
    assert sorted(os.listdir(tmp_path)) == ["a.bin"]
    mode = (tmp_path / "a.bin").stat().st_mode & 0o777
    assert mode & 0o044 == 0o044 or os.umask(0o022) != 0o022   # readable like any other file


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "a.bin"
    path.write_bytes(b"old")

    def boom(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        checkpoint.atomic_write(path, b"new", overwrite=True)
    assert path.read_bytes() == b"old" and sorted(os.listdir(tmp_path)) == ["a.bin"]


def test_model_without_config_is_refused(tmp_path):
    with pytest.raises(ValueError, match="model must carry a config dict"):
        checkpoint.save_model(torch.nn.Linear(2, 2), tmp_path / "x.safetensors")
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        checkpoint.load_model(tmp_path / "missing.safetensors")


@pytest.mark.parametrize("damage", ["truncated", "garbage", "header not json", "empty", "huge length"])
def test_corrupt_files_get_an_error_naming_the_file(tmp_path, damage):
    from workbench import checkpoint, models

    path = checkpoint.save_model(models.build("lenet5"), tmp_path / "m.safetensors")
    blob = path.read_bytes()
    bad = {"truncated": blob[: len(blob) // 2], "garbage": b"\x00\x01not a checkpoint" * 50,
           "header not json": blob[:8] + b"#" + blob[9:], "empty": b"",
           "huge length": (2**62).to_bytes(8, "little") + blob[8:]}[damage]
    path.write_bytes(bad)
    for fn in (checkpoint.read_metadata, checkpoint.load_model, checkpoint.load_state):
        if damage == "truncated" and fn is checkpoint.read_metadata:
            continue                                       # the header is intact: metadata still reads
        with pytest.raises(checkpoint.CorruptCheckpointError, match="m.safetensors"):
            fn(path)


def test_wrong_path_types_are_refused():
    from workbench import checkpoint

    with pytest.raises(TypeError, match="path must be a file path"):
        checkpoint.read_metadata(None)
