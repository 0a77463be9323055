"""``rulec init [DIR]``: write a starter project, datasets × models, that runs as it is.

Its scripts use only Python's standard library (run as ``python3``). Nothing is overwritten:
if any of its files exists already, nothing is written and the files are named.
"""

from __future__ import annotations

import os

from ..errors import RulecError

RULEFILE = '''\
# A starter pipeline: two datasets × two models = four fits, one summary table.
#
#   rulec check      the dimensions, rules and job counts
#   rulec dryrun     what would run, and why
#   rulec run        run it (-j 2: two jobs at a time)
#   rulec status     what is done

dimension dataset:
    small: rows=20
    large: rows=200

dimension model = ["mean", "median"]

rule all:
    input: "results/summary.csv"

rule make_data:
    output: "data/{dataset}.csv"
    shell:  "python3 scripts/make_data.py {dataset.rows} {output}"

rule fit:
    input:  "data/{dataset}.csv"
    output: "results/fits/{dataset}_{model}.json"
    shell:  "python3 scripts/fit.py --model {model} {input} {output}"

rule summarize:
    input:  expand("results/fits/{dataset}_{model}.json")
    output: "results/summary.csv"
    shell:  "python3 scripts/summarize.py {output} {input}"
'''

MAKE_DATA = '''\
"""Write ROWS rows of made-up measurements to OUT (a CSV file with a header)."""
import csv
import random
import sys

rows, out = int(sys.argv[1]), sys.argv[2]
rng = random.Random(rows)
with open(out, "w", newline="") as fh:
    writer = csv.writer(fh)
    writer.writerow(["x", "y"])
    for i in range(rows):
        writer.writerow([i, round(2.0 * i + rng.gauss(0, 5), 3)])
'''

FIT = '''\
"""Fit a one-number model (the mean or the median of y) to a CSV file; write it as JSON."""
import argparse
import csv
import json
import statistics

parser = argparse.ArgumentParser()
parser.add_argument("--model", choices=["mean", "median"], required=True)
parser.add_argument("data")
parser.add_argument("out")
args = parser.parse_args()

with open(args.data, newline="") as fh:
    ys = [float(row["y"]) for row in csv.DictReader(fh)]
estimate = statistics.mean(ys) if args.model == "mean" else statistics.median(ys)
with open(args.out, "w") as fh:
    json.dump({"model": args.model, "data": args.data, "rows": len(ys), "estimate": estimate}, fh, indent=1)
print(f"{args.model} of {args.data}: {estimate:.3f}")
'''

SUMMARIZE = '''\
"""Gather the fits (JSON files) into one CSV table: OUT FIT..."""
import csv
import json
import sys

out, fits = sys.argv[1], sys.argv[2:]
with open(out, "w", newline="") as fh:
    writer = csv.writer(fh)
    writer.writerow(["data", "model", "rows", "estimate"])
    for path in sorted(fits):
        with open(path) as f:
            fit = json.load(f)
        writer.writerow([fit["data"], fit["model"], fit["rows"], round(fit["estimate"], 3)])
'''

README = '''\
# A rulec project

`rulec run` builds `results/summary.csv` from every dataset × model (see `Rulefile`;
`rulec dryrun` shows what would run and why, `rulec status` what is done).
'''

GITIGNORE = '''\
.rulec/
data/
results/
'''

FILES = {
    "Rulefile": RULEFILE,
    "scripts/make_data.py": MAKE_DATA,
    "scripts/fit.py": FIT,
    "scripts/summarize.py": SUMMARIZE,
    "README.md": README,
    ".gitignore": GITIGNORE,
}


def main(folder: str = ".") -> int:
    existing = [rel for rel in FILES if os.path.lexists(os.path.join(folder, rel))]
    if existing:
        raise RulecError(f"rulec init: {', '.join(os.path.join(folder, rel) for rel in existing)} "
                         f"exist{'s' if len(existing) == 1 else ''} already; nothing was written",
                         hint="give an empty or new folder: rulec init DIR")
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise RulecError(f"rulec init: {folder} is not a folder")
    for rel, text in FILES.items():
        path = os.path.join(folder, rel)
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with open(path, "x", encoding="utf-8") as fh:  # "x": never over a file made meanwhile
            fh.write(text)
    where = "" if os.path.abspath(folder) == os.getcwd() else f" {folder}"
    print(f"wrote a starter project in {folder}: {', '.join(FILES)}")
    print(f"next: rulec check{where}; rulec run{where}")
    return 0
