"""Target 6 (precision): bf16 autocast on the CPU (`Autocast('bf16')`) against fp32: speed of a full-batch step and the gradient's error.

Usage: python bench/bench_precision.py [--n 640] [--repeats 5] [--models convnet,resnet8] [--blocks 32,128]
       python bench/bench_precision.py --render    # rewrite precision.md from precision.json (and the ladder files)

Setting: the first n/10 CIFAR-10 training images of each class (640: the mini ladder's training set), the model in
channels_last (`to_device(model, 'cpu')`, as `fbtrain.recipes.build` makes it), 1 thread, `FullBatch(block)` with fresh
crops and flips every epoch (`Augment('random')`), Nesterov SGD at lr 0.01. A full-batch step is one epoch.

1. Speed: two Learners from the same initial model, `fp32` (no `Autocast`) and `bf16` (`cbs=[Autocast('bf16')]`); each
   repeat trains one more epoch of each, alternating (after one untimed warm-up epoch each). Seconds per step, median;
   speed ratio = fp32 seconds ÷ bf16 seconds (> 1: bf16 faster).
2. Gradient error: on the initial model and on the fp32 learner's weights after the timed steps, the full-batch gradient
   formed exactly as the Learner forms it (`learn._backward()`, with and without the `Autocast` callback) on the same
   un-augmented images: relative L2 difference ‖g_bf16 − g_fp32‖/‖g_fp32‖ and the loss's relative difference. For scale,
   the relative difference between the fp32 gradients of two augmentation draws of the same images (what separates one
   augmented full-batch step from another anyway).
3. Accuracy on the N=640 mini ladder (3 seeds): quoted from bench/results/mini-bf16/ladder.json (run separately with
   `precision=bf16`) beside bench/results/mini/ladder.json (fp32), where they exist.

Writes results/precision.json and precision.md.
"""
import argparse, copy, json, statistics, subprocess, time
from pathlib import Path
import torch
from common import RESULTS, machine, finish, facts_line, interleaved, med, set_threads, write, table
from fbtrain.data import get_data, make_blocks, TrainSet
from fbtrain.device import to_device
from fbtrain.gradient import rel_err, trainable
from fbtrain.ladder import paired_interval
from fbtrain.learner import Learner, FullBatch, Augment, Autocast
from fbtrain.models import get_model

LR = 0.01
TOL = dict(loss=1e-2, grad=2e-2)   # relative differences to fp32 within which bf16 counts as "the same result" (bench_throughput's BF16_TOL)
ROOT = Path(__file__).resolve().parent.parent


def grads(model): return [p.grad.detach().clone() for p in trainable(model)]


def gradient(learn, x, y, bf16:bool):
    "The full-batch gradient and loss exactly as `learn` forms them in a step (optionally under its `Autocast` callback)."
    cbs = learn.cbs
    learn.cbs = [c for c in cbs if not isinstance(c, Autocast)] + ([Autocast('bf16')] if bf16 else [])
    try:
        learn.model.train(); learn.batch = (x, y, make_blocks(len(y), learn.strategy.block_size))
        learn._backward(); g, loss = grads(learn.model), learn.loss
    finally: learn.cbs = cbs; learn.opt.zero_grad(set_to_none=True)
    return g, loss


def errors(learn, data, bs):
    "bf16-vs-fp32 differences of the gradient and loss on `learn`'s current weights, and the augmentation-draw scale."
    x, y = data.x_train, data.y_train
    g32, l32 = gradient(learn, x, y, False); g16, l16 = gradient(learn, x, y, True)
    a1 = TrainSet(x, y, 'random', seed=101, fill=data.fill).draw(lazy=True)[0]
    a2 = TrainSet(x, y, 'random', seed=202, fill=data.fill).draw(lazy=True)[0]
    ga, _ = gradient(learn, a1, y, False); gb, _ = gradient(learn, a2, y, False)
    return dict(grad_rel_err=rel_err(g16, g32), loss_fp32=l32, loss_bf16=l16, loss_rel_diff=abs(l16 - l32)/abs(l32),
                aug_draw_rel_diff=rel_err(ga, gb))


def config(name, bs, data, repeats):
    torch.manual_seed(0); m0 = to_device(get_model(name), 'cpu').train()
    L = {k: Learner(copy.deepcopy(m0), data, FullBatch(bs), lr=LR, cbs=[Augment('random')] + ([Autocast('bf16')] if k == 'bf16' else []))
         for k in ('fp32', 'bf16')}
    err0 = errors(Learner(copy.deepcopy(m0), data, FullBatch(bs), lr=LR), data, bs)
    step = lambda k: L[k].fit(L[k].epoch + 1)
    ts = interleaved({k: (lambda k=k: step(k)) for k in L}, repeats, warmup=1)
    err1 = errors(Learner(copy.deepcopy(L['fp32'].model), data, FullBatch(bs), lr=LR), data, bs)
    n = len(data.y_train)
    r = dict(model=name, block=bs, n=n, seconds=ts, s_per_step={k: med(v) for k, v in ts.items()},
             ips={k: n/med(v) for k, v in ts.items()}, speed_ratio=med(ts['fp32'])/med(ts['bf16']),
             fastest_ratio=min(ts['fp32'])/min(ts['bf16']), init=err0, trained=dict(steps=L['fp32'].epoch, **err1),
             train_loss_last={k: L[k].history[-1]['loss'] for k in L})
    print(f"{name:8} b{bs:3}: fp32 {r['s_per_step']['fp32']:.3f}s bf16 {r['s_per_step']['bf16']:.3f}s ratio {r['speed_ratio']:.2f} "
          f"| grad rel err init {err0['grad_rel_err']:.3g} trained {err1['grad_rel_err']:.3g} (aug draws {err0['aug_draw_rel_diff']:.3g})", flush=True)
    return r


def _git(*args)->str: return subprocess.run(['git', *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout


def ladder_summary(path:Path, from_git:bool=False)->dict|None:
    "recipe → test accuracies of a ladder.json: the working tree's, or (`from_git`) the last committed version if it is not there."
    rel = path.relative_to(ROOT)
    try: d = json.loads(path.read_text()); src = str(rel)
    except (OSError, ValueError):
        if not from_git: return None
        try:
            rev = _git('log', '-1', '--diff-filter=AM', '--format=%h', '--', str(rel)).strip()
            d = json.loads(_git('show', f'{rev}:{rel}')); src = f"{rel} as committed in {rev} (not in the working tree)"
        except (subprocess.CalledProcessError, ValueError, OSError): return None
    acc, by_seed = {}, {}
    for row in d.get('rows', []):
        if row.get('status', 'finished') == 'finished' and row.get('test_acc') is not None:
            acc.setdefault(row['recipe'], []).append(row['test_acc'])
            by_seed.setdefault(row['recipe'].split('/', 1)[-1], {})[row['seed']] = 100*row['test_acc']
    return dict(source=src, acc=acc, by_seed=by_seed)


def accuracy():
    bf = ladder_summary(ROOT/'bench/results/mini-bf16/ladder.json')
    fp = ladder_summary(ROOT/'bench/results/mini/ladder.json', from_git=True)
    return dict(bf16=bf, fp32=fp)


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--n', type=int, default=640); p.add_argument('--repeats', type=int, default=5)
    p.add_argument('--models', default='convnet,resnet8'); p.add_argument('--blocks', default='32,128')
    p.add_argument('--out', default=str(RESULTS))
    p.add_argument('--render', action='store_true', help='only rewrite the markdown from the existing json (re-reading the ladder files)')
    a = p.parse_args()
    if a.render:
        res = json.load(open(f'{a.out}/precision.json')); res['accuracy'] = accuracy()
        return write('precision', res, markdown(res), a.out)
    t0 = time.time(); meta = machine(); set_threads(1); meta['threads'] = 1
    data = get_data('cifar10', n_per_class=a.n//10, n_test=1000, device='cpu')
    meta.update(n=len(data.y_train), repeats=a.repeats, lr=LR)
    rows = [config(name, bs, data, a.repeats) for name in a.models.split(',') for bs in map(int, a.blocks.split(','))]
    res = dict(meta=finish(meta, t0), results=rows, accuracy=accuracy())
    write('precision', res, markdown(res), a.out)


def pct(v): return f"{100*v:.1f} %"


def acc_rows(s):
    "rung (the recipe name after its ladder prefix, e.g. 'fb-clip') → (mean %, std %, seeds)."
    out = {}
    for k, v in s['acc'].items(): out.setdefault(k.split('/', 1)[-1], []).extend(v)
    return {k: (100*statistics.mean(v), 100*statistics.stdev(v) if len(v) > 1 else 0., len(v)) for k, v in out.items()}


def markdown(res):
    m, R = res['meta'], res['results']
    L = ['# Target 6 (precision): bf16 autocast vs fp32 on the CPU', '', facts_line(m), '',
         f"{m['n']} CIFAR-10 training images, channels_last models, 1 thread, `FullBatch(block)` + `Augment('random')`, lr {m['lr']}. "
         f"`bf16` = the same Learner with `cbs=[Autocast('bf16')]` (fp32 weights, optimizer and accumulator; forward and backward "
         f"under `torch.autocast('cpu', torch.bfloat16)`). One full-batch step (= one epoch) per timing, fp32 and bf16 alternating, "
         f"{m['repeats']} repeats after one warm-up step each, medians.", '',
         '## Speed of a full-batch step', '']
    L += table(['model', 'block', 'fp32 s/step', 'bf16 s/step', 'fp32 img/s', 'bf16 img/s', 'speed ratio fp32 ÷ bf16 (median)', 'ratio of fastest repeats'],
               [[r['model'], r['block'], f"{r['s_per_step']['fp32']:.3f}", f"{r['s_per_step']['bf16']:.3f}", f"{r['ips']['fp32']:.0f}",
                 f"{r['ips']['bf16']:.0f}", f"**{r['speed_ratio']:.2f}**", f"{r['fastest_ratio']:.2f}"] for r in R])
    L += ['', '## Gradient and loss of bf16 relative to fp32 (same weights, same un-augmented images)', '',
          'Relative L2 difference of the full-batch gradient ‖g_bf16 − g_fp32‖/‖g_fp32‖, at the initial weights and after the fp32 learner\'s '
          f"{R[0]['trained']['steps']} steps (warm-up and timed; lr {m['lr']}); loss relative difference; and, for scale, the relative difference "
          'between the fp32 gradients of two augmentation draws of the same images.', '']
    L += table(['model', 'block', 'grad rel err (init)', f"grad rel err (after {R[0]['trained']['steps']} steps)", 'loss rel diff (init / after)',
                'two augmentation draws (init / after)'],
               [[r['model'], r['block'], f"**{r['init']['grad_rel_err']:.2e}**", f"**{r['trained']['grad_rel_err']:.2e}**",
                 f"{r['init']['loss_rel_diff']:.1e} / {r['trained']['loss_rel_diff']:.1e}",
                 f"{r['init']['aug_draw_rel_diff']:.2e} / {r['trained']['aug_draw_rel_diff']:.2e}"] for r in R])
    errs = [r[w]['grad_rel_err'] for r in R for w in ('init', 'trained')]; lerrs = [r[w]['loss_rel_diff'] for r in R for w in ('init', 'trained')]
    L += ['', f"Tolerance for \"the same result\" (as in bench_throughput.py): gradient rel diff ≤ {TOL['grad']}, loss rel diff ≤ {TOL['loss']}. "
          f"Loss: {sum(e <= TOL['loss'] for e in lerrs)} of {len(lerrs)} within (largest {max(lerrs):.1e}); gradient: "
          f"{sum(e <= TOL['grad'] for e in errs)} of {len(errs)} within (range {min(errs):.1e}–{max(errs):.1e}). bf16 stays opt-in "
          "(`Autocast('bf16')`, recipe `precision='bf16'`); whether the gradient error matters for accuracy is the ladder's question (below)."]
    L += ['', '## Accuracy on the N=640 mini ladder (3 seeds)', '']
    acc = res.get('accuracy') or {}
    bf, fp = acc.get('bf16'), acc.get('fp32')
    if not bf or not bf['acc']:
        L += ['Accuracy measurement running (bench/results/mini-bf16/ladder.json not there yet); '
              '`python bench/bench_precision.py --render` adds it here when it is.']
        if fp: L += ['', f"fp32 reference ({fp['source']}): " + ', '.join(f"`{k}` {mu:.2f} ± {sd:.2f} %" for k, (mu, sd, n) in acc_rows(fp).items()) + '.']
    else:
        A, B = acc_rows(fp) if fp else {}, acc_rows(bf)
        rows, noise = [], []
        for k in dict.fromkeys([*A, *B]):
            a_, b_ = A.get(k), B.get(k)
            iv = paired_interval(bf['by_seed'].get(k, {}), fp['by_seed'].get(k, {})) if fp and 'by_seed' in bf else {'low': None}
            if iv['low'] is not None: noise.append((k, not iv['excludes_zero']))
            rows.append([f"`{k}`", f"{a_[0]:.2f} ± {a_[1]:.2f} ({a_[2]})" if a_ else '-', f"{b_[0]:.2f} ± {b_[1]:.2f} ({b_[2]})" if b_ else '-',
                         f"{b_[0] - a_[0]:+.2f}" if a_ and b_ else '-',
                         f"{iv['low']:+.2f} to {iv['high']:+.2f} ({iv['n']} seeds)" if iv['low'] is not None else '-'])
        L += [f"fp32: {fp['source'] if fp else 'not found'}; bf16: {bf['source']}. Test accuracy % (mean ± std over seeds, seeds in brackets); "
              "the interval is the paired 95 % t-interval of bf16 − fp32 over the seeds both have (same seed: same initialisation, "
              "augmentation draws and block order).", '']
        L += table(['rung', 'fp32', 'bf16', 'bf16 − fp32 (pp)', 'paired 95 % interval (pp)'], rows)
        same = [k for k in B if fp and bf['by_seed'].get(k) and bf['by_seed'].get(k) == fp['by_seed'].get(k)]
        noise = [(k, ok) for k, ok in noise if k not in same]
        if noise:
            inside = [k for k, ok in noise if ok]; out = [k for k, ok in noise if not ok]
            L += ['', f"Within seed noise (the interval includes zero): {len(inside)} of {len(noise)} rungs"
                  + (f"; outside it: {', '.join(f'`{k}`' for k in out)}." if out else '.')]
        if same: L += ['', f"{', '.join(f'`{k}`' for k in same)}: the same accuracies as fp32 on every seed. The regularizer's "
                       "finite difference runs in fp32 also under bf16 autocast (a step of 0.01 cannot be resolved in bf16), and "
                       "in this rung every gradient is a regularized one, so the bf16 run is the fp32 run (`bf16_regularizer.md`)."]
    return '\n'.join(L) + '\n'


if __name__ == '__main__': main()
