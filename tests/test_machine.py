"""The machine's kind and the device string that carries it into every run's provenance."""
import torch

from ffcnn_lib import machine
from ffcnn_lib.train import device_name


def test_the_kind_is_the_fastest_path_the_flags_allow():
    assert machine.kind_of({"avx2", "avx512_bf16", "amx_bf16"}) == "amx"
    assert machine.kind_of({"avx2", "avx512f", "avx512_bf16"}) == "avx512-bf16"
    assert machine.kind_of({"avx2", "avx512f"}) == "avx2"  # AVX-512 without bf16 emulates it: slow
    assert machine.kind_of({"sse2"}) == "other"


def test_a_cpu_device_string_is_written_in_one_form_and_read_back_in_every_recorded_one():
    assert machine.cpu_device("amx", 1) == "cpu (amx, 1 thread)"
    assert machine.cpu_device("avx2", 2) == "cpu (avx2, 2 threads)"
    assert machine.parse_cpu_device("cpu (avx512-bf16, 2 threads)") == ("avx512-bf16", 2)
    # before 2026-12-01: the architecture in the kind's place, and "1 threads"
    assert machine.parse_cpu_device("cpu (x86_64, 1 threads)") == (machine.UNRECORDED_KIND, 1)
    for other in ("NVIDIA H100 80GB HBM3", "cpu (2 threads)", "cpu (avx2, 1 thread) / NVIDIA H200", "cpu (test)"):
        assert machine.parse_cpu_device(other) is None
    assert machine.parse_cpu_device(device_name(torch.device("cpu"))) == (machine.kind(), torch.get_num_threads())


def test_a_device_is_shown_to_readers_in_the_current_form_the_old_one_without_a_kind():
    assert machine.device_words("cpu (x86_64, 2 threads)") == "cpu (kind not recorded, 2 threads)"
    assert machine.device_words("cpu (x86_64, 1 threads)") == "cpu (kind not recorded, 1 thread)"
    for same in ("cpu (avx2, 1 thread)", "NVIDIA H100 80GB HBM3", "machine A"):
        assert machine.device_words(same) == same


def test_a_stored_run_reads_its_device_from_its_segments_in_the_current_form():
    from ffcnn_lib.experiments import run_device
    old = {"device": "cpu (x86_64, 1 threads)"}
    assert run_device(old) == "cpu (kind not recorded, 1 thread)"
    resumed = {"device": "stored words", "segments": [
        {"epochs": [1, 140], "device": "cpu (x86_64, 1 threads)", "precision": None},
        {"epochs": [141, 200], "device": "cpu (avx512-bf16, 1 thread)", "precision": "bf16-autocast"}]}
    assert run_device(resumed) == ("cpu (kind not recorded, 1 thread), precision not recorded for epochs 1-140; "
                                   "cpu (avx512-bf16, 1 thread), bf16-autocast for epochs 141-200")
    assert run_device({}, "from the table") == "from the table"
