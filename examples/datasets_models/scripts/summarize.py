"""One model's results across data sets, as CSV on stdout.

    python scripts/summarize.py bld/estimation/data_0_logistic_model.json ... > bld/summary/logistic_model.csv
"""

import csv
import json
import os
import sys

COLUMNS = ("dataset", "model", "n_train", "n_test", "train_accuracy", "test_accuracy")


def dataset_of(path: str, model: str) -> str:
    stem = os.path.splitext(os.path.basename(path))[0]
    suffix = "_" + model
    return stem[: -len(suffix)] if stem.endswith(suffix) else stem


def main(paths: list[str]) -> None:
    if not paths:
        sys.exit("summarize: give the estimation JSON files")
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(COLUMNS)
    for path in paths:
        with open(path, encoding="utf-8") as fh:
            result = json.load(fh)
        row = dict(result, dataset=dataset_of(path, result["model"]))
        writer.writerow([row[c] for c in COLUMNS])


if __name__ == "__main__":
    main(sys.argv[1:])
