"""Cluster backends: a Plan -> a submission bundle (SLURM, LSF, jbsub). (Running one and
following it is the executors' work: rulec/executors/slurm.py, lsf.py, jbsub.py.)

arrays.py    jobs -> job arrays and the dependencies between them (pure)
settings.py  a rule's resources + label + profile -> what it asks the scheduler for (pure)
bundle.py    the bundle's files: task tables, manifest, quoting; writing them
slurm.py / lsf.py / jbsub.py   directives and scripts per scheduler
render.py    the only jinja2 Environment (templates/)
scheduler.py SLURM commands (plumbum, retries) and parsers of their output
limits.py    partition limits checked before anything is submitted
emit.py      `rulec emit`
"""
