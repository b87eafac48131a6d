"""Where and how fast to run: device, precision, threads, memory layout, distributed set-up."""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from functools import lru_cache

import torch
import torch.distributed as dist

from hwr.core.errors import HwrError
from hwr.core.workers import usable_cores

log = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def cpu_has_fast_bf16() -> bool:
    """True when the CPU multiplies bf16 natively (AVX512-BF16 or AMX); elsewhere bf16 is emulated
    and slower than fp32."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``precision`` (None means plain fp32).

    auto: fp16/bf16 mixed precision on CUDA (bf16 where supported), bf16 on CPUs that run it
    natively, fp32 elsewhere."""
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if precision == "fp16":
        if device.type != "cuda":
            raise ValueError("train.precision=fp16 needs a CUDA device; use bf16 or auto on CPU")
        return torch.float16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if cpu_has_fast_bf16() else None


def autocast(device: torch.device, dtype: torch.dtype | None):
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def precision_name(dtype: torch.dtype | None) -> str:
    return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[dtype]


@dataclass
class Dist:
    """The process's place in a torchrun job (world 1 when run plainly)."""

    rank: int = 0
    local_rank: int = 0
    world: int = 1
    use_cuda: bool = True  # a GPU when one is present; False when processes outnumber GPUs

    @property
    def master(self) -> bool:
        return self.rank == 0


def setup_distributed() -> Dist:
    """Join the process group when started by torchrun (WORLD_SIZE > 1): nccl with one GPU per
    process, else gloo on CPU (also when a machine has fewer GPUs than processes)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", world))
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    on_gpu = gpus >= local_world
    if gpus and not on_gpu and local_rank == 0:
        log.warning("%d processes on this machine but %d GPU(s): training on CPU with gloo; "
                    "start one process per GPU (torchrun --nproc_per_node %d) to train on the GPUs",
                    local_world, gpus, gpus)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if on_gpu else "gloo")
    if on_gpu:
        torch.cuda.set_device(local_rank)
    return Dist(dist.get_rank(), local_rank, dist.get_world_size(), use_cuda=on_gpu)


def choose_device(name: str | None = None) -> torch.device:
    """The device ``name`` (cpu, cuda, cuda:N), else CUDA when present, else the CPU: every
    feature runs on the CPU and uses a GPU when there is one. An unknown name, or CUDA where torch
    sees none, is a one-line error."""
    try:
        device = torch.device(name or ("cuda" if torch.cuda.is_available() else "cpu"))
    except RuntimeError:
        raise HwrError(f"unknown device {name!r}; use cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise HwrError(f"device {name!r} asked for, but torch sees no CUDA GPU here; use cpu")
    return device


def pick_device(ddp: Dist) -> torch.device:
    """This process's device in a torchrun job: its own GPU, else the CPU."""
    return choose_device(f"cuda:{ddp.local_rank}" if ddp.use_cuda and torch.cuda.is_available() else "cpu")


def make_deterministic(device: torch.device) -> None:
    """Same params and seed, same weights: on CUDA, cuDNN's deterministic algorithms and a fixed
    cuBLAS workspace (CPU kernels are deterministic already; CTC runs on the CPU, see ctc_loss)."""
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


def configure_threads(ddp: Dist) -> int:
    """Share the cores between the processes of this machine; no over-subscription."""
    if "OMP_NUM_THREADS" in os.environ:
        return torch.get_num_threads()
    cores = usable_cores()
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", ddp.world))
    threads = max(1, cores // max(1, local_world))
    torch.set_num_threads(threads)
    return threads
