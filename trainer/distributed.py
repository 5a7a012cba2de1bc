"""Training in several processes with DistributedDataParallel: one per GPU (NCCL), or N on the CPU (gloo).

`fine_tune_distributed(..., processes=N)` spawns N processes (torch.multiprocessing, "spawn") that each run
`engine.fine_tune` with a `DistributedPlacement`:
- training: every process draws the one-process sampler's order (shuffle or class-balancing: same seed, same
  generator use) and takes every N-th sample of it, in batches of batch_size // N. The N processes thus step
  through the batches one process would, and DDP averages their gradients: `batch_size` stays the global
  batch, so the result does not depend on the number of GPUs.
- validation, each epoch: each process evaluates a contiguous share of the val split and the shares are
  gathered, so every process computes the accuracy (correct/total) of the whole split, and every process takes
  the same early-stopping decision.
- files: rank 0 alone writes them (model.json, checkpoints, history; after the epochs it goes on alone to the
  metrics on the whole val and test splits, the confusion matrix and the ONNX export); the others stop there.
- the job (its `report` and `check_cancelled`) stays in the calling process: rank 0's progress comes back
  through a queue; a cancel (or the death of the calling process) sets a flag that the ranks agree on at the
  same step, so they stop together.
"""

from __future__ import annotations

import dataclasses
import math
import os
import pickle
import queue
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Sampler, Subset

from trainer.catalogue import ArchitectureSpec
from trainer.config import TrainSettings
from trainer.data import TrainData, make_loader
from trainer.engine import (
    Device,
    Placement,
    Report,
    StepContext,
    TrainingError,
    TrainResult,
    evaluate,
    fine_tune,
)

POLL_SECONDS = 0.2
STOP_GRACE_SECONDS = 30.0  # after a cancel or a failure, the time ranks get to exit before they are killed
COLLECTIVE_TIMEOUT = timedelta(minutes=10)


class _Stopped(Exception):
    """Raised in every rank at the same step once the job is cancelled (or its process is gone)."""


def resolve_processes(setting: int | Literal["auto"]) -> int:
    """Training processes per job: "auto" = every visible GPU (1 without CUDA); N = N (gloo on the CPU)."""
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if setting == "auto":
        return max(gpus, 1)
    if setting < 1 or (gpus and setting > gpus):
        most = f"at most {gpus}, the GPUs this worker sees" if gpus else "at least 1"
        raise TrainingError(f"CVAT_BRIDGE_TRAIN_PROCESSES is {setting}; set it to 'auto' or to {most}")
    return setting


def fine_tune_distributed(
    spec: ArchitectureSpec,
    settings: TrainSettings,
    data: TrainData,
    out_dir: Path,
    *,
    processes: int,
    info: dict[str, Any] | None = None,
    report: Report = lambda **_: None,
    check_cancelled: Callable[[], None] = lambda: None,
    resume: bool = False,
) -> TrainResult:
    """`engine.fine_tune` in `processes` processes; rank 0's result (`processes`: the ranks that joined)."""
    context = mp.get_context("spawn")
    messages = context.Queue()
    stop = context.Event()
    with tempfile.TemporaryDirectory(prefix="cvat-bridge-ddp-") as rendezvous:
        job = _RankJob(
            spec, settings, data, out_dir, info, processes, f"file://{rendezvous}/store", os.getpid(), resume
        )
        ranks = [
            context.Process(
                target=_run_rank, args=(rank, job, messages, stop), name=f"train-rank-{rank}", daemon=False
            )
            for rank in range(processes)
        ]
        for process in ranks:
            process.start()
        try:
            return _supervise(ranks, messages, report, check_cancelled)
        finally:
            _stop(ranks, stop)


@dataclass(frozen=True)
class _RankJob:
    spec: ArchitectureSpec
    settings: TrainSettings
    data: TrainData
    out_dir: Path
    info: dict[str, Any] | None
    world: int
    init_method: str
    parent_pid: int
    resume: bool = False


def _supervise(
    ranks: list[mp.Process], messages: Any, report: Report, check_cancelled: Callable[[], None]
) -> TrainResult:
    """Relay the ranks' messages until all have exited; raise a rank's error, or the job's cancel."""
    result: TrainResult | None = None
    joined: set[int] = set()
    while True:
        exited = [process.exitcode for process in ranks]  # before draining: all they sent is in the pipe
        for kind, payload in _drain(messages):
            if kind == "report":
                report(**payload)
            elif kind == "joined":
                joined.add(payload)
            elif kind == "result":
                result = payload
            elif kind == "error":
                raise payload
        check_cancelled()
        for rank, code in enumerate(exited):
            if code not in (None, 0):
                raise TrainingError(f"training process {rank} of {len(ranks)} died (exit code {code})")
        if all(code == 0 for code in exited):
            if result is None:
                raise TrainingError("the training processes ended without a result")
            return dataclasses.replace(result, processes=len(joined))


def _drain(messages: Any) -> Iterator[tuple[str, Any]]:
    """Every message waiting (after up to POLL_SECONDS for the first)."""
    timeout: float | None = POLL_SECONDS
    while True:
        try:
            yield messages.get(timeout=timeout) if timeout else messages.get_nowait()
        except queue.Empty:
            return
        timeout = None


def _stop(ranks: list[mp.Process], stop: Any) -> None:
    """Ask the ranks to stop, give them STOP_GRACE_SECONDS, then kill what is left."""
    stop.set()
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for process in ranks:
        process.join(max(0.0, deadline - time.monotonic()))
    for process in ranks:
        if process.is_alive():
            process.kill()
            process.join()


def _run_rank(rank: int, job: _RankJob, messages: Any, stop: Any) -> None:
    """One training process: join the group, run fine_tune, send back progress, the result or the error."""
    try:
        placement = DistributedPlacement.join(rank, job, stop)
        messages.put(("joined", rank))
        report = _relay(messages, job.world) if rank == 0 else (lambda **_: None)
        result = fine_tune(
            job.spec,
            job.settings,
            job.data,
            job.out_dir,
            info=job.info,
            report=report,
            check_cancelled=placement.check_cancelled,
            placement=placement,
            resume=job.resume,
        )
        if result is not None:
            messages.put(("result", result))
    except _Stopped:
        pass
    except BaseException as exc:  # noqa: BLE001 - every failure goes to the job, in its own words
        messages.put(("error", _sendable(exc, rank, job.world)))
        raise SystemExit(1) from None
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def _relay(messages: Any, world: int) -> Report:
    """Rank 0's progress reports, to the job's process. The ranks step together, so the job's images/s during
    an epoch is world x rank 0's (an epoch's images_per_second in the history is already the sum)."""

    def report(**fields: Any) -> None:
        if "images_per_second" in fields:
            fields["images_per_second"] *= world
        messages.put(("report", fields))

    return report


def _sendable(exc: BaseException, rank: int, world: int) -> BaseException:
    """exc if it survives pickling (TrainingError, WeightsMissing... keep their type and message), else an
    equivalent RuntimeError."""
    where = f"in training process {rank} of {world}"
    try:
        copy = pickle.loads(pickle.dumps(exc))
    except Exception:  # noqa: BLE001 - any exception type may refuse pickling
        copy = RuntimeError(f"{type(exc).__name__}: {exc}")
    copy.add_note(where)
    return copy


class ShardedSampler(Sampler[int]):
    """A rank's share of base's order. Every rank draws the same order (same seed, same generator use) and
    takes its positions rank, rank + world, ...: batches of b on each rank make up, together, the one-process
    batches of b x world, in the same order. With `whole_batches_of=b` only whole batches of b x world are
    used (the one-process loader drops its last, partial batch); without, the order is padded to a multiple of
    world with its first indices."""

    def __init__(
        self, base: Sampler[int], rank: int, world: int, whole_batches_of: int | None = None
    ) -> None:
        self.base, self.rank, self.world, self.batch = base, rank, world, whole_batches_of

    def __len__(self) -> int:
        if self.batch:
            return len(self.base) // (self.batch * self.world) * self.batch
        return math.ceil(len(self.base) / self.world)

    def __iter__(self) -> Iterator[int]:
        order = list(self.base)
        used = len(self) * self.world
        padded = (order * (used // len(order) + 1))[:used]
        return iter(padded[self.rank :: self.world])


class DistributedPlacement(Placement):
    """fine_tune's loop as one rank of a DDP process group (see the module's docstring)."""

    def __init__(self, rank: int, world: int, device: Device, stop: Any, parent_pid: int) -> None:
        self.rank, self.world = rank, world
        self.writes_files = rank == 0
        self._device = device
        self._stop = stop
        self._parent_pid = parent_pid
        self._control = dist.new_group(backend="gloo")  # CPU flags and objects, whatever the backend
        self._together = True  # False once the other ranks have stopped (after the epochs)
        self._ddp: DistributedDataParallel | None = None
        self._val_shares: dict[int, DataLoader] = {}

    @classmethod
    def join(cls, rank: int, job: _RankJob, stop: Any) -> DistributedPlacement:
        """Join the process group: GPU `rank` with NCCL when CUDA is there, else the CPU with gloo."""
        if torch.cuda.is_available():
            torch.cuda.set_device(rank)  # first: the rank's CUDA context goes on its own GPU, not on GPU 0
            device = dataclasses.replace(Device.auto(), device=torch.device("cuda", rank))
        else:  # the CPU's cores shared out between the ranks
            device = Device.auto()
            torch.set_num_threads(max(1, torch.get_num_threads() // job.world))
        backend = "nccl" if device.device.type == "cuda" else "gloo"
        dist.init_process_group(
            backend, init_method=job.init_method, rank=rank, world_size=job.world, timeout=COLLECTIVE_TIMEOUT
        )
        return cls(rank, job.world, device, stop, job.parent_pid)

    def device(self) -> Device:
        return self._device

    def train_loader(self, loader: DataLoader) -> DataLoader:
        """This rank's share of loader: every world-th sample of its order, in batches of batch // world."""
        batch = max(1, loader.batch_size // self.world)
        return make_loader(
            loader.dataset,
            batch,
            loader.num_workers,
            sampler=ShardedSampler(
                loader.sampler, self.rank, self.world, whole_batches_of=batch if loader.drop_last else None
            ),
            generator=loader.generator,
            drop_last=loader.drop_last,
            pin_memory=loader.pin_memory,
        )

    def train_epoch(self, model: nn.Module, step: StepContext, epoch: int) -> tuple[float, float]:
        """One epoch through DDP; returns the mean loss over all ranks and the images/s of all ranks."""
        loss, images_per_second = super().train_epoch(self._wrapped(model), step, epoch)
        totals = torch.tensor([loss, images_per_second], dtype=torch.float64)
        dist.all_reduce(totals, group=self._control)
        return totals[0].item() / self.world, totals[1].item()

    def _wrapped(self, model: nn.Module) -> DistributedDataParallel:
        """The DDP wrapper, built at the first epoch. DDP syncs the parameters that are trainable when it is
        built, so it is built with all of them; those the recipe keeps frozen for now (its warm-up) are then
        found unused at each step."""
        if self._ddp is None:
            frozen = [p for p in model.parameters() if not p.requires_grad]
            for parameter in frozen:
                parameter.requires_grad_(True)
            device_ids = [self._device.device.index] if self._device.device.type == "cuda" else None
            self._ddp = DistributedDataParallel(
                model, device_ids=device_ids, find_unused_parameters=bool(frozen)
            )
            for parameter in frozen:
                parameter.requires_grad_(False)
        return self._ddp

    def evaluate(
        self,
        model: nn.Module,
        loader: DataLoader,
        device: Device,
        criterion: nn.Module | None = None,
    ) -> tuple[float, np.ndarray, np.ndarray]:
        """The whole split of loader: each rank evaluates a contiguous share, every rank gets all shares."""
        for buffer in model.buffers():  # BatchNorm statistics as rank 0 has them (and saves them)
            dist.broadcast(buffer, src=0)
        share = self._val_share(loader)
        mine = None
        if len(share.dataset):
            loss, logits, labels = evaluate(model, share, device, criterion)
            mine = (loss * len(labels), logits, labels)
        shares: list[Any] = [None] * self.world
        dist.all_gather_object(shares, mine, group=self._control)
        shares = [s for s in shares if s is not None]
        total = sum(len(labels) for _, _, labels in shares)
        return (
            sum(loss_sum for loss_sum, _, _ in shares) / max(total, 1),
            np.concatenate([logits for _, logits, _ in shares]),
            np.concatenate([labels for _, _, labels in shares]),
        )

    def _val_share(self, loader: DataLoader) -> DataLoader:
        if id(loader) not in self._val_shares:
            bounds = np.linspace(0, len(loader.dataset), self.world + 1).round().astype(int)
            share = Subset(loader.dataset, range(bounds[self.rank], bounds[self.rank + 1]))
            self._val_shares[id(loader)] = make_loader(
                share, loader.batch_size, loader.num_workers, pin_memory=loader.pin_memory
            )
        return self._val_shares[id(loader)]

    def finish_epochs(self) -> bool:
        """The other ranks stop here; rank 0 goes on alone (and checks the stop flag alone from now on)."""
        self._together = False
        return self.rank == 0

    def check_cancelled(self) -> None:
        """Stop when the job is cancelled or its process is gone; while the ranks run together, they decide
        together (a collective at the same step in every rank), so that none waits for a rank that stopped."""
        stop = self._stop.is_set() or os.getppid() != self._parent_pid
        if self._together:
            flag = torch.tensor([int(stop)])
            dist.all_reduce(flag, op=dist.ReduceOp.MAX, group=self._control)
            stop = bool(flag.item())
        if stop:
            raise _Stopped()
