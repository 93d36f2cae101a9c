"""TensorFlow set-up shared by every model: imported lazily, configured once per process."""
from __future__ import annotations

import contextlib
import os
import sys
import threading

from ..errors import DeviceError

_lock = threading.Lock()
_configured: tuple[str, int] | None = None


def tensorflow(device: str = "auto", threads: int = 0):
    """Import TensorFlow, apply the device choice and thread count once, and return the module.

    device: "auto" uses a GPU when TensorFlow sees one, "cpu" hides GPUs, "gpu" requires one
    (config.Settings checks the value where a user gives it).
    """
    global _configured
    with _lock:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        with quiet_native_stderr():
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
        if _configured is None:
            if device == "gpu" and not gpus:
                raise DeviceError(
                    "--device gpu was asked for, but TensorFlow sees no GPU on this machine "
                    "(check the CUDA install with `pip install 'photoface[gpu]'` and nvidia-smi); "
                    "use --device auto or --device cpu"
                )
            if device == "cpu" and gpus:
                tf.config.set_visible_devices([], "GPU")
            for gpu in gpus if device != "cpu" else []:
                tf.config.experimental.set_memory_growth(gpu, True)
            if threads > 0:
                tf.config.threading.set_intra_op_parallelism_threads(threads)
                tf.config.threading.set_inter_op_parallelism_threads(1)
            _configured = (device, threads)
        elif device == "gpu" and not tf.config.list_logical_devices("GPU"):
            raise DeviceError("--device gpu was asked for, but this process already runs TensorFlow without a GPU")
        return tf


def require_gpu() -> None:
    """A DeviceError now (before any work starts) unless TensorFlow sees a GPU in this process."""
    with _lock, quiet_native_stderr():
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        raise DeviceError(
            "--device gpu was asked for, but TensorFlow sees no GPU on this machine "
            "(check the CUDA install with `pip install 'photoface[gpu]'` and nvidia-smi); "
            "use --device auto or --device cpu")


@contextlib.contextmanager
def quiet_native_stderr():
    """Hide the banner TensorFlow's C++ side prints while it starts (oneDNN, CUDA probing).

    Python exceptions are unaffected; set PHOTOFACE_DEBUG=1 to see the banner.
    """
    if os.environ.get("PHOTOFACE_DEBUG"):
        yield
        return
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, ValueError, OSError):  # stderr replaced (pytest capture, notebooks)
        fd = 2
    sys.stderr.flush()
    saved = os.dup(fd)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
        yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)
        os.close(devnull)


def usable_cores() -> int:
    """Cores this process may use (its CPU affinity where the OS reports one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def cpu_flags() -> frozenset[str]:
    """This CPU's feature flags from /proc/cpuinfo (empty on other systems)."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def cpu_has_bf16() -> bool:
    """Whether this CPU has bfloat16 instructions oneDNN uses (AMX-BF16 or AVX512-BF16)."""
    return bool(cpu_flags() & {"amx_bf16", "avx512_bf16"})


#: Instructions with which LiteRT's int8 was measured as fast as static int8 or faster (a
#: 16-core Intel Xeon with AMX-INT8 and AVX512-VNNI: static 0.94-1.06x LiteRT's speed on 1-4
#: threads, 0.61-0.78x on 8-16; benchmarks/int8_runtimes.py), or faster by itself but not
#: in whole commands (a 2-core AMD EPYC Zen 4 with AVX512-VNNI: static 1.28-1.34x the
#: runtime's speed, whole index runs the same or slower, docs/performance.md).
INT8_DOT_PRODUCT = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})


def static_int8_faster() -> bool:
    """Whether ONNX Runtime's static int8 FaceNet was measured faster than LiteRT's int8 on
    CPUs of this kind: x86 with AVX2 and FMA but no AVX-512 and no int8 dot products (AMD
    EPYC Zen 3: 1.9x on one core and on two; docs/performance.md). Kinds not measured keep
    LiteRT's int8."""
    flags = cpu_flags()
    return {"avx2", "fma"} <= flags and not flags & INT8_DOT_PRODUCT and "avx512f" not in flags


#: Where a GPU's driver shows itself (NVIDIA, ROCm, WSL): without one TensorFlow sees no
#: GPU, so "auto" can settle on the CPU without importing TensorFlow.
_GPU_DRIVER_FILES = ("/proc/driver/nvidia/version", "/dev/nvidiactl", "/dev/kfd", "/dev/dxg")


def gpu_visible(device: str = "auto", threads: int = 0) -> bool:
    """Whether the models would run on a GPU for ``device``. On Linux without a GPU driver
    this answers without importing TensorFlow (a model that needs no TensorFlow, like the
    int8 FaceNet, then starts in milliseconds)."""
    if device == "cpu":
        return False
    if device == "auto" and sys.platform.startswith("linux") and not any(os.path.exists(p) for p in _GPU_DRIVER_FILES):
        return False
    return bool(tensorflow(device, threads).config.list_logical_devices("GPU"))


def tf_device_name(tf, device: str) -> str:
    """The TensorFlow device string a model should be placed on."""
    if device != "cpu" and tf.config.list_logical_devices("GPU"):
        return "/GPU:0"
    return "/CPU:0"
