"""Combine the per-model summaries into one Markdown report.

    python scripts/report.py --title "Datasets × models" bld/report.md bld/summary/*.csv
"""

import argparse
import csv


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--title", default="Report")
    parser.add_argument("output")
    parser.add_argument("summaries", nargs="+")
    args = parser.parse_args()

    rows = []
    for path in args.summaries:
        with open(path, newline="", encoding="utf-8") as fh:
            rows.extend(csv.DictReader(fh))
    datasets = sorted({r["dataset"] for r in rows})
    models = list(dict.fromkeys(r["model"] for r in rows))
    test = {(r["dataset"], r["model"]): float(r["test_accuracy"]) for r in rows}

    lines = [f"# {args.title}", "", "Test accuracy of each model on each data set.", ""]
    lines.append("| dataset | " + " | ".join(models) + " |")
    lines.append("|---" * (len(models) + 1) + "|")
    for ds in datasets:
        cells = [f"{test[(ds, m)]:.3f}" if (ds, m) in test else "" for m in models]
        lines.append(f"| {ds} | " + " | ".join(cells) + " |")
    lines.append("")
    for m in models:
        scores = [test[(ds, m)] for ds in datasets if (ds, m) in test]
        lines.append(f"- {m}: mean test accuracy {sum(scores) / len(scores):.3f} over {len(scores)} data sets")
    with open(args.output, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
