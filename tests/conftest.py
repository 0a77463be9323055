import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

from slurm_cluster import slurm_cluster  # noqa: E402,F401  (session fixture for tests/e2e/test_slurm.py)
