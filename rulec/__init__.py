"""rulec: a rule compiler for data-analysis pipelines on laptops and HPC clusters."""

__version__ = "0.1.0"
