"""Select the rows of one data specification ("subset") and write them as CSV.

    python scripts/prepare.py src/data/data.csv bld/data/processed_data_0.csv --subset subset_1
"""

import argparse
import csv
import sys

SUBSETS = {
    "subset_1": lambda row: True,                         # every row
    "subset_2": lambda row: int(row["id"]) < 200,         # the first half
    "subset_3": lambda row: row["region"] == "urban",     # one region
    "subset_4": lambda row: float(row["x2"]) >= 0.0,      # a condition on a feature
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input")
    parser.add_argument("output")
    parser.add_argument("--subset", required=True, choices=sorted(SUBSETS))
    args = parser.parse_args()
    keep = SUBSETS[args.subset]
    with open(args.input, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        fieldnames = reader.fieldnames
        rows = [row for row in reader if keep(row)]
    if not rows:
        sys.exit(f"prepare: {args.subset} selects no rows of {args.input}")
    with open(args.output, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fieldnames, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


if __name__ == "__main__":
    main()
