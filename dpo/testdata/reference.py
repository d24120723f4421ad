#!/usr/bin/env python3
"""Reference values for the dpo package's losses, computed outside Go.

This is an independent implementation of the preference losses as TRL
defines them, evaluated in arbitrary precision with mpmath (60 significant
digits) so that the float64 Go code can be checked to 1e-9 relative:

  * sigmoid, robust, hinge, ipo, nca_pair: trl.DPOTrainer.dpo_loss, with IPO
    on per-token average log-probabilities (DPOTrainer.concatenated_forward
    divides by the completion length for "ipo");
  * simpo: trl.CPOTrainer.cpo_loss for loss_type "simpo", on per-token average
    log-probabilities, without label smoothing;
  * kto: trl.KTOTrainer.kto_loss, with the KL reference point the detached
    mean of the mismatched log-ratios, clamped at 0;
  * soft: sigmoid and robust with a per-pair soft label, the probability
    prob that the chosen response is preferred, as label_smoothing
    1 − prob (cDPO's ε for that pair alone);
  * groups: GRPO as trl.GRPOTrainer computes it (advantages of
    _generate_and_score_completions, _compute_loss with
    importance_sampling_level "sequence", the k3 per-token KL and loss_type
    "dapo" or "grpo") on completions whose per-token log-probabilities are
    all equal, LogP/Len, since the Go side sees only summed ones; and RLOO
    as trl.RLOOTrainer computes it (the KL penalty β·(old − ref) summed over
    tokens in the reward, the leave-one-out baseline, the clipped sequence
    ratio, the mean over completions).

The formulas are written here as TRL writes them, with no numerical tricks
beyond mpmath's exact log1p for log(1 + ·) (without it, 1 + e^(−700) would
round to 1 even at 60 digits). The KTO cases run at 500 digits, since TRL's
1 − σ(u) form cancels in the tails.
Every analytic derivative is cross-checked against mpmath's numerical
differentiation before it is written out.

Run from the repository root to regenerate dpo/testdata/reference.json:

    python3 dpo/testdata/reference.py > dpo/testdata/reference.json

The Go tests only read the JSON; they never run Python.
"""

import json
import sys

import mpmath
from mpmath import mp, mpf

mp.dps = 60
DIGITS = 20  # significant digits written out; float64 needs 17


def logsigmoid(x):
    # log1p is log(1 + ·) evaluated exactly: at 60 digits, 1 + e^(−700)
    # would round to 1 before the logarithm saw the tail.
    return -mp.log1p(mp.exp(-x))


def sigmoid(x):
    return 1 / (1 + mp.exp(-x))


def relu(x):
    return x if x > 0 else mpf(0)


# Each loss maps (params, c, r, rc, rr, lc, lr) to the loss value, with c and
# r the policy log-probabilities the derivatives are taken with respect to.


def loss_sigmoid(p, c, r, rc, rr, lc, lr):
    beta, eps = mpf(p["beta"]), mpf(p["label_smoothing"])
    logits = (c - r) - (rc - rr)  # pi_logratios - ref_logratios
    return -logsigmoid(beta * logits) * (1 - eps) - logsigmoid(-beta * logits) * eps


def loss_robust(p, c, r, rc, rr, lc, lr):
    beta, eps = mpf(p["beta"]), mpf(p["label_smoothing"])
    logits = (c - r) - (rc - rr)
    return (-logsigmoid(beta * logits) * (1 - eps) + logsigmoid(-beta * logits) * eps) / (1 - 2 * eps)


def loss_hinge(p, c, r, rc, rr, lc, lr):
    beta = mpf(p["beta"])
    logits = (c - r) - (rc - rr)
    return relu(1 - beta * logits)


def loss_ipo(p, c, r, rc, rr, lc, lr):
    beta = mpf(p["beta"])
    # concatenated_forward averages every log-probability for "ipo".
    logits = (c / lc - r / lr) - (rc / lc - rr / lr)
    return (logits - 1 / (2 * beta)) ** 2


def loss_simpo(p, c, r, rc, rr, lc, lr):
    beta, gamma = mpf(p["beta"]), mpf(p["gamma"])
    logits = c / lc - r / lr
    logits = logits - gamma / beta
    return -logsigmoid(beta * logits)


def loss_nca(p, c, r, rc, rr, lc, lr):
    beta = mpf(p["beta"])
    chosen_rewards = (c - rc) * beta
    rejected_rewards = (r - rr) * beta
    return -logsigmoid(chosen_rewards) - mpf("0.5") * logsigmoid(-chosen_rewards) - mpf("0.5") * logsigmoid(-rejected_rewards)


# Analytic derivatives with respect to c and r, derived by hand from the
# formulas above.


def grad_sigmoid(p, c, r, rc, rr, lc, lr):
    beta, eps = mpf(p["beta"]), mpf(p["label_smoothing"])
    z = beta * ((c - r) - (rc - rr))
    g = beta * (-(1 - eps) * sigmoid(-z) + eps * sigmoid(z))
    return g, -g


def grad_robust(p, c, r, rc, rr, lc, lr):
    beta, eps = mpf(p["beta"]), mpf(p["label_smoothing"])
    z = beta * ((c - r) - (rc - rr))
    g = beta * (-(1 - eps) * sigmoid(-z) - eps * sigmoid(z)) / (1 - 2 * eps)
    return g, -g


def grad_hinge(p, c, r, rc, rr, lc, lr):
    beta = mpf(p["beta"])
    z = beta * ((c - r) - (rc - rr))
    if 1 - z > 0:
        return -beta, beta
    return mpf(0), mpf(0)


def grad_ipo(p, c, r, rc, rr, lc, lr):
    beta = mpf(p["beta"])
    d = (c / lc - r / lr) - (rc / lc - rr / lr) - 1 / (2 * beta)
    return 2 * d / lc, -2 * d / lr


def grad_simpo(p, c, r, rc, rr, lc, lr):
    beta, gamma = mpf(p["beta"]), mpf(p["gamma"])
    z = beta * (c / lc - r / lr) - gamma
    g = -beta * sigmoid(-z)
    return g / lc, -g / lr


def grad_nca(p, c, r, rc, rr, lc, lr):
    beta = mpf(p["beta"])
    a, b = beta * (c - rc), beta * (r - rr)
    return beta * (-sigmoid(-a) + sigmoid(a) / 2), beta * sigmoid(b) / 2


def rewards_dpo(p, c, r, rc, rr, lc, lr):
    beta = mpf(p["beta"])
    return beta * (c - rc), beta * (r - rr), c, r


def rewards_ipo(p, c, r, rc, rr, lc, lr):
    beta = mpf(p["beta"])
    return beta * (c / lc - rc / lc), beta * (r / lr - rr / lr), c / lc, r / lr


def rewards_simpo(p, c, r, rc, rr, lc, lr):
    # CPOTrainer: chosen_rewards = beta * policy_chosen_logps (averaged).
    beta = mpf(p["beta"])
    return beta * (c / lc), beta * (r / lr), c / lc, r / lr


LOSSES = {
    "sigmoid": (loss_sigmoid, grad_sigmoid, rewards_dpo),
    "robust": (loss_robust, grad_robust, rewards_dpo),
    "hinge": (loss_hinge, grad_hinge, rewards_dpo),
    "ipo": (loss_ipo, grad_ipo, rewards_ipo),
    "simpo": (loss_simpo, grad_simpo, rewards_simpo),
    "nca": (loss_nca, grad_nca, rewards_dpo),
}

PARAMS = {
    "sigmoid": [
        {"beta": 0.1, "label_smoothing": 0.0},
        {"beta": 0.5, "label_smoothing": 0.1},
        {"beta": 2.0, "label_smoothing": 0.25},
        {"beta": 0.001, "label_smoothing": 0.5},
    ],
    "robust": [
        {"beta": 0.1, "label_smoothing": 0.0},
        {"beta": 0.1, "label_smoothing": 0.1},
        {"beta": 1.0, "label_smoothing": 0.4},
        {"beta": 0.05, "label_smoothing": 0.49},
    ],
    "hinge": [{"beta": 0.1}, {"beta": 1.0}, {"beta": 10.0}],
    "ipo": [{"beta": 0.5}, {"beta": 0.125}, {"beta": 0.0009765625}],
    "simpo": [
        {"beta": 2.0, "gamma": 0.5},
        {"beta": 0.1, "gamma": 0.5},
        {"beta": 10.0, "gamma": 1.6},
        {"beta": 2.5, "gamma": 0.0},
    ],
    "nca": [{"beta": 0.1}, {"beta": 1.0}],
}

# Targets for the argument of the loss's sigmoid (or hinge, or square): from
# the flat middle out to the far tails, both signs.
TARGETS = [0.0]
for t in [1e-8, 1e-4, 0.5, 1.0, 2.0, 5.0, 20.0, 40.0, 100.0, 700.0, 1e3, 1e4, 1e6]:
    TARGETS += [t, -t]

LENGTHS = [(1, 1), (3, 7), (12, 5)]
IPO_LENGTHS = [(1, 1), (4, 8), (16, 2)]


def split(h, with_refs):
    """Returns float64 (c, r, rc, rr), all ≤ 0, with (c−rc)−(r−rr) ≈ h.

    The floats themselves are what the reference evaluates, so the
    approximation does not matter; it only places the case on the grid."""
    if not with_refs:
        base = -2.0
        return (base, base - h, 0.0, 0.0) if h >= 0 else (base + h, base, 0.0, 0.0)
    if abs(h) < 10:
        return (-10.0, -10.0 - h / 2, -10.0, -10.0 + h / 2)
    if h > 0:
        return (-1.0, -3.0, -1.0 - h, -3.0)
    return (-1.0 + h, -3.0, -1.0, -3.0)


def pair_cases(name, p):
    beta = p["beta"]
    cases = []
    for t in TARGETS:
        if name == "hinge" and t == 1.0:
            continue  # the kink: the derivative is a convention, not a number
        for with_refs in (False, True):
            if name == "ipo":
                # t is the square's argument h̄ − 1/(2β); IPO's betas and
                # lengths are powers of two so that near its minimum the
                # float64 inputs pin h̄ − 1/(2β) down exactly (otherwise the
                # rounding of 1/(2β) alone exceeds 1e-9 of a tiny result).
                for lc, lr in IPO_LENGTHS:
                    a = t + 1 / (2 * beta)
                    c, r, rc, rr = split_ipo(a, lc, lr) if with_refs else split_avg(a, lc, lr)
                    cases.append((c, r, rc, rr, lc, lr))
            elif name == "simpo":
                # t is the argument of the sigmoid, β·(averages) − γ
                for lc, lr in LENGTHS:
                    c, r, _, _ = split_avg((t + p["gamma"]) / beta, lc, lr)
                    rc, rr = (-4.0, -6.0) if with_refs else (0.0, 0.0)
                    cases.append((c, r, rc, rr, lc, lr))
            elif name == "nca":
                # t drives one implicit reward, other the other one
                for other in (-3.0, 2.0):
                    a = split_one(t / beta, with_refs)
                    b = split_one(other / beta, with_refs)
                    cases.append((a[0], b[0], a[1], b[1], 0, 0))
                    cases.append((b[0], a[0], b[1], a[1], 0, 0))
            else:
                # t is βh
                c, r, rc, rr = split(t / beta, with_refs)
                cases.append((c, r, rc, rr, 0, 0))
    return cases


def split_one(x, with_refs):
    """Returns float64 (logp, ref), both ≤ 0, with logp − ref ≈ x."""
    if not with_refs:
        return (-x, -2.0 * x) if x >= 0 else (x, 0.0)
    return (-5.0, -5.0 - x) if x >= 0 else (-5.0 + x, -5.0)


def split_avg(a, lc, lr):
    """Returns float64 (c, r, rc, rr) with c/lc − r/lr ≈ a and zero refs."""
    if a >= 0:
        return (-1.0 * lc, (-1.0 - a) * lr, 0.0, 0.0)
    return ((-1.0 + a) * lc, -1.0 * lr, 0.0, 0.0)


def split_ipo(a, lc, lr):
    """Returns float64 (c, r, rc, rr) with (c−rc)/lc − (r−rr)/lr ≈ a."""
    if a >= 0:
        return (-2.0 * lc, -3.0 * lr, (-2.0 - a) * lc, -3.0 * lr)
    return ((-2.0 + a) * lc, -3.0 * lr, -2.0 * lc, -3.0 * lr)


def s(x):
    return mpmath.nstr(x, DIGITS, strip_zeros=False, min_fixed=1, max_fixed=0)


# Per-pair soft labels: (loss, beta, probabilities); robust needs prob > ½.
SOFT = [
    ("sigmoid", 0.1, ["1", "0.9", "0.5", "0.3", "0", "1e-12", "0.999999"]),
    ("sigmoid", 2.0, ["0.75", "0.2"]),
    ("robust", 0.1, ["1", "0.9", "0.6", "0.51"]),
    ("robust", 1.0, ["0.999", "0.7"]),
]
SOFT_TARGETS = [0.0, 1e-4, -1e-4, 0.5, -0.5, 2.0, -2.0, 20.0, -20.0, 100.0, -100.0]


def soft_cases():
    out = []
    for name, beta, probs in SOFT:
        for prob in probs:
            # The label as the Go side reads it: the float64 nearest prob.
            fp = float(prob)
            p = {"beta": beta, "label_smoothing": 1 - mpf(fp)}
            for t in SOFT_TARGETS:
                raw = split(t / beta, True) + (0, 0)
                loss, g, _ = evaluate(name, p, raw)
                out.append({
                    "loss": name, "beta": beta, "prob": fp, "pair": list(raw),
                    "value": s(loss), "d_chosen": s(g[0]), "d_rejected": s(g[1]),
                })
    return out


# Group policy-gradient losses. A completion is (logp, old, ref, len): summed
# log-probabilities under the policy, the sampling policy and the reference.


def nanstd(xs):
    # trl.trainer.utils.nanstd: Bessel's correction, NaN for one value.
    n = len(xs)
    if n < 2:
        return mp.nan
    m = sum(xs) / n
    return mp.sqrt(sum((x - m) ** 2 for x in xs) / n * n / (n - 1))


def adv_grpo(p, rewards, seqs):
    m = sum(rewards) / len(rewards)
    std = nanstd(rewards)
    out = []
    for r in rewards:
        a = r - m
        if p.get("scale", True):
            a = a / (std + mpf("1e-4"))
        out.append(mpf(0) if mp.isnan(a) else a)  # torch.nan_to_num
    return out


def adv_rloo(p, rewards, seqs):
    beta = mpf(p["beta"])
    shaped = [r - beta * (old - ref) for r, (_, old, ref, _) in zip(rewards, seqs)]
    n = len(shaped)
    if n < 2:
        return [mpf(0)] * n
    total = sum(shaped)
    return [r - (total - r) / (n - 1) for r in shaped]


def loss_grpo(p, seqs, advs):
    beta, lo, hi = mpf(p["beta"]), 1 - mpf(p["epsilon"]), 1 + mpf(p["epsilon_high"])
    per_seq = []  # (sum of per-token losses, number of tokens)
    for (logp, old, ref, n), a in zip(seqs, advs):
        toks = [logp / n] * n  # per_token_logps
        olds = [old / n] * n
        refs = [ref / n] * n
        log_ratio = [t - o for t, o in zip(toks, olds)]
        coef_1 = mp.exp(sum(log_ratio) / n)  # importance_sampling_level "sequence"
        coef_2 = min(max(coef_1, lo), hi)
        total = mpf(0)
        for t, r in zip(toks, refs):
            loss = -min(coef_1 * a, coef_2 * a)
            if beta != 0:
                loss += beta * (mp.exp(r - t) - (r - t) - 1)
            total += loss
        per_seq.append((total, n))
    if p["loss_type"] == "dapo":
        return sum(t for t, _ in per_seq) / sum(n for _, n in per_seq)
    return sum(t / n for t, n in per_seq) / len(per_seq)  # "grpo"


def loss_rloo(p, seqs, advs):
    lo, hi = 1 - mpf(p["epsilon"]), 1 + mpf(p["epsilon_high"])
    total = mpf(0)
    for (logp, old, _, _), a in zip(seqs, advs):
        coef_1 = mp.exp(logp - old)
        coef_2 = min(max(coef_1, lo), hi)
        total += -min(coef_1 * a, coef_2 * a)
    return total / len(seqs)


# Analytic derivatives with respect to each completion's logp.


def surrogate_grad(w, a, lo, hi):
    c = min(max(w, lo), hi)
    return mpf(0) if c * a < w * a else -a


def grad_grpo(p, seqs, advs):
    beta, lo, hi = mpf(p["beta"]), 1 - mpf(p["epsilon"]), 1 + mpf(p["epsilon_high"])
    tokens = sum(n for *_, n in seqs)
    out = []
    for (logp, old, ref, n), a in zip(seqs, advs):
        w = mp.exp((logp - old) / n)
        d = (ref - logp) / n
        g = surrogate_grad(w, a, lo, hi) * w / n + beta * (1 - mp.exp(d)) / n
        out.append(n * g / tokens if p["loss_type"] == "dapo" else g / len(seqs))
    return out


def grad_rloo(p, seqs, advs):
    lo, hi = 1 - mpf(p["epsilon"]), 1 + mpf(p["epsilon_high"])
    out = []
    for (logp, old, _, _), a in zip(seqs, advs):
        rho = mp.exp(logp - old)
        out.append(surrogate_grad(rho, a, lo, hi) * rho / len(seqs))
    return out


GROUP_LOSSES = {"grpo": (adv_grpo, loss_grpo, grad_grpo), "rloo": (adv_rloo, loss_rloo, grad_rloo)}

GROUP_PARAMS = [
    ("grpo", {"beta": 0.0, "epsilon": 0.2, "epsilon_high": 0.2, "loss_type": "dapo", "scale": True}),
    ("grpo", {"beta": 0.04, "epsilon": 0.2, "epsilon_high": 0.28, "loss_type": "dapo", "scale": True}),
    ("grpo", {"beta": 0.1, "epsilon": 0.1, "epsilon_high": 0.1, "loss_type": "grpo", "scale": True}),
    ("grpo", {"beta": 0.0, "epsilon": 0.2, "epsilon_high": 0.2, "loss_type": "dapo", "scale": False}),
    ("rloo", {"beta": 0.05, "epsilon": 0.2, "epsilon_high": 0.2}),
    ("rloo", {"beta": 0.0, "epsilon": 0.2, "epsilon_high": 0.2}),
    ("rloo", {"beta": 0.2, "epsilon": 0.1, "epsilon_high": 0.3}),
]

# Two groups and a group of one. The policy equals the sampler for some
# completions (ratio 1) and has moved for others, into and beyond the clip
# range in both directions; no ratio sits on a clip boundary, where the
# derivative is a convention.
GROUP_BATCH = [
    {"rewards": [1.0, 0.0, 0.5, 0.25],
     "seqs": [(-11.0, -12.0, -11.0, 2), (-10.5, -9.5, -10.5, 2), (-20.0, -18.0, -19.0, 8), (-3.0, -3.1, -2.0, 2)]},
    {"rewards": [3.0, -2.0, 7.5],
     "seqs": [(-4.0, -4.5, -4.25, 3), (-30.0, -30.0, -25.0, 12), (-1.5, -1.0, -1.75, 1)]},
    {"rewards": [4.0], "seqs": [(-6.0, -6.2, -6.0, 4)]},
]


def group_cases():
    out = []
    for name, p in GROUP_PARAMS:
        af, lf, gf = GROUP_LOSSES[name]
        advs, seqs = [], []
        for g in GROUP_BATCH:
            gs = [tuple(mpf(x) for x in sq[:3]) + (sq[3],) for sq in g["seqs"]]
            advs += af(p, [mpf(r) for r in g["rewards"]], gs)
            seqs += gs
        loss = lf(p, seqs, advs)
        grad = gf(p, seqs, advs)
        for k, want in enumerate(grad):
            def fk(x):
                s2 = list(seqs)
                s2[k] = (x,) + seqs[k][1:]
                return lf(p, s2, advs)
            num = mp.diff(fk, seqs[k][0])
            if abs(num - want) > mpf("1e-30") * max(1, abs(want)):
                sys.exit(f"reference.py: {name} {p}: analytic derivative {k} = {want}, numerical {num}")
        out.append({
            "loss": name, "params": p,
            "groups": [{"rewards": g["rewards"], "seqs": [list(x) for x in g["seqs"]]} for g in GROUP_BATCH],
            "advantages": [s(a) for a in advs], "value": s(loss), "d_logp": [s(x) for x in grad],
        })
    return out


def check_grad(name, p, args, g):
    f, _, _ = LOSSES[name]
    c, r, rc, rr, lc, lr = args
    for k, want in enumerate(g):
        def fk(x):
            a = [c, r]
            a[k] = x
            return f(p, a[0], a[1], rc, rr, lc, lr)
        num = mp.diff(fk, args[k])
        if abs(num - want) > mpf("1e-30") * max(1, abs(want)) and not (abs(want) < mpf("1e-300") and abs(num) < mpf("1e-300")):
            sys.exit(f"reference.py: {name} {p} {args}: analytic derivative {k} = {want}, numerical {num}")


def evaluate(name, p, raw):
    f, gf, rf = LOSSES[name]
    c, r, rc, rr = (mpf(x) for x in raw[:4])
    lc, lr = mpf(raw[4] or 1), mpf(raw[5] or 1)
    args = (c, r, rc, rr, lc, lr)
    loss = f(p, *args)
    g = gf(p, *args)
    check_grad(name, p, args, g)
    return loss, g, rf(p, *args)


def main():
    out = {
        "source": "dpo/testdata/reference.py: mpmath %s at %d significant digits (KTO at 500); formulas of TRL's "
                  "DPOTrainer.dpo_loss (sigmoid, robust, hinge, ipo, nca_pair), CPOTrainer.cpo_loss (simpo), "
                  "KTOTrainer.kto_loss (kto); soft: sigmoid and robust with label_smoothing 1 − prob per pair; "
                  "groups: GRPOTrainer (sequence-level weights, k3 KL, dapo/grpo) and RLOOTrainer losses" % (mpmath.__version__, mp.dps),
        "pairs": [],
        "batches": [],
        "kto": [],
        "soft": soft_cases(),
        "groups": group_cases(),
    }
    for name in LOSSES:
        for p in PARAMS[name]:
            for raw in pair_cases(name, p):
                loss, g, rw = evaluate(name, p, raw)
                out["pairs"].append({
                    "loss": name, "params": p, "pair": list(raw),
                    "value": s(loss), "d_chosen": s(g[0]), "d_rejected": s(g[1]),
                    "rewards": [s(x) for x in rw],
                })
    # One batch per loss: the mean loss, the derivatives of the mean and
    # TRL's metrics (rewards/accuracies counts strict >).
    batch_raw = [
        (-12.5, -14.0, -12.0, -13.0, 5, 7),
        (-3.25, -2.0, -3.5, -2.5, 2, 1),
        (-40.0, -41.0, -40.0, -41.0, 9, 9),
        (-7.0, -9.5, -6.0, -8.0, 4, 6),
        (-0.5, -30.0, -1.5, -20.0, 1, 11),
    ]
    for name in LOSSES:
        p = PARAMS[name][1]
        n = mpf(len(batch_raw))
        total = mpf(0)
        dcs, drs = [], []
        m = {k: mpf(0) for k in ("rewards/chosen", "rewards/rejected", "rewards/accuracies",
                                 "rewards/margins", "logps/chosen", "logps/rejected")}
        for raw in batch_raw:
            loss, g, (rwc, rwr, lpc, lpr) = evaluate(name, p, raw)
            total += loss
            dcs.append(s(g[0] / n))
            drs.append(s(g[1] / n))
            m["rewards/chosen"] += rwc / n
            m["rewards/rejected"] += rwr / n
            m["rewards/accuracies"] += (1 if rwc > rwr else 0) / n
            m["rewards/margins"] += (rwc - rwr) / n
            m["logps/chosen"] += lpc / n
            m["logps/rejected"] += lpr / n
        out["batches"].append({
            "loss": name, "params": p, "pairs": [list(r) for r in batch_raw],
            "value": s(total / n), "d_chosen": dcs, "d_rejected": drs,
            "metrics": {k: s(v) for k, v in m.items()},
        })
    # KTO: unpaired completions, the KL reference point from mismatched
    # samples, the mean of the weighted losses and its derivatives.
    kto_xs = [(-10.0, -11.0, True), (-4.0, -3.0, True), (-20.0, -15.0, False), (-8.0, -8.5, False), (-1.0, -1.25, True)]
    mp.dps = 500
    for p, kl_samples in [
        ({"beta": 0.1, "desirable_weight": 1.0, "undesirable_weight": 1.0}, [(-9.0, -10.0), (-5.0, -5.5), (-30.0, -29.0)]),
        ({"beta": 2.0, "desirable_weight": 1.0, "undesirable_weight": 1.33}, [(-9.0, -8.0), (-5.0, -4.0)]),
        ({"beta": 50.0, "desirable_weight": 0.5, "undesirable_weight": 2.0}, [(-1.0, -3.0)]),
    ]:
        beta, wd, wu = mpf(p["beta"]), mpf(p["desirable_weight"]), mpf(p["undesirable_weight"])
        kl = sum(mpf(a) - mpf(b) for a, b in kl_samples) / len(kl_samples)
        kl = max(kl, mpf(0))
        n = mpf(len(kto_xs))
        losses, ds = [], []
        chosen, rejected = [], []
        for lp, ref, desirable in kto_xs:
            lr = mpf(lp) - mpf(ref)
            if desirable:
                f = lambda x: wd * (1 - sigmoid(beta * ((x - mpf(ref)) - kl)))
                chosen.append((beta * lr, mpf(lp)))
            else:
                f = lambda x: wu * (1 - sigmoid(beta * (kl - (x - mpf(ref)))))
                rejected.append((beta * lr, mpf(lp)))
            losses.append(f(mpf(lp)))
            u = beta * (lr - kl)
            d = (-wd if desirable else wu) * beta * sigmoid(u) * (1 - sigmoid(u))
            num = mp.diff(f, mpf(lp))
            if abs(num - d) > mpf("1e-30") * max(1, abs(d)):
                sys.exit(f"reference.py: kto derivative {d} but numerically {num}")
            ds.append(s(d / n))
        rc = sum(x for x, _ in chosen) / len(chosen)
        rr = sum(x for x, _ in rejected) / len(rejected)
        out["kto"].append({
            "params": p, "completions": [list(x) for x in kto_xs], "kl_samples": [list(x) for x in kl_samples],
            "kl": s(kl), "value": s(sum(losses) / n), "d": ds,
            "metrics": {
                "rewards/chosen": s(rc), "rewards/rejected": s(rr), "rewards/margins": s(rc - rr),
                "logps/chosen": s(sum(x for _, x in chosen) / len(chosen)),
                "logps/rejected": s(sum(x for _, x in rejected) / len(rejected)),
            },
        })
    # One case per line: small enough to review, diff and load.
    w = sys.stdout.write
    w('{"source": %s,\n' % json.dumps(out["source"]))
    keys = ("pairs", "batches", "kto", "soft", "groups")
    for i, key in enumerate(keys):
        w(' "%s": [\n  ' % key)
        w(",\n  ".join(json.dumps(c, separators=(",", ":")) for c in out[key]))
        w("\n ]%s\n" % ("," if i < len(keys) - 1 else ""))
    w("}\n")


if __name__ == "__main__":
    main()
