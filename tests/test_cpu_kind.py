"""benchmarks/cpu_kind.py runs a command with the CPU features of an older CPU kind hidden
(docs/performance.md measures the AVX2 and AVX-512 VNNI kernels with it): the hidden
features are gone for numpy, /proc/cpuinfo and photoface, and the models, running that
kind's kernels, find the same faces with the same embeddings. Runs where the CPU offers
CPUID faulting and gcc is installed; skipped with the reason elsewhere."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import PHOTOS

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import json, sys
import numpy as np
from numpy._core._multiarray_umath import __cpu_features__ as features
from photoface import api
from photoface.config import Settings
from photoface.models.facenet import choose_precision
from photoface.models.runtime import cpu_has_bf16
out = {"avx512f": bool(features["AVX512F"]), "avx2": bool(features["AVX2"]),
       "bf16": cpu_has_bf16(), "precision": choose_precision("auto", "cpu")}
for precision in ("int8", "int8-static"):
    res = api.embed_photos([sys.argv[1]], Settings(embed_precision=precision))[0]
    out["boxes"] = [[f.detection.x1, f.detection.y1, f.detection.x2, f.detection.y2] for f in res.faces]
    out[precision] = [f.embedding.tolist() for f in res.faces]
print(json.dumps(out))
"""


def _skip_reason() -> str | None:
    if not sys.platform.startswith("linux"):
        return "CPUID faulting is a Linux feature"
    if "cpuid_fault" not in Path("/proc/cpuinfo").read_text():
        return "this CPU or hypervisor offers no CPUID faulting"
    if not shutil.which("gcc"):
        return "needs gcc to build the preloaded library"
    return None


def _probe(*kind: str) -> dict:
    command = [sys.executable, "-c", PROBE, str(PHOTOS / "obama.jpg")]
    if kind:
        command = [sys.executable, str(ROOT / "benchmarks" / "cpu_kind.py"), *kind, "--", *command]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_avx2_kind_hides_avx512_and_the_models_agree_with_this_cpu():
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    avx2 = _probe("avx2")
    assert avx2["avx2"] and not avx2["avx512f"] and not avx2["bf16"]
    from photoface.models import onnx_int8

    # static int8 measured the fastest on AVX2-only CPUs, LiteRT's int8 elsewhere
    assert avx2["precision"] == ("int8-static" if onnx_int8.available() else "int8")
    here = _probe()
    assert len(avx2["boxes"]) == len(here["boxes"]) >= 1
    assert np.allclose(avx2["boxes"], here["boxes"], atol=0.5)
    # the same int8 networks through other kernels: the same embeddings (LiteRT's int8
    # measured identical: int8 products add up exactly whatever the instructions; static
    # int8's 7-bit weights keep AVX2's 16-bit pair sums from saturating, so its sums are
    # exact too)
    for precision in ("int8", "int8-static"):
        gap = np.linalg.norm(np.array(avx2[precision]) - np.array(here[precision]), axis=1)
        assert gap.max() < 1e-3, (precision, gap)
