"""What a Snakemake user writes that a Rulefile does not have, and what to write instead:
the hints of the parser's and the analyzer's errors (docs/language.md, "Snakemake -> rulec")."""

from __future__ import annotations

# Fields of a Snakemake rule that a Rulefile's rule does not have.
FIELDS = {
    "run": 'rulec runs no Python code of a Rulefile: put the code in a script and call it from shell:, '
           'e.g.  shell: "python scripts/step.py {input} {output}"',
    "script": 'call the script from shell:, e.g.  shell: "python scripts/x.py {input} {output}" '
              '(it gets the paths as arguments; there is no snakemake object)',
    "notebook": 'run the notebook from shell:, e.g.  shell: "jupyter nbconvert --execute --to notebook '
                '--output {output} notebooks/x.ipynb"',
    "wrapper": "write the command the wrapper would run in shell:",
    "conda": 'give the rule a label whose prefix runs its jobs in the environment, e.g.  label myenv:  '
             'prefix: "conda run -n myenv"  (see "Labels" in docs/language.md; a label\'s env: sets variables)',
    "container": 'give the rule a label whose prefix runs its jobs in the container, e.g.  label img:  '
                 'prefix: "apptainer exec image.sif"  (see "Labels" in docs/language.md)',
    "envmodules": 'load the modules in the command (shell: "module load x && ..."), or set variables with '
                  'a label\'s env:  (see "Labels" in docs/language.md)',
    "threads": "write  resources: cpus=N; {threads} in a command is that number",
    "wildcard_constraints": 'constrain the wildcard where an output defines it, "bld/{n,[0-9]+}.txt", '
                            "or make it a dimension",
    "message": "rulec names each job as it runs it; a comment can say more",
    "localrule": "write  local: true",
}
FIELDS["singularity"] = FIELDS["container"]

# Snakemake statements at the top of a Snakefile.
STATEMENTS = {
    "localrules": "mark each such rule with  local: true",
    "configfile": 'read it with  config "config.toml"  and use its values as {config.key}',
    "wildcard_constraints": 'constrain a wildcard where an output defines it, "bld/{n,[0-9]+}.txt", '
                            "or make it a dimension: its values are its constraint",
    "workdir": "give the working folder on the command line: rulec -d DIR",
    "container": 'give the rules a label whose prefix runs their jobs in the container, e.g.  label img:  '
                 'prefix: "apptainer exec image.sif"  (see "Labels" in docs/language.md)',
    "envvars": "set variables with a label's env:  (see \"Labels\" in docs/language.md)",
    "onstart": "rulec runs no Python hooks; a rule can run a command",
    "onsuccess": "rulec runs no Python hooks; a rule can run a command",
    "onerror": "rulec runs no Python hooks; a rule can run a command",
    "import": "a Rulefile holds no Python code: call Python from a rule's shell:",
    "from": "a Rulefile holds no Python code: call Python from a rule's shell:",
    "def": "a Rulefile holds no Python code: call Python from a rule's shell:",
    # not a statement: an input function, anywhere in a line
    "lambda": "a Rulefile has no functions: a value that depends on the job is a wildcard's field, "
              "{dataset.field}, of a dimension block or of a table(...) sample sheet (see \"Dimensions\")",
}

RUN_BLOCK = "a run: block is Python code, which a Rulefile cannot hold"
