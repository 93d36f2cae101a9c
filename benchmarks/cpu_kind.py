"""Run a command as if on an older CPU kind: the CPU features it lacks are hidden.

    python benchmarks/cpu_kind.py avx2 -- python benchmarks/embed_precision.py ...
    python benchmarks/cpu_kind.py --show avx2

Kinds: avx2 (AVX2 and FMA only, as on AMD EPYC up to Zen 3 and Intel before Skylake-SP),
avx512-vnni (AVX-512 with VNNI, no bfloat16, no AMX: Cascade Lake, Ice Lake), zen4
(AVX-512 with VNNI and BF16, no AMX). The command runs with cpu_kinds/cpuid_mask.c
preloaded (compiled here with gcc on first use): CPUID answers without the hidden
features and /proc/cpuinfo reads without their flags, so the libraries that choose their
kernels at run time (XNNPACK in LiteRT, oneDNN in TensorFlow, numpy) run the older
kind's kernels. The clock, caches and memory are still this machine's: these numbers are
the older kind's instruction paths on this CPU, not a measurement of that CPU. Needs
Linux on a CPU (or hypervisor) that offers CPUID faulting ("cpuid_fault" in
/proc/cpuinfo)."""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: CPUID leaf 7 bits per feature: (register, bit, /proc/cpuinfo flag).
FEATURES = {
    "avx512f": ("ebx7", 16), "avx512dq": ("ebx7", 17), "avx512ifma": ("ebx7", 21),
    "avx512pf": ("ebx7", 26), "avx512er": ("ebx7", 27), "avx512cd": ("ebx7", 28),
    "avx512bw": ("ebx7", 30), "avx512vl": ("ebx7", 31),
    "avx512vbmi": ("ecx7", 1), "avx512_vbmi2": ("ecx7", 6), "avx512_vnni": ("ecx7", 11),
    "avx512_bitalg": ("ecx7", 12), "avx512_vpopcntdq": ("ecx7", 14),
    "avx512_4vnniw": ("edx7", 2), "avx512_4fmaps": ("edx7", 3),
    "avx512_vp2intersect": ("edx7", 8), "amx_bf16": ("edx7", 22), "avx512_fp16": ("edx7", 23),
    "amx_tile": ("edx7", 24), "amx_int8": ("edx7", 25),
    "avx_vnni": ("eax71", 4), "avx512_bf16": ("eax71", 5), "amx_fp16": ("eax71", 21),
    "avx_ifma": ("eax71", 23),
}
_AMX = {"amx_bf16", "amx_tile", "amx_int8", "amx_fp16", "avx512_fp16"}
KINDS = {
    "avx2": set(FEATURES),
    "avx512-vnni": _AMX | {"avx512_bf16", "avx_vnni", "avx_ifma"},
    "zen4": _AMX | {"avx_vnni", "avx_ifma"},
}
ENV = {"ebx7": "CPUID_MASK_LEAF7_EBX", "ecx7": "CPUID_MASK_LEAF7_ECX",
       "edx7": "CPUID_MASK_LEAF7_EDX", "eax71": "CPUID_MASK_LEAF7_1_EAX"}


def build_library(workdir: Path) -> Path:
    """cpuid_mask.so, compiled into ``workdir``."""
    out = workdir / "cpuid_mask.so"
    subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-o", str(out),
                    str(HERE / "cpu_kinds" / "cpuid_mask.c"), "-ldl"], check=True)
    return out


def masked_cpuinfo(hidden: set[str], workdir: Path) -> Path:
    """A copy of /proc/cpuinfo without the hidden flags."""
    lines = []
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            key, flags = line.split(":", 1)
            line = key + ": " + " ".join(f for f in flags.split() if f not in hidden)
        lines.append(line)
    out = workdir / "cpuinfo"
    out.write_text("\n".join(lines) + "\n")
    return out


def environment(kind: str, workdir: Path) -> dict[str, str]:
    """The environment that runs a command as ``kind``."""
    hidden = KINDS[kind]
    masks = dict.fromkeys(ENV, 0)
    for name in hidden:
        register, bit = FEATURES[name]
        masks[register] |= 1 << bit
    env = dict(os.environ)
    env.update({ENV[reg]: f"{mask:x}" for reg, mask in masks.items()})
    env["CPUID_MASK_CPUINFO"] = str(masked_cpuinfo(hidden, workdir))
    env["LD_PRELOAD"] = " ".join(filter(None, [str(build_library(workdir)), env.get("LD_PRELOAD", "")]))
    env["PHOTOFACE_CPU_KIND"] = kind
    return env


SHOW = ("import numpy\n"
        "from numpy._core._multiarray_umath import __cpu_features__ as f\n"
        "print('numpy sees:', ' '.join(k for k, v in f.items() if v and ('AVX' in k)))\n"
        "flags = [l for l in open('/proc/cpuinfo') if l.startswith('flags')][0].split()\n"
        "print('/proc/cpuinfo:', ' '.join(x for x in flags if 'avx' in x or 'amx' in x))\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("kind", choices=sorted(KINDS))
    ap.add_argument("--show", action="store_true", help="print what numpy and /proc/cpuinfo see, then exit")
    ap.add_argument("command", nargs="*", help="the command to run (after --)")
    args = ap.parse_args(argv)
    if "cpuid_fault" not in Path("/proc/cpuinfo").read_text():
        ap.error("this CPU or hypervisor offers no CPUID faulting (no cpuid_fault flag)")
    command = [sys.executable, "-c", SHOW] if args.show else args.command
    if not command:
        ap.error("give a command after --, or --show")
    with tempfile.TemporaryDirectory(prefix="cpu-kind-") as tmp:
        return subprocess.run(command, env=environment(args.kind, Path(tmp))).returncode


if __name__ == "__main__":
    sys.exit(main())
