"""Ghost-BN throughput: several BN blocks per model call (grouped, `ghost_bn`) vs one call per block (the paper's loop).

Usage: python bench/bench_ghostbn.py [--threads 1,2] [--repeats 5] [--out bench/results]

For each thread count, model (convnet, resnet8, resnet18) and block size (32, 128) it times forward+backward of one
physical batch of `blocks` blocks, (a) as a loop over the blocks through the model with plain BatchNorm, (b) as one call
through a `ghost_bn` copy, and (c) for the small models, one call with plain BN over the
whole batch (a different function; it separates the cost of a bigger call from that of ghost BN). Loop and grouped repeats alternate; medians are reported. Everything runs channels_last
(faster on this CPU; the `format` section measures it). A layer-level section compares ways to implement ghost BN.
Writes ghostbn.json and ghostbn.md. Numbers on a shared machine can be contended: the load average is recorded.
"""
import argparse, copy, datetime, json, os, platform, statistics, time
from pathlib import Path
import torch
import torch.nn as nn
import torch.nn.functional as F
from fbtrain.models import get_model
from fbtrain.ghostbn import ghost_bn, GhostBatchNorm2d

CL = torch.channels_last
# model: (blocks per call, repeats cap); resnet18 runs ~20 images/s per core, so it gets 2 blocks and 3 repeats
PLAN = {'convnet': (4, None), 'resnet8': (4, None), 'resnet18': (2, 3)}
BLOCKS = (32, 128)


def images(n):
    "n normalised CIFAR-10 test images (random normal data if CIFAR-10 is not available) and labels, channels_last."
    try:
        from fbtrain.data import load_cifar10, normalize
        x, y = load_cifar10('test', download=False)
        x, y, src = normalize(x[:n]), y[:n], 'cifar10-test'
    except Exception:
        g = torch.Generator().manual_seed(0)
        x, y, src = torch.randn(n, 3, 32, 32, generator=g), torch.randint(0, 10, (n,), generator=g), 'random-normal'
    return x.contiguous(memory_format=CL), y, src


def step_loop(model, x, y, bs):
    "Forward+backward of each block in turn (plain BN), gradients accumulated as the mean over all images."
    model.zero_grad(set_to_none=True)
    for xb, yb in zip(x.split(bs), y.split(bs)): (F.cross_entropy(model(xb), yb, reduction='sum')/len(y)).backward()


def step_grouped(model, x, y):
    "One forward+backward of the whole physical batch through a ghost-BN model."
    model.zero_grad(set_to_none=True)
    F.cross_entropy(model(x), y).backward()


def timed(f):
    t = time.perf_counter(); f(); return time.perf_counter() - t


def bench_model(name, bs, blocks, repeats, x, y, big=True):
    "Median images/s of loop, grouped and (if `big`) plain BN on the whole physical batch for `name` at block size `bs`."
    torch.manual_seed(0)
    plain = get_model(name).train().to(memory_format=CL)
    grouped = ghost_bn(copy.deepcopy(plain), bs)
    n = bs*blocks; xb, yb = x[:n], y[:n]
    warm = repeats is None or repeats > 3
    if warm: step_loop(plain, xb, yb, bs); step_grouped(grouped, xb, yb)
    tl, tg, tp = [], [], []
    for _ in range(repeats or 5):
        tl.append(timed(lambda: step_loop(plain, xb, yb, bs))); tg.append(timed(lambda: step_grouped(grouped, xb, yb)))
        if big: tp.append(timed(lambda: step_grouped(plain, xb, yb)))
    ml, mg = statistics.median(tl), statistics.median(tg)
    return dict(model=name, block=bs, blocks_per_call=blocks, images=n, repeats=len(tl), warmup=warm,
                loop_ips=n/ml, grouped_ips=n/mg, ratio=ml/mg, plain_big_ips=n/statistics.median(tp) if tp else None,
                loop_s=tl, grouped_s=tg, plain_big_s=tp)


# --- layer level: ways to implement ghost BN (one BN layer, forward+backward) ---------------------------------
def gbn_split(bn, x, bs):
    "fbtrain's GhostBatchNorm2d: F.batch_norm per block on split views, then cat."
    return torch.cat([nn.BatchNorm2d.forward(bn, xb) for xb in x.split(bs)])

def gbn_varmean(bn, x, bs):
    "Copy-free view (G, B, C, H, W), torch.var_mean over (1, 3, 4), broadcasting (running stats left out: favours it)."
    g = x.unflatten(0, (x.shape[0]//bs, bs))
    var, mean = torch.var_mean(g, dim=(1, 3, 4), keepdim=True, correction=0)
    scale = torch.rsqrt(var + bn.eps)*bn.weight.view(1, 1, -1, 1, 1)
    return (g*scale + (bn.bias.view(1, 1, -1, 1, 1) - mean*scale)).flatten(0, 1)

def gbn_reshape(bn, x, bs):
    "The pilot's version: transpose/reshape to (B, G*C, H, W) (copies), one F.batch_norm, back."
    n, c, h, w = x.shape; G = n//bs
    r = x.view(G, bs, c, h, w).transpose(0, 1).reshape(bs, G*c, h, w)
    out = F.batch_norm(r, None, None, bn.weight.repeat(G), bn.bias.repeat(G), True, 0., bn.eps)
    return out.view(bs, G, c, h, w).transpose(0, 1).reshape(n, c, h, w)

def bn_plain(bn, x, bs):
    "Not ghost: one F.batch_norm over the whole batch (the floor)."
    return nn.BatchNorm2d.forward(bn, x)

LAYER_IMPLS = dict(plain_whole_batch=bn_plain, split_cat=gbn_split, view_var_mean=gbn_varmean, reshape_transpose=gbn_reshape)


def bench_layer(repeats=9, shape=(512, 64, 16, 16), bs=32):
    out = []
    for fmt in ('channels_last', 'contiguous'):
        mf = CL if fmt == 'channels_last' else torch.contiguous_format
        x = torch.randn(*shape).contiguous(memory_format=mf).requires_grad_(); gy = torch.randn_like(x)
        for k, f in LAYER_IMPLS.items():
            bn = nn.BatchNorm2d(shape[1]).train()
            run = lambda: torch.autograd.grad(f(bn, x, bs), (x, bn.weight, bn.bias), gy)
            run()
            ts = [timed(run) for _ in range(repeats)]
            out.append(dict(format=fmt, impl=k, shape=list(shape), block=bs, ms=1e3*statistics.median(ts)))
    return out


def bench_format(repeats=5):
    "Loop path at block 128: NCHW vs channels_last images/s."
    out = []
    for name in ('convnet', 'resnet8'):
        x, y, _ = images(512)
        for fmt, mf in (('contiguous', torch.contiguous_format), ('channels_last', CL)):
            torch.manual_seed(0)
            m = get_model(name).train().to(memory_format=mf); xf = x.contiguous(memory_format=mf)
            step_loop(m, xf, y, 128)
            ts = [timed(lambda: step_loop(m, xf, y, 128)) for _ in range(repeats)]
            out.append(dict(model=name, format=fmt, block=128, images=512, ips=512/statistics.median(ts)))
    return out


def markdown(res):
    m = res['meta']
    lines = ['# Ghost BN: grouped call vs loop over blocks (forward+backward, images/s, median)', '',
             f"torch {m['torch']}, {m['cpu_count']} cores ({m['affinity']} usable), {m['machine']}, data {m['data']}, "
             f"channels_last, {m['date']}. Load average before/after: {m['load_before']} / {m['load_after']}. "
             "The machine is shared with another engineer: 2-thread numbers in particular may be contended.", '',
             '"plain 1 call" runs the whole physical batch through plain BN in one call: a different function (BN over all',
             'images), shown only to separate the cost of a bigger call from the cost of ghost BN itself.', '',
             '| threads | model | block | blocks/call | images | loop img/s | grouped img/s | grouped/loop | plain 1 call img/s |',
             '|---|---|---|---|---|---|---|---|---|']
    for r in res['models']:
        lines.append(f"| {r['threads']} | {r['model']} | {r['block']} | {r['blocks_per_call']} | {r['images']} | "
                     f"{r['loop_ips']:.0f} | {r['grouped_ips']:.0f} | {r['ratio']:.2f} | {'%.0f' % r['plain_big_ips'] if r['plain_big_ips'] else '-'} |")
    lines += ['', '## One BN layer, ways to implement ghost BN (forward+backward, ms, median, 1 thread)', '',
              '| format | implementation | shape | block | ms |', '|---|---|---|---|---|']
    for r in res['layer']: lines.append(f"| {r['format']} | {r['impl']} | {tuple(r['shape'])} | {r['block']} | {r['ms']:.1f} |")
    lines += ['', '## Memory format (loop path, block 128, 512 images, 1 thread)', '',
              '| model | format | img/s |', '|---|---|---|']
    for r in res['format']: lines.append(f"| {r['model']} | {r['format']} | {r['ips']:.0f} |")
    return '\n'.join(lines) + '\n'


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--threads', default='1,2', help='comma-separated thread counts')
    p.add_argument('--repeats', type=int, default=5)
    p.add_argument('--models', default=','.join(PLAN))
    p.add_argument('--out', default=str(Path(__file__).parent/'results'))
    a = p.parse_args()
    t0 = time.time()
    x, y, src = images(512)
    meta = dict(torch=torch.__version__, python=platform.python_version(), machine=platform.machine(), cpu_count=os.cpu_count(),
                affinity=len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else None, data=src,
                date=datetime.datetime.now().isoformat(timespec='seconds'), load_before=[round(v, 2) for v in os.getloadavg()])
    res = dict(meta=meta, models=[])
    torch.set_num_threads(1)
    res['layer'] = bench_layer(); print('layer done', f'{time.time()-t0:.0f}s', flush=True)
    res['format'] = bench_format(); print('format done', f'{time.time()-t0:.0f}s', flush=True)
    for th in [int(t) for t in a.threads.split(',')]:
        torch.set_num_threads(th)
        for name in a.models.split(','):
            blocks, cap = PLAN[name]
            for bs in BLOCKS:
                r = bench_model(name, bs, blocks, min(a.repeats, cap) if cap else a.repeats, x, y, big=name != 'resnet18')
                r['threads'] = torch.get_num_threads(); res['models'].append(r)
                print(f"threads {th} {name:8} block {bs:3}: loop {r['loop_ips']:7.0f}  grouped {r['grouped_ips']:7.0f} img/s  ratio {r['ratio']:.2f}  ({time.time()-t0:.0f}s)", flush=True)
    meta['load_after'] = [round(v, 2) for v in os.getloadavg()]; meta['seconds'] = round(time.time() - t0, 1)
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    (out/'ghostbn.json').write_text(json.dumps(res, indent=1))
    (out/'ghostbn.md').write_text(markdown(res))
    print(markdown(res))


if __name__ == '__main__': main()
