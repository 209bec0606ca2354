import json
import os
import struct

import pytest
import torch

from tuneloop_trainer import safetensors_io as st
from tuneloop_trainer.errors import TrainerError


def sample(dtype):
    g = torch.Generator().manual_seed(0)
    return {
        "a.weight": torch.randn(7, 5, generator=g).to(dtype),
        "b.bias": torch.randn(3, generator=g).to(dtype),
        "c.scalar": torch.tensor(1.5).to(dtype),
        "d.empty": torch.zeros(0, 4).to(dtype),
        "e.ids": torch.arange(6, dtype=torch.int64).view(2, 3),
    }


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_single_file_round_trip_is_bit_exact(tmp_path, dtype):
    tensors = sample(dtype)
    path = str(tmp_path / "x.safetensors")
    st.save_file(tensors, path, {"note": "hi"})
    meta, infos = st.read_header(path)
    assert meta == {"format": "pt", "note": "hi"}
    assert {i.name: i.dtype for i in infos}["a.weight"] == st.DTYPE_NAMES[dtype]
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
    assert n % 8 == 0, "tensor data must start 8-byte aligned"
    back = st.load_file(path)
    assert set(back) == set(tensors)
    for k, t in tensors.items():
        assert back[k].dtype == t.dtype and back[k].shape == t.shape
        assert torch.equal(back[k], t)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_sharded_folder_round_trip(tmp_path, dtype):
    g = torch.Generator().manual_seed(1)
    tensors = {f"layer.{i}.weight": torch.randn(16, 16, generator=g).to(dtype) for i in range(5)}
    files = st.save_folder(tensors, str(tmp_path), max_shard_bytes=16 * 16 * 4 * 2)
    assert st.INDEX_FILE in files and len(files) >= 3
    index = json.loads((tmp_path / st.INDEX_FILE).read_text())
    assert set(index["weight_map"]) == set(tensors)
    assert index["metadata"]["total_size"] == sum(t.numel() * t.element_size() for t in tensors.values())
    back = st.load_folder(str(tmp_path))
    for k, t in tensors.items():
        assert torch.equal(back[k].float(), t.float())
    # a single-file save into the same folder replaces the index
    assert st.save_folder(tensors, str(tmp_path)) == [st.SINGLE_FILE]
    assert not (tmp_path / st.INDEX_FILE).exists()


def test_reads_files_written_by_the_reference_layout(tmp_path):
    """Hand-built file, byte by byte as the spec describes, not by our writer."""
    data = struct.pack("<4f", 1, 2, 3, 4) + struct.pack("<2e", 0.5, -2)
    header = {
        "w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
        "h": {"dtype": "F16", "shape": [2], "data_offsets": [16, 20]},
    }
    raw = json.dumps(header).encode()
    path = tmp_path / "ref.safetensors"
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)
    back = st.load_file(str(path))
    assert back["w"].tolist() == [[1, 2], [3, 4]] and back["h"].tolist() == [0.5, -2]


def test_corrupt_files_are_rejected_with_the_path(tmp_path):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(struct.pack("<Q", 10**6) + b"{}")
    with pytest.raises(TrainerError, match="bad.safetensors"):
        st.load_file(str(path))
    raw = json.dumps({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 8]}}).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0" * 8)
    with pytest.raises(TrainerError, match="inconsistent"):
        st.load_file(str(path))


def test_index_pointing_to_a_missing_shard(tmp_path):
    st.save_folder({"a": torch.ones(4), "b": torch.ones(4)}, str(tmp_path), max_shard_bytes=16)
    os.remove(tmp_path / "model-00002-of-00002.safetensors")
    with pytest.raises(TrainerError) as e:
        st.folder_tensor_infos(str(tmp_path))
    assert e.value.code == "MISSING_WEIGHTS" and "model-00002-of-00002" in e.value.message
