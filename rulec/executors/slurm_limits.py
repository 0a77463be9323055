"""Pre-submission check: does every array fit a partition it may run in? Pure.

The cluster's limits come from ``scontrol show partition -o`` (MaxTime, MaxMemPerNode,
MaxMemPerCPU, MaxCPUsPerNode) and ``scontrol show node -o`` (CPUTot, RealMemory, Gres,
Partitions). A job asking for more than the partition it names (or the default partition,
when it names none) allows is reported before anything is submitted, naming the rule and the
limit, instead of failing at sbatch time or pending forever.
"""

from __future__ import annotations

import re

from ..bundle import arrays as arr
from .slurm_commands import parse_mem, parse_minutes
from ..bundle.settings import Settings, slurm_time
from ..recordclass import record, replace


@record(frozen=True)
class Node:
    name: str
    cpus: int
    mem_mb: int | None
    gpus: int
    partitions: tuple[str, ...]


@record(frozen=True)
class Partition:
    name: str
    default: bool
    up: bool
    max_time_s: int | None
    max_mem_node: int | None
    max_mem_cpu: int | None
    max_cpus_node: int | None
    nodes: tuple[Node, ...]


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text not in (None, "", "UNLIMITED", "N/A") else None
    except ValueError:
        return None


def gpu_count(gres: str) -> int:
    """``gpu:2``, ``gpu:a100:4(S:0-1)``, ``gpu:a100:2,gpu:v100:1`` -> the number of GPUs."""
    total = 0
    for item in re.split(r",(?![^()]*\))", gres or ""):
        item = re.sub(r"\(.*?\)", "", item).strip()
        if not item.startswith("gpu"):
            continue
        parts = item.split(":")
        if len(parts) >= 2 and parts[-1].isdigit():
            total += int(parts[-1])
        elif len(parts) >= 1:
            total += 1
    return total


def cluster(partitions: list[dict[str, str]], nodes: list[dict[str, str]]) -> list[Partition]:
    node_list = []
    for rec in nodes:
        node_list.append(Node(
            name=rec.get("NodeName", "?"),
            cpus=_int(rec.get("CPUTot")) or _int(rec.get("CPUEfctv")) or 0,
            mem_mb=_int(rec.get("RealMemory")),
            gpus=gpu_count(rec.get("Gres", "")),
            partitions=tuple(p for p in rec.get("Partitions", "").split(",") if p),
        ))
    out = []
    for rec in partitions:
        name = rec.get("PartitionName", "?")
        out.append(Partition(
            name=name,
            default=rec.get("Default", "NO").upper() == "YES",
            up=rec.get("State", "UP").upper() == "UP",
            max_time_s=parse_minutes(rec.get("MaxTime", "")),
            max_mem_node=parse_mem(rec.get("MaxMemPerNode", "")),
            max_mem_cpu=parse_mem(rec.get("MaxMemPerCPU", "")),
            max_cpus_node=_int(rec.get("MaxCPUsPerNode")),
            nodes=tuple(n for n in node_list if name in n.partitions),
        ))
    return out


@record(frozen=True)
class Request:
    cpus: int
    mem_mb: int | None
    time_s: int | None
    gpus: int
    partitions: tuple[str, ...]  # named ones; () = the default partition


def request(s: Settings) -> Request:
    cpus = _int(str(s.option("cpus-per-task", s.cpus))) or s.cpus
    mem = s.mem_mb
    per_cpu = s.option("mem-per-cpu")
    if per_cpu is not None:
        from ..profile import parse_mem as mem_of

        each = mem_of(per_cpu)
        mem = each * cpus if each is not None else mem
    time_s = s.time_s
    if s.option("time") is not None:
        time_s = parse_minutes(str(s.option("time")))
    gpus = s.gpus
    gres = s.option("gres")
    if isinstance(gres, str):
        gpus = gpu_count(gres)
    partition = s.option("partition")
    parts = tuple(p.strip() for p in str(partition).split(",") if p.strip()) if partition else ()
    return Request(cpus, mem, time_s, gpus, parts)


def problems(req: Request, p: Partition) -> list[str]:
    out = []
    if req.time_s is not None and p.max_time_s is not None and req.time_s > p.max_time_s:
        out.append(f"time {slurm_time(req.time_s)} is over partition {p.name}'s MaxTime {slurm_time(p.max_time_s)}")
    node_cpus = max((n.cpus for n in p.nodes), default=None)
    cpu_cap = min(x for x in (node_cpus, p.max_cpus_node) if x is not None) if (node_cpus or p.max_cpus_node) else None
    if cpu_cap is not None and req.cpus > cpu_cap:
        what = "MaxCPUsPerNode" if p.max_cpus_node is not None and p.max_cpus_node == cpu_cap else "CPUs on its largest node"
        out.append(f"cpus={req.cpus} is over partition {p.name}'s {cpu_cap} {what}")
    if req.mem_mb is not None:
        node_mem = max((n.mem_mb for n in p.nodes if n.mem_mb is not None), default=None)
        if p.max_mem_node is not None and req.mem_mb > p.max_mem_node:
            out.append(f"mem={req.mem_mb}M is over partition {p.name}'s MaxMemPerNode {p.max_mem_node}M")
        elif node_mem is not None and req.mem_mb > node_mem:
            out.append(f"mem={req.mem_mb}M is over the {node_mem}M RealMemory of partition {p.name}'s largest node")
        elif p.max_mem_cpu is not None and cpu_cap is not None and req.mem_mb > p.max_mem_cpu * cpu_cap:
            out.append(f"mem={req.mem_mb}M is over partition {p.name}'s MaxMemPerCPU {p.max_mem_cpu}M × {cpu_cap} CPUs")
    if req.gpus:
        node_gpus = max((n.gpus for n in p.nodes), default=0)
        if req.gpus > node_gpus:
            out.append(f"gpus={req.gpus} is over the {node_gpus} GPU(s) of partition {p.name}'s best node")
    return out


def check(layout: arr.Layout, parts: list[Partition]) -> list[str]:
    """One message per rule that fits none of the partitions it may use."""
    by_name = {p.name: p for p in parts}
    messages = []
    seen: set[str] = set()
    for array in layout.arrays:
        rule = array.rule.name
        if rule in seen:
            continue
        seen.add(rule)
        req = request(array.settings)
        packed = array.pack > 1 and req.time_s is not None and array.settings.option("time") is None
        if packed:  # a packed task asks for its jobs' time, width at a time
            req = replace(req, time_s=array.task_seconds())
        if array.width > 1 and req.mem_mb is not None and array.settings.option("mem-per-cpu") is None:
            req = replace(req, mem_mb=array.task_mem_mb())  # the memory of the jobs it runs at once
        if req.partitions:
            unknown = [n for n in req.partitions if n not in by_name]
            if len(unknown) == len(req.partitions):
                messages.append(
                    f"rule {rule}: partition {', '.join(unknown)} does not exist on this cluster "
                    f"(partitions: {', '.join(sorted(by_name)) or 'none'})"
                )
                continue
            candidates = [by_name[n] for n in req.partitions if n in by_name]
        else:
            candidates = [p for p in parts if p.default] or parts
        found = [(p, problems(req, p)) for p in candidates]
        if any(not probs for _, probs in found):
            continue
        reasons = "; ".join(probs[0] if len(probs) == 1 else ", ".join(probs) for _, probs in found)
        fits = [p.name for p in parts if p not in candidates and not problems(req, p)]
        hint = f" (it fits partition {', '.join(fits)}: set partition=\"{fits[0]}\" in its label or the profile)" if fits else ""
        if packed and any(p.max_time_s is not None and req.time_s > p.max_time_s for p, _ in found):
            hint += (f" (a task runs {array.pack} of its jobs one after another: pack fewer)" if array.width == 1 else
                     f" (a task runs {array.pack} of its jobs, {array.width} at a time: pack fewer)")
        messages.append(f"rule {rule} asks for more than the cluster allows: {reasons}{hint}")
    return messages


def check_job_count(n_tasks: int, config: dict[str, str]) -> str | None:
    """Every array task is a job record for slurmctld: a run with more tasks than MaxJobCount
    can never be queued at once (sbatch would sleep and retry, then fail)."""
    try:
        max_jobs = int(config.get("MaxJobCount", "0").split()[0])
    except (ValueError, IndexError):
        return None
    if max_jobs and n_tasks > max_jobs:
        return (f"this run has {n_tasks} jobs, more than the cluster's MaxJobCount of {max_jobs} "
                "(every array task counts): run part of it, e.g. with -k or --set, then the rest")
    return None
