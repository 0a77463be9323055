"""rulec: a rule compiler for data-analysis pipelines on laptops and HPC clusters.

The Python API (docs/api.md)::

    import rulec

    wf = rulec.load("Rulefile")      # a bad Rulefile raises rulec.RulecError
    plan = wf.plan()                 # rulec dryrun: plan.jobs, each with its reasons
    report = wf.run(plan, jobs=2)    # rulec run -j 2: report.ok, report.jobs
    wf.emit("slurm", "bundle")       # rulec emit --slurm -o bundle

``import rulec`` imports nothing else: the names below are loaded when first used.
"""

__version__ = "0.1.0"

# name -> the module that defines it (imported on first use, PEP 562)
_EXPORTS = {
    "Workflow": "workflow",
    "Plan": "workflow",
    "Job": "workflow",
    "RunReport": "workflow",
    "JobResult": "run.loop",
    "Status": "run.loop",
    "Outcome": "run.executor",
    "Reason": "plan",
    "Why": "plan",
    "Backend": "backend",
    "RulecError": "errors",
}

__all__ = ["load", *_EXPORTS, "__version__"]


def load(path="Rulefile", config=None, directory=None):
    """Read and check a Rulefile (or a folder holding one); a ``rulec.Workflow``.

    ``config``: config overrides as a dict (``--config KEY=VALUE``); ``directory``: the folder
    its paths are relative to (``-d``; default: the Rulefile's). A bad Rulefile raises
    ``rulec.RulecError`` with its place (``err.span``) and the text ``rulec check`` prints."""
    from .workflow import load as load_

    return load_(path, config, directory)


def __getattr__(name):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'rulec' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
