"""Target 1: `full_batch_gradient` images/s against a bare PyTorch loop over the same blocks.

Usage: python bench/bench_fullbatch.py [--n 1024] [--repeats 5] [--threads 1,2] [--models convnet,resnet8] [--blocks 32,128]

One full-batch gradient = forward+backward of every block of `block` images (BatchNorm statistics per block) over
`n` real CIFAR-10 training images, gradients averaged over all images. Variants, timed in alternation (medians):

* `bare`: the loop a PyTorch user writes, `(F.cross_entropy(model(xb), yb)*len(yb)/n).backward()` per block (NCHW).
* `fbtrain`: `full_batch_gradient(model, x, y, block)` on the same model and tensors (NCHW): the trainer's overhead.
* `bare_cl`, `fbtrain_cl`: both with model and images in `channels_last` memory format.
* `fbtrain_cl_g4`: `ghost_bn` model, `blocks_per_call=4` (4 blocks per model call, same per-block BN statistics), channels_last.

Ratios are against `bare` (same format NCHW) and `bare_cl`. A last section runs 1 vs 2 threads while a second
process keeps one core busy (the contention the pilot saw). Writes results/fullbatch.json and fullbatch.md.
"""
import argparse, copy, json, math, time
import torch
import torch.nn.functional as F
from common import RESULTS, machine, finish, facts_line, interleaved, med, cifar_train, set_threads, Spinner, write, table
from fbtrain.gradient import full_batch_gradient, rel_err, trainable
from fbtrain.models import get_model
from fbtrain.ghostbn import ghost_bn

CL = torch.channels_last


def bare_loop(model, x, y, bs):
    "The bare PyTorch loop: one forward+backward per block, gradients summed into p.grad as the mean over all images."
    model.zero_grad(set_to_none=True); n = len(y)
    for xb, yb in zip(x.split(bs), y.split(bs)): (F.cross_entropy(model(xb), yb)*(len(yb)/n)).backward()


def grads(model): return [p.grad.detach().clone() for p in trainable(model)]


def variants(name, x, y, bs):
    "name → zero-argument function doing one full-batch gradient, plus a check that they agree."
    torch.manual_seed(0)
    m = get_model(name).train(); mcl = copy.deepcopy(m).to(memory_format=CL)
    mg = ghost_bn(copy.deepcopy(mcl), bs); xcl = x.contiguous(memory_format=CL)
    fns = dict(bare=lambda: bare_loop(m, x, y, bs),
               fbtrain=lambda: full_batch_gradient(m, x, y, bs),
               bare_cl=lambda: bare_loop(mcl, xcl, y, bs),
               fbtrain_cl=lambda: full_batch_gradient(mcl, xcl, y, bs),
               fbtrain_cl_g4=lambda: full_batch_gradient(mg, xcl, y, bs, blocks_per_call=4))
    # all variants compute the same gradient (BN running stats differ by momentum updates only, not used in train mode)
    ref = (bare_loop(m, x, y, bs), grads(m))[1]
    errs = {}
    for k, mm in (('fbtrain', m), ('fbtrain_cl', mcl), ('fbtrain_cl_g4', mg)):
        fns[k](); errs[k] = rel_err(grads(mm), ref)
    return fns, errs


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--n', type=int, default=1024); p.add_argument('--repeats', type=int, default=5)
    p.add_argument('--threads', default='1,2'); p.add_argument('--models', default='convnet,resnet8')
    p.add_argument('--blocks', default='32,128'); p.add_argument('--contended-repeats', type=int, default=3)
    p.add_argument('--out', default=str(RESULTS))
    p.add_argument('--render', action='store_true', help='only rewrite the markdown from the existing json')
    a = p.parse_args()
    if a.render: res = json.load(open(f'{a.out}/fullbatch.json')); return write('fullbatch', res, markdown(res), a.out)
    t0 = time.time(); meta = machine(); x, y = cifar_train(a.n)
    meta.update(n=len(y), repeats=a.repeats, data='CIFAR-10 train, balanced subset')
    rows = []
    for th in map(int, a.threads.split(',')):
        set_threads(th)
        for name in a.models.split(','):
            for bs in map(int, a.blocks.split(',')):
                fns, errs = variants(name, x, y, bs)
                ts = interleaved(fns, a.repeats)
                r = dict(threads=th, model=name, block=bs, n=len(y), grad_rel_err=errs, seconds=ts,
                         ips={k: len(y)/med(v) for k, v in ts.items()})
                r['ratio'] = dict(fbtrain=med(ts['bare'])/med(ts['fbtrain']), fbtrain_cl=med(ts['bare_cl'])/med(ts['fbtrain_cl']),
                                  fbtrain_cl_vs_bare=med(ts['bare'])/med(ts['fbtrain_cl']),
                                  fbtrain_cl_g4_vs_bare_cl=med(ts['bare_cl'])/med(ts['fbtrain_cl_g4']))
                rows.append(r)
                print(f"t{th} {name:8} b{bs:3} " + ' '.join(f"{k} {v:6.0f}" for k, v in r['ips'].items()) +
                      f"  fbtrain/bare {r['ratio']['fbtrain']:.3f} ({time.time()-t0:.0f}s)", flush=True)
    # contention: 1 vs 2 threads with another process busy on one core
    cont = []
    with Spinner():
        for name in a.models.split(',')[:1]:
            bs = min(128, len(y)); torch.manual_seed(0)
            m = get_model(name).train().to(memory_format=CL); xcl = x.contiguous(memory_format=CL)
            def run(th): set_threads(th); full_batch_gradient(m, xcl, y, bs)
            ts = interleaved({1: lambda: run(1), 2: lambda: run(2)}, a.contended_repeats)
            cont.append(dict(model=name, block=bs, n=len(y), seconds={str(k): v for k, v in ts.items()},
                             ips={str(k): len(y)/med(v) for k, v in ts.items()}))
            print('contended', cont[-1]['ips'], flush=True)
    set_threads(1)
    res = dict(meta=finish(meta, t0), results=rows, contended=cont)
    write('fullbatch', res, markdown(res), a.out)


def markdown(res):
    m = res['meta']
    L = ['# Target 1: full-batch gradient vs a bare PyTorch loop (images/s, median)', '', facts_line(m), '',
         f"{m['n']} real CIFAR-10 training images, forward+backward of every block, fp32, {m['repeats']} interleaved repeats after one warm-up. "
         "`bare`: `(F.cross_entropy(model(xb), yb)*len(yb)/n).backward()` per block. `fbtrain`: `full_batch_gradient`. "
         "`_cl`: model and images channels_last. `g4`: `ghost_bn` model, `blocks_per_call=4`. "
         "All variants give the same gradient (largest relative difference to `bare` in the last column).", '']
    rows = []
    for r in res['results']:
        i, q = r['ips'], r['ratio']
        rows.append([r['threads'], r['model'], r['block'], f"{i['bare']:.0f}", f"{i['fbtrain']:.0f}", f"**{q['fbtrain']:.3f}**",
                     f"{i['bare_cl']:.0f}", f"{i['fbtrain_cl']:.0f}", f"**{q['fbtrain_cl']:.3f}**", f"{q['fbtrain_cl_vs_bare']:.2f}",
                     f"{i['fbtrain_cl_g4']:.0f}", f"{q['fbtrain_cl_g4_vs_bare_cl']:.2f}", f"{max(r['grad_rel_err'].values()):.1e}"])
    L += table(['threads', 'model', 'block', 'bare', 'fbtrain', 'fbtrain/bare', 'bare cl', 'fbtrain cl', 'fbtrain cl/bare cl',
                'fbtrain cl/bare', 'fbtrain cl g4', 'g4/bare cl', 'grad rel diff'], rows)
    mins = [min(r['seconds'][b])/min(r['seconds'][f]) for r in res['results'] for b, f in (('bare', 'fbtrain'), ('bare_cl', 'fbtrain_cl'))]
    meds = [r['ratio'][k] for r in res['results'] for k in ('fbtrain', 'fbtrain_cl')]
    gm = lambda v: math.exp(sum(map(math.log, v))/len(v))
    L += ['', 'Ratios are speed ratios (bare seconds ÷ fbtrain seconds): ≥ 1 means fbtrain is at least as fast. '
          f"Over all {len(meds)} same-format pairs: geometric mean of the median ratios **{gm(meds):.3f}** (range {min(meds):.3f}–{max(meds):.3f}); "
          f"of the fastest-repeat ratios (least disturbed by other work on the CPU) **{gm(mins):.3f}** (range {min(mins):.3f}–{max(mins):.3f}).", '',
          '## 1 vs 2 threads with another process busy on one core (channels_last, fbtrain)', '']
    L += table(['model', 'block', 'images', '1 thread img/s', '2 threads img/s', '2/1'],
               [[c['model'], c['block'], c['n'], f"{c['ips']['1']:.0f}", f"{c['ips']['2']:.0f}", f"{c['ips']['2']/c['ips']['1']:.2f}"] for c in res['contended']])
    return '\n'.join(L) + '\n'


if __name__ == '__main__': main()
