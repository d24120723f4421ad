#!/usr/bin/env python3
"""Reference values for the reward package's Bradley-Terry objective,
computed outside Go.

This is an independent implementation of the reward-model loss as TRL's
RewardTrainer.compute_loss writes it, -logsigmoid(r_chosen - r_rejected),
extended to a soft label q (the probability that the chosen response is
preferred) as the binary cross-entropy of sigmoid(r_chosen - r_rejected)
against q, averaged over a batch, plus the (l2/2)*||w||^2 penalty. Rewards
are linear, r = w . phi, over sparse features given as (index, value)
lists. It is evaluated in arbitrary precision with mpmath (60 significant
digits), and every analytic gradient component is cross-checked against
mpmath's numerical differentiation before it is written out.

Run from the repository root to regenerate dpo/reward/testdata/reference.json:

    python3 dpo/reward/testdata/reference.py > dpo/reward/testdata/reference.json

The Go tests only read the JSON; they never run Python.
"""

import json
import sys

import mpmath
from mpmath import mp, mpf

mp.dps = 60
DIGITS = 20  # significant digits written out; float64 needs 17


def logsigmoid(x):
    return -mp.log1p(mp.exp(-x))


def sigmoid(x):
    return 1 / (1 + mp.exp(-x))


def reward(w, phi):
    return mp.fsum(w[i] * mpf(v) for i, v in phi)


def objective(w, batch, l2):
    total = mpf(0)
    for chosen, rejected, q in batch:
        d = reward(w, chosen) - reward(w, rejected)
        q = mpf(q)
        total += -q * logsigmoid(d) - (1 - q) * logsigmoid(-d)
    return total / len(batch) + mpf(l2) / 2 * mp.fsum(x * x for x in w)


def gradient(w, batch, l2):
    g = [mpf(l2) * x for x in w]
    for chosen, rejected, q in batch:
        d = reward(w, chosen) - reward(w, rejected)
        s = (sigmoid(d) - mpf(q)) / len(batch)
        for i, v in chosen:
            g[i] += s * mpf(v)
        for i, v in rejected:
            g[i] -= s * mpf(v)
    return g


def check(w, batch, l2, g):
    for k in range(len(w)):
        def f(x):
            ww = list(w)
            ww[k] = x
            return objective(ww, batch, l2)
        num = mp.diff(f, w[k])
        if abs(num - g[k]) > mpf(10) ** -30 * max(1, abs(g[k])):
            sys.exit("gradient %d: analytic %s, numerical %s" % (k, g[k], num))


def s(x):
    return mp.nstr(x, DIGITS, strip_zeros=False, min_fixed=-mp.inf, max_fixed=mp.inf)


# Each case: weights (as decimal strings, exact in float64), l2, and pairs of
# (chosen features, rejected features, q). q = 1 is a hard label.
CASES = [
    ("hard label, one pair", ["0.5", "-0.25", "1", "0"], 0,
     [([(0, 1), (2, 1)], [(1, 1), (3, 2)], 1)]),
    ("soft label, one pair", ["0.5", "-0.25", "1", "0"], 0,
     [([(0, 1), (2, 1)], [(1, 1), (3, 2)], 0.7310585786300049)]),
    ("soft labels and L2", ["0.125", "-2", "3.5", "0.75", "-1", "0"], 0.01,
     [([(0, 1), (1, 2)], [(2, 1)], 0.9),
      ([(3, 1), (4, 1)], [(0, 3), (5, 1)], 0.6),
      ([(5, 1)], [(1, 1), (4, 1)], 1)]),
    ("label against the model", ["4", "-4"], 0.5,
     [([(1, 1)], [(0, 1)], 1), ([(0, 1)], [(1, 1)], 0.25)]),
    ("large margin", ["30", "-30", "2"], 0.001,
     [([(0, 1), (2, 1)], [(1, 1)], 0.5), ([(1, 1)], [(0, 1)], 1)]),
    ("shared features cancel", ["1", "2", "3"], 0,
     [([(0, 1), (1, 1)], [(0, 1), (2, 1)], 0.8)]),
]


def main():
    out = {"source": "dpo/reward/testdata/reference.py (mpmath %s, %d digits)" % (mpmath.__version__, mp.dps), "cases": []}
    for name, ws, l2, pairs in CASES:
        w = [mpf(x) for x in ws]
        batch = [(c, r, q) for c, r, q in pairs]
        value = objective(w, batch, l2)
        g = gradient(w, batch, l2)
        check(w, batch, l2, g)
        out["cases"].append({
            "name": name,
            "weights": [float(x) for x in w],
            "l2": l2,
            "pairs": [{"chosen": c, "rejected": r, "q": q} for c, r, q in pairs],
            "value": s(value),
            "gradient": [s(x) for x in g],
        })
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")


main()
