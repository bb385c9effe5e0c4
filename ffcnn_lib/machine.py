"""Which machine this is: the CPU's capabilities and the *kind* they make it (issue #17).

Every campaign machine has two cores, but the processor varies, and with it the speed of training
by a factor of up to 15: a CPU with AMX or AVX-512 BF16 runs the fast path in bf16, one with AVX2
only stays in fp32 (oneDNN would emulate bf16 many times slower). Runs, benchmark records and the
campaign's cost estimates are labelled with the kind, so that figures measured on one kind are
never read as those of another.
"""
from __future__ import annotations

import functools
import os
import platform
import re
from pathlib import Path

# Fastest first: the first kind whose flag the CPU has is its kind.
KINDS: dict[str, tuple[str, str]] = {
    "amx": ("amx_bf16", "AMX-BF16 (and AVX-512 BF16)"),
    "avx512-bf16": ("avx512_bf16", "AVX-512 BF16, no AMX"),
    "avx2": ("avx2", "AVX2 only, no native bf16"),
}
NATIVE_BF16 = ("amx", "avx512-bf16")


def _cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def _field(info: str, name: str) -> str:
    for line in info.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == name:
            return value.strip()
    return ""


def kind_of(flags: set[str]) -> str:
    """The kind of a CPU with these ``/proc/cpuinfo`` flags (``"other"`` if none of :data:`KINDS`)."""
    return next((k for k, (flag, _) in KINDS.items() if flag in flags), "other")


@functools.lru_cache(maxsize=1)
def capabilities() -> dict:
    """What this CPU can do for training: model name, cores, the flags that decide the kind, the kind."""
    info = _cpuinfo()
    flags = set(_field(info, "flags").split())
    wanted = ("amx_bf16", "amx_tile", "avx512_bf16", "avx512f", "avx2")
    return {"model": _field(info, "model name") or platform.processor() or platform.machine(),
            "cores": os.cpu_count() or 1, "flags": [f for f in wanted if f in flags], "kind": kind_of(flags)}


def kind() -> str:
    """This machine's kind: ``amx``, ``avx512-bf16``, ``avx2`` or ``other``."""
    return capabilities()["kind"]


def describe(kind_name: str) -> str:
    """``"avx512-bf16"`` -> ``"AVX-512 BF16, no AMX"``."""
    return KINDS.get(kind_name, ("", "an unclassified CPU"))[1]


# Runs before 2026-12-01 recorded the architecture in the kind's place: "cpu (x86_64, 1 threads)".
UNRECORDED_KIND = "x86_64"
# How tables and prose name that kind: the architecture, shared by every campaign machine, is not it.
UNRECORDED_KIND_WORDS = "kind not recorded"


def threads_words(threads: int) -> str:
    """``1`` -> ``"1 thread"``, ``2`` -> ``"2 threads"``."""
    return f"{threads} thread{'' if threads == 1 else 's'}"


def cpu_device(kind_name: str, threads: int) -> str:
    """A CPU computation's device in its provenance: the kind, not the architecture, since the kind
    decides the speed (issue #17). ``cpu_device("amx", 1)`` -> ``"cpu (amx, 1 thread)"``."""
    return f"cpu ({kind_name}, {threads_words(threads)})"


def parse_cpu_device(device: str) -> tuple[str, int] | None:
    """``(kind, threads)`` of a :func:`cpu_device` string, of the older ``"cpu (x86_64, 1 threads)"``
    too (kind :data:`UNRECORDED_KIND`); None for a GPU's name or anything else."""
    m = re.fullmatch(r"cpu \(([^,()]+), (\d+) threads?\)", device)
    return (m[1], int(m[2])) if m else None


def device_words(device: str) -> str:
    """A provenance device as a reader reads it: :func:`cpu_device`'s form throughout, the older
    ``"cpu (x86_64, 2 threads)"`` as ``"cpu (kind not recorded, 2 threads)"`` (it names the
    architecture, which every campaign machine shares, not the kind, which sets the speed); a GPU's
    name or anything else unchanged."""
    parsed = parse_cpu_device(device)
    if parsed is None:
        return device
    kind_name, threads = parsed
    return cpu_device(UNRECORDED_KIND_WORDS if kind_name == UNRECORDED_KIND else kind_name, threads)
