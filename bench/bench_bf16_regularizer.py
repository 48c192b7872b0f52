"""The regularizer's contribution under bf16 autocast against fp32: does the regularized gradient keep its direction?

    python bench/bench_bf16_regularizer.py [--out bench/results]

For a smooth tanh MLP, the mini ladder's convnet and resnet8 (fresh weights, CIFAR-10 block of 32, seed 0), the
contribution of the regularizer to a block gradient is `regularized − plain` (alpha 0.5, lr 0.8, the paper's
convention), each formed the way a bf16 run forms it: inside `torch.autocast(bfloat16)`. Reported: cosine and norm
ratio against the same method's fp32 contribution, for double backprop, for the finite difference, and for the
finite difference as fbtrain computed it before the fix (both passes inside autocast). One thread.
Writes `bf16_regularizer.json` and `.md`.
"""
import argparse, json, sys
from pathlib import Path
import torch, torch.nn.functional as F
sys.path.insert(0, str(Path(__file__).parent))
from common import machine, RESULTS
from fbtrain.data import get_data
from fbtrain.models import get_model
from fbtrain.gradient import block_grad, frozen_bn_stats, trainable
from fbtrain.regularizer import GradNormRegularizer

def flat(g): return torch.cat([x.float().flatten() for x in g])

def finite_diff_before(reg, model, params, xb, yb, loss_func, lr):
    "fbtrain's finite difference before the fix: both passes under the caller's autocast (kept here to measure it)."
    loss, g = block_grad(model, params, xb, yb, loss_func)
    gn = torch.nn.utils.get_total_norm(g); c = reg.coef(lr); h = reg.eps/gn
    saved = [p.detach().clone() for p in params]
    with torch.no_grad(): torch._foreach_add_(params, [gi*h for gi in g])
    with frozen_bn_stats(model): _, g2 = block_grad(model, params, xb, yb, loss_func)
    with torch.no_grad(): torch._foreach_copy_(params, saved)
    return loss, [gi + (g2i - gi)*(2*c/h) for gi, g2i in zip(g, g2)], c*gn.item()**2

METHODS = {'finite-diff, before the fix': 'finite-diff', 'finite-diff': 'finite-diff', 'double-backprop': 'double-backprop'}

def contribution(model, xb, yb, method, bf16):
    "Regularized minus plain block gradient, as a bf16 run (autocast around the whole gradient pass) or fp32 run forms it."
    ps, reg = trainable(model), GradNormRegularizer(0.5, method=METHODS[method])
    ctx = torch.autocast('cpu', dtype=torch.bfloat16) if bf16 else torch.autocast('cpu', enabled=False)
    with ctx:
        _, g = block_grad(model, ps, xb, yb)
        if method.endswith('before the fix'): _, gr, _ = finite_diff_before(reg, model, ps, xb, yb, F.cross_entropy, 0.8)
        else: _, gr, _ = reg.block_grad(model, ps, xb, yb, lr=0.8)
    return flat(gr) - flat(g)

def nets(data):
    torch.manual_seed(0)
    yield 'tanh MLP', get_model('mlp', in_features=3*32*32, width=128, depth=2, act='tanh')
    torch.manual_seed(0); yield 'convnet', get_model('convnet')
    torch.manual_seed(0); yield 'resnet8', get_model('resnet8')

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--out', default=str(RESULTS))
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    data = get_data('cifar10', n_per_class=32, n_test=100, device='cpu')
    xb, yb = data.x_train[:32], data.y_train[:32]
    rows = []
    for name, model in nets(data):
        model.train()
        if name == 'tanh MLP': model = torch.nn.Sequential(torch.nn.Flatten(), model)
        for method in METHODS:
            ref = contribution(model, xb, yb, METHODS[method], False)      # the same method in fp32
            for bf16 in (True,):
                c = contribution(model, xb, yb, method, bf16)
                rows.append(dict(net=name, method=method, precision='bf16' if bf16 else 'fp32',
                                 cosine=round(F.cosine_similarity(c, ref, dim=0).item(), 4),
                                 norm_ratio=round((c.norm()/ref.norm()).item(), 4)))
                print(rows[-1], flush=True)
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    res = dict(meta=machine(), rows=rows)
    (out/'bf16_regularizer.json').write_text(json.dumps(res, indent=1) + '\n')
    md = ['# The regularizer under bf16 autocast', '',
          'Contribution of the regularizer to one block gradient (regularized − plain; alpha 0.5, lr 0.8, CIFAR-10 block '
          'of 32, seed 0, fresh weights) under bf16 autocast, against the same method in fp32. Before the fix the '
          'finite difference ran inside autocast; now it runs its two passes in fp32.', '',
          '| net | method | precision | cosine | norm ratio |', '|---|---|---|---|---|']
    md += [f"| {r['net']} | {r['method']} | {r['precision']} | {r['cosine']:.3f} | {r['norm_ratio']:.3f} |" for r in rows]
    (out/'bf16_regularizer.md').write_text('\n'.join(md) + '\n')

if __name__ == '__main__':
    main()
