#!/usr/bin/python3
"""Writes torch_reference.json: log-probabilities and gradients of a small
tinylm-shaped model computed by PyTorch in float64, the independent reference
of TestTorchReference.

The model is the one of /work/shared/bench/torch_tinylm_step.py (Embedding,
Linear, tanh, Linear, log_softmax) with V=14, C=3, E=4, H=5. The loss is
sum_i scales[i] * log p(sequence i), each sequence a list of (context, target)
rows. Run: /usr/bin/python3 torch_reference.py > torch_reference.json
"""
import json
import torch

torch.manual_seed(7)
V, C, E, H = 14, 3, 4, 5
emb = torch.nn.Embedding(V, E).double()
h = torch.nn.Linear(C * E, H).double()
out = torch.nn.Linear(H, V).double()
with torch.no_grad():
    for p in list(h.parameters()) + list(out.parameters()):
        p.mul_(3)  # larger weights so that tanh is in its nonlinear range
    for p in list(emb.parameters()) + list(h.parameters()) + list(out.parameters()):
        p.copy_(p.float().double())  # exactly representable in float32, as Go stores them

g = torch.Generator().manual_seed(11)
seqs = []
for n in (4, 1, 6):
    seqs.append({
        "ctx": torch.randint(0, V, (n, C), generator=g).tolist(),
        "tgt": torch.randint(0, V, (n,), generator=g).tolist(),
    })
scales = [0.7, -1.3, 2.0]

logps = []
total = 0
for s, sc in zip(seqs, scales):
    ctx, tgt = torch.tensor(s["ctx"]), torch.tensor(s["tgt"])
    x = emb(ctx).reshape(len(tgt), C * E)
    lp = torch.log_softmax(out(torch.tanh(h(x))), dim=-1).gather(1, tgt[:, None])[:, 0].sum()
    logps.append(lp.item())
    total = total + sc * lp
total.backward()

print(json.dumps({
    "torch": torch.__version__, "V": V, "C": C, "E": E, "H": H,
    "seqs": seqs, "scales": scales, "logps": logps,
    # PyTorch layouts: Linear weights are out x in.
    "emb": emb.weight.tolist(), "h_w": h.weight.tolist(), "h_b": h.bias.tolist(),
    "out_w": out.weight.tolist(), "out_b": out.bias.tolist(),
    "grad_emb": emb.weight.grad.tolist(), "grad_h_w": h.weight.grad.tolist(),
    "grad_h_b": h.bias.grad.tolist(), "grad_out_w": out.weight.grad.tolist(),
    "grad_out_b": out.bias.grad.tolist(),
}, indent=1))
