import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))

# Parsed Rulefiles are cached per user (~/.cache/rulec/parse); the tests, and the rulec
# processes they start, use a folder of their own.
os.environ["RULEC_CACHE_DIR"] = tempfile.mkdtemp(prefix="rulec-test-cache-")

from slurm_cluster import slurm_cluster  # noqa: E402,F401  (session fixture for tests/e2e/test_slurm.py)
