"""Fit one model to one prepared data set, in pure Python, and write the result as JSON.

    python scripts/estimate.py --model logistic_model --seed 42 IN.csv OUT.json 2> LOG

Models: linear_probability (least squares of y on 1, x1, x2), logistic_model (gradient
descent on the log-likelihood), decision_tree (the best single split, a "stump").
The rows are shuffled with ``--seed`` and split 75/25 into training and test rows, so the
output is the same on every run. One line of progress goes to stderr.
"""

import argparse
import csv
import json
import math
import random
import sys

FEATURES = ("x1", "x2")


def load(path):
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    xs = [[1.0] + [float(row[f]) for f in FEATURES] for row in rows]
    ys = [int(row["y"]) for row in rows]
    return xs, ys


def solve(a, b):
    """Solve the square system a·x = b by Gaussian elimination with partial pivoting."""
    n = len(b)
    m = [row[:] + [b[i]] for i, row in enumerate(a)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(m[r][col]))
        m[col], m[pivot] = m[pivot], m[col]
        if abs(m[col][col]) < 1e-12:
            raise ValueError("singular design matrix")
        for r in range(n):
            if r != col:
                factor = m[r][col] / m[col][col]
                m[r] = [x - factor * y for x, y in zip(m[r], m[col])]
    return [m[i][n] / m[i][i] for i in range(n)]


def fit_linear_probability(xs, ys, steps):
    k = len(xs[0])
    xtx = [[sum(x[i] * x[j] for x in xs) for j in range(k)] for i in range(k)]
    xty = [sum(x[i] * y for x, y in zip(xs, ys)) for i in range(k)]
    beta = solve(xtx, xty)
    predict = lambda x: 1 if sum(b * v for b, v in zip(beta, x)) >= 0.5 else 0
    return {"coefficients": dict(zip(("const",) + FEATURES, beta))}, predict


def _sigmoid(z):
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def fit_logistic_model(xs, ys, steps, rate=0.5):
    k, n = len(xs[0]), len(xs)
    beta = [0.0] * k
    for _ in range(steps):
        grad = [0.0] * k
        for x, y in zip(xs, ys):
            err = _sigmoid(sum(b * v for b, v in zip(beta, x))) - y
            for i in range(k):
                grad[i] += err * x[i]
        beta = [b - rate * g / n for b, g in zip(beta, grad)]
    predict = lambda x: 1 if sum(b * v for b, v in zip(beta, x)) >= 0.0 else 0
    return {"coefficients": dict(zip(("const",) + FEATURES, beta))}, predict


def fit_decision_tree(xs, ys, steps):
    best = None  # (errors, feature index, threshold, label left, label right)
    for f in range(1, len(xs[0])):
        for threshold in sorted({x[f] for x in xs}):
            left = [y for x, y in zip(xs, ys) if x[f] < threshold]
            right = [y for x, y in zip(xs, ys) if x[f] >= threshold]
            label_l = 1 if 2 * sum(left) > len(left) else 0
            label_r = 1 if 2 * sum(right) > len(right) else 0
            errors = sum(y != label_l for y in left) + sum(y != label_r for y in right)
            if best is None or errors < best[0]:
                best = (errors, f, threshold, label_l, label_r)
    _, f, threshold, label_l, label_r = best
    predict = lambda x: label_l if x[f] < threshold else label_r
    split = {"feature": FEATURES[f - 1], "threshold": threshold, "left": label_l, "right": label_r}
    return {"split": split}, predict


MODELS = {
    "linear_probability": fit_linear_probability,
    "logistic_model": fit_logistic_model,
    "decision_tree": fit_decision_tree,
}


def accuracy(predict, xs, ys):
    return sum(predict(x) == y for x, y in zip(xs, ys)) / len(ys) if ys else float("nan")


def rounded(value):
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, choices=sorted(MODELS))
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--steps", type=int, default=300, help="gradient steps (logistic_model)")
    parser.add_argument("input")
    parser.add_argument("output")
    args = parser.parse_args()

    xs, ys = load(args.input)
    order = list(range(len(ys)))
    random.Random(args.seed).shuffle(order)
    cut = (3 * len(order)) // 4
    train, test = order[:cut], order[cut:]
    fitted, predict = MODELS[args.model]([xs[i] for i in train], [ys[i] for i in train], args.steps)
    result = {
        "model": args.model,
        "input": args.input,
        "seed": args.seed,
        "n_train": len(train),
        "n_test": len(test),
        **fitted,
        "train_accuracy": accuracy(predict, [xs[i] for i in train], [ys[i] for i in train]),
        "test_accuracy": accuracy(predict, [xs[i] for i in test], [ys[i] for i in test]),
    }
    with open(args.output, "w", encoding="utf-8") as fh:
        json.dump(rounded(result), fh, indent=2, sort_keys=False)
        fh.write("\n")
    print(
        f"estimate: {args.model} on {args.input}: {len(train)} training rows, "
        f"test accuracy {result['test_accuracy']:.3f}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
