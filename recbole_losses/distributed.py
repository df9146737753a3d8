r"""RecBole's multi-process mode on CPU (gloo) and GPU (nccl): settings, process group, spawning,
and the collective steps the trainer takes.

RecBole's keys keep their meaning: ``nproc`` (processes on this machine), ``world_size`` (all
processes, default ``nproc``), ``offset`` (global rank of this machine's first process), ``ip`` and
``port`` (where rank 0 listens, default localhost:5678), ``gpu_id``; plus ``backend`` (``nccl``, the
default with GPUs, or ``gloo``, the default on CPU). A process is one rank when its config has
``local_rank``.

- :func:`resolve_settings` fills those keys and the rank's device into a config (no side effect
  beyond ``CUDA_VISIBLE_DEVICES``, as RecBole's); ``Config`` calls it.
- :func:`init_process_group` joins the process group (reusing one already initialised, e.g. a
  second run in the process); the quick start calls it before any data is loaded.
- :func:`spawn` runs a function in ``nproc`` spawned processes, one rank each.
- :func:`broadcast_parameters`, :func:`broadcast_object`, :func:`all_gather_object`,
  :func:`average_gradients`, :func:`sync_step_state`, :func:`barrier`: what the trainer does across ranks (see
  :class:`recbole_losses.trainer.RecBoleFixes`).
"""

from __future__ import annotations

import os

import torch

__all__ = [
    "all_gather_object",
    "default_backend",
    "average_gradients",
    "barrier",
    "broadcast_object",
    "broadcast_parameters",
    "global_rank",
    "init_process_group",
    "is_multi_process",
    "rank_threads",
    "resolve_settings",
    "spawn",
    "sync_step_state",
]


def is_multi_process(config) -> bool:
    """Whether ``config`` is one rank of a multi-process run."""
    return "local_rank" in config.final_config_dict and not config["single_spec"]


def default_backend(cfg: dict) -> str:
    """``backend`` as set, else nccl when this process would use GPUs, gloo otherwise."""
    gpu_id = cfg.get("gpu_id")
    gpu_id = ",".join(map(str, gpu_id)) if isinstance(gpu_id, (list, tuple)) else str(gpu_id if gpu_id is not None else "")
    use_cuda = bool(cfg.get("use_gpu")) and len(gpu_id) > 0 and torch.cuda.is_available()
    return cfg.get("backend") or ("nccl" if use_cuda else "gloo")


def resolve_settings(cfg: dict) -> None:
    """Fill RecBole's multi-process keys of a rank's resolved settings ``cfg`` (``local_rank``
    set): defaults, ``backend`` (nccl with GPUs, gloo without), the device ``cuda:<local_rank>``
    or the CPU, ``single_spec`` False; ranks other than 0 log errors only. RecBole's own set-up
    hard-codes nccl and a CUDA device and starts the process group inside ``Config``."""
    gpu_id = cfg["gpu_id"]
    cfg["gpu_id"] = ",".join(map(str, gpu_id)) if isinstance(gpu_id, tuple) else str(gpu_id)
    use_cuda = bool(cfg["use_gpu"]) and len(cfg["gpu_id"]) > 0 and torch.cuda.is_available()
    if use_cuda:
        os.environ["CUDA_VISIBLE_DEVICES"] = cfg["gpu_id"]
    for key, default in (("nproc", 1), ("offset", 0), ("ip", "localhost"), ("port", "5678")):
        if cfg.get(key) is None:
            cfg[key] = default
    if cfg.get("world_size") in (None, -1):
        cfg["world_size"] = cfg["nproc"]
    backend = default_backend(cfg)
    if backend not in ("nccl", "gloo") or (backend == "nccl" and not use_cuda):
        raise ValueError(f"backend must be 'nccl' (GPUs) or 'gloo' (CPU or GPUs), got {backend!r} (GPU in use: {use_cuda})")
    cfg["backend"] = backend
    rank = cfg["local_rank"] + cfg["offset"]
    if not 0 <= rank < cfg["world_size"]:
        raise ValueError(f"rank local_rank + offset = {rank} is outside [0, world_size = {cfg['world_size']})")
    cfg["device"] = torch.device("cuda", cfg["local_rank"]) if use_cuda else torch.device("cpu")
    cfg["single_spec"] = False
    if cfg["local_rank"] != 0:
        cfg["state"], cfg["show_progress"], cfg["verbose"] = "error", False, False


def init_process_group(config) -> None:
    """Join the process group of a multi-process run (nothing for a single process) at
    ``tcp://ip:port``; an already initialised group (a second run in the same process, or the
    group :func:`spawn` starts for the ranks of one machine) is reused. A port in use is a
    ValueError naming it."""
    if not is_multi_process(config):
        return
    import torch.distributed as dist

    if not dist.is_initialized():
        try:
            dist.init_process_group(
                backend=config["backend"], rank=config["local_rank"] + config["offset"],
                world_size=config["world_size"], init_method=f"tcp://{config['ip']}:{config['port']}",
            )
        except RuntimeError as err:
            if "EADDRINUSE" in str(err) or "address already in use" in str(err).lower():
                raise ValueError(f"port {config['port']} on {config['ip']} is in use: give another port "
                                 "(on one machine, leave port unset: the ranks then meet without one)") from None
            raise
    if config["device"].type == "cuda":
        torch.cuda.set_device(config["local_rank"])


def spawn(fn, config, args: tuple):
    """Call ``fn(*args, config_dict)`` in ``config['nproc']`` spawned processes, where
    ``config_dict`` holds the rank's multi-process keys (``local_rank`` included); returns what
    global rank 0 returned (None on the other machines).

    When every rank runs here (``world_size`` = ``nproc``) and no ``port`` is set, the ranks meet
    through a file in a fresh temporary folder: no port is chosen, so none can be taken by another
    program in the meantime, and no rank hosts what the others still need at teardown. Otherwise
    they meet at ``tcp://ip:port`` (default localhost:5678), as RecBole's ranks do. A ValueError
    or FileNotFoundError in a rank (a setting the data rejects, a port in use) is raised here as a
    one-line ValueError naming the rank.

    Each rank runs :func:`rank_threads` intra-op threads: this machine's share of torch's default
    count (its cores) unless ``OMP_NUM_THREADS`` is set, as ``torchrun`` does; ``nproc`` ranks of
    a full count each would oversubscribe the cores, and OpenMP's spinning threads then wait on
    descheduled ones (10–20× slower steps on 2 cores)."""
    import tempfile

    import torch.multiprocessing as mp

    nproc = int(config["nproc"])
    world_size = config["world_size"] if config["world_size"] not in (None, -1) else nproc
    settings = {
        "nproc": nproc, "world_size": world_size, "offset": config["offset"] or 0,
        "ip": config["ip"] or "localhost", "port": config["port"] or "5678",
    }
    if not (0 <= settings["offset"] and settings["offset"] + nproc <= world_size):
        raise ValueError(f"ranks offset .. offset + nproc - 1 = {settings['offset']} .. "
                         f"{settings['offset'] + nproc - 1} do not fit in world_size = {world_size}")
    local = world_size == nproc and config["port"] is None
    with tempfile.TemporaryDirectory(prefix="recbole-losses-ranks-") as folder:
        rendezvous = {"init_method": f"file://{os.path.join(folder, 'rendezvous')}",
                      "backend": default_backend(config.final_config_dict)} if local else None
        queue = mp.get_context("spawn").SimpleQueue()
        try:
            mp.spawn(_run_rank, args=(fn, args, settings, queue, rendezvous), nprocs=nproc, join=True)
        except mp.ProcessRaisedException as err:
            last = [line for line in str(err).strip().splitlines() if line.strip()][-1]
            kind, _, message = last.partition(": ")
            if kind in ("ValueError", "FileNotFoundError"):
                raise ValueError(f"rank {err.error_index}: {message}") from None
            raise
        return None if queue.empty() else queue.get()


def rank_threads(default: int, nproc: int, environ) -> int:
    """Intra-op threads of one of ``nproc`` ranks on a machine: ``default`` (torch's count, the
    cores) divided among them, at least 1; ``default`` itself where ``OMP_NUM_THREADS`` is set
    (the user's own choice, per process)."""
    return default if environ.get("OMP_NUM_THREADS") else max(1, default // nproc)


def _run_rank(local_rank: int, fn, args: tuple, settings: dict, queue, rendezvous: dict | None = None) -> None:
    import torch.distributed as dist

    torch.set_num_threads(rank_threads(torch.get_num_threads(), settings["nproc"], os.environ))
    try:
        if rendezvous is not None:
            dist.init_process_group(backend=rendezvous["backend"], init_method=rendezvous["init_method"],
                                    rank=local_rank, world_size=settings["world_size"])
        result = fn(*args, {**settings, "local_rank": local_rank})
        if local_rank + settings["offset"] == 0:
            queue.put(result)
        if dist.is_initialized():
            barrier()  # no rank tears the group down while another still talks to it
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


@torch.no_grad()
def broadcast_parameters(module: torch.nn.Module) -> None:
    """Give every rank rank 0's parameters and buffers."""
    import torch.distributed as dist

    for tensor in [*module.parameters(), *module.buffers()]:
        if tensor.layout == torch.strided:
            dist.broadcast(tensor.data, src=0)


def broadcast_object(value):
    """Rank 0's ``value`` on every rank."""
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def all_gather_object(value) -> list:
    """Every rank's ``value``, in global rank order, on every rank."""
    import torch.distributed as dist

    values = [None] * dist.get_world_size()
    dist.all_gather_object(values, value)
    return values


def global_rank(config) -> int:
    """This process's rank among all processes (0 for a single process)."""
    return config["local_rank"] + config["offset"] if is_multi_process(config) else 0


def barrier() -> None:
    import torch.distributed as dist

    dist.barrier()


@torch.no_grad()
def average_gradients(params: list, device) -> None:
    """Average the gradients of ``params`` over the ranks (one flat all-reduce); a parameter
    without a gradient on some rank counts as zero there, one without a gradient anywhere keeps
    none."""
    import torch.distributed as dist

    has_grad = torch.tensor([p.grad is not None for p in params], dtype=torch.float32, device=device)
    dist.all_reduce(has_grad, op=dist.ReduceOp.MAX)
    params = [p for p, flag in zip(params, has_grad.tolist()) if flag]
    if not params:
        return
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    flat = torch.cat([p.grad.reshape(-1) for p in params])
    dist.all_reduce(flat)
    flat /= dist.get_world_size()
    offset = 0
    for p in params:
        p.grad.copy_(flat[offset : offset + p.numel()].view_as(p.grad))
        offset += p.numel()


@torch.no_grad()
def sync_step_state(loss, before: dict) -> None:
    """Combine across ranks the ``step_state`` buffers of ``loss`` that each rank changed from
    ``before`` (their values before the step): see :attr:`RankingLoss.step_state`."""
    import torch.distributed as dist

    for name, old in before.items():
        value = getattr(loss, name)
        delta = value - old
        if loss.step_state[name] == "sum":
            dist.all_reduce(delta)
            value.copy_(old + delta)
        else:  # "mean" of the new values of the ranks that changed an entry
            changed = (delta != 0).to(value.dtype)
            total = torch.stack([value * changed, changed])
            dist.all_reduce(total)
            value.copy_(torch.where(total[1] > 0, total[0] / total[1].clamp(min=1), old))
