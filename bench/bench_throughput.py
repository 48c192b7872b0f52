"""Target 6: training throughput of the CPU models and ResNet-18, as images/s and as a fraction of measured matmul FLOP/s.

Usage: python bench/bench_throughput.py [--threads 1,2] [--repeats 3] [--models convnet,resnet8,resnet18] [--compile convnet]

1. Peak: `torch.mm` of two 2048×2048 matrices, fp32 and bf16, best of 7 tries, GFLOP/s (2·n³ per product), per thread count.
2. Work: FLOPs of one forward+backward per image, counted by `torch.utils.flop_counter.FlopCounterMode`.
3. Speed: `full_batch_gradient` (forward+backward of every block, real CIFAR-10 images) per variant, interleaved:
   `fp32` (NCHW, the library default), `fp32_cl` (channels_last), `bf16_cl` (channels_last under
   `torch.autocast('cpu', torch.bfloat16)`, fp32 parameters and accumulator), `bf16` (NCHW under autocast).
   Images/s and achieved FLOP/s ÷ the matmul peak of the same dtype and thread count.
4. Accuracy of bf16: relative difference of the loss and of the full-batch gradient to fp32 on the same images.
5. `torch.compile` (inductor, channels_last fp32), in a subprocess with a time limit: compile seconds and images/s
   against eager channels_last in the same process. Skipped with a note where it fails or runs out of time.

Writes results/throughput.json and throughput.md.
"""
import argparse, copy, json, os, subprocess, sys, tempfile, time
import torch
from torch.utils.flop_counter import FlopCounterMode
import torch.nn.functional as F
from common import RESULTS, machine, finish, facts_line, interleaved, med, timed, cifar_train, set_threads, write, table
from fbtrain.gradient import full_batch_gradient, rel_err, trainable
from fbtrain.models import get_model, num_params

CL = torch.channels_last
PLAN = {'convnet': (512, 128), 'resnet8': (256, 128), 'resnet18': (32, 32)}   # images, block
BF16_TOL = dict(loss=1e-2, grad=2e-2)   # relative differences to fp32 within which bf16 would count as "the same result"


def mm_gflops(dtype, n=2048, reps=7):
    "Best GFLOP/s of `torch.mm` on two n×n matrices over `reps` tries (the peak: contention only slows a try down)."
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    for _ in range(2): a @ b
    return 2*n**3/min(timed(lambda: a @ b) for _ in range(reps))/1e9


def flops_per_image(name, bs):
    torch.manual_seed(0); m = get_model(name).train(); x = torch.randn(bs, 3, 32, 32); y = torch.randint(0, 10, (bs,))
    with FlopCounterMode(display=False) as fc: F.cross_entropy(m(x), y).backward()
    return fc.get_total_flops()/bs


def step(m, x, y, bs, bf16):
    if not bf16: return full_batch_gradient(m, x, y, bs)
    with torch.autocast('cpu', dtype=torch.bfloat16): return full_batch_gradient(m, x, y, bs)


def grads(m): return [p.grad.detach().clone() for p in trainable(m)]


def profile(name, n, bs, top=8):
    "Self CPU time by operator of one channels_last fp32 `full_batch_gradient` (torch.profiler): where the time goes."
    from torch.profiler import profile as prof, ProfilerActivity
    x, y = cifar_train(n); x = x.contiguous(memory_format=CL)
    torch.manual_seed(0); m = get_model(name).train().to(memory_format=CL); full_batch_gradient(m, x, y, bs)
    with prof(activities=[ProfilerActivity.CPU]) as pr: full_batch_gradient(m, x, y, bs)
    ev = sorted(pr.key_averages(), key=lambda e: -e.self_cpu_time_total)
    tot = sum(e.self_cpu_time_total for e in ev)
    return dict(model=name, n=n, block=bs, total_ms=tot/1e3,
                top=[dict(op=e.key, self_ms=e.self_cpu_time_total/1e3, share=e.self_cpu_time_total/tot, calls=e.count) for e in ev[:top]])


def compile_child(name, threads, repeats, n, bs):
    "In a subprocess: compile the model, time it against eager channels_last."
    torch.set_num_threads(threads)
    x, y = cifar_train(n); x = x.contiguous(memory_format=CL)
    torch.manual_seed(0); m = get_model(name).train().to(memory_format=CL)
    mc = torch.compile(copy.deepcopy(m))
    t = time.perf_counter(); full_batch_gradient(mc, x, y, bs); comp = time.perf_counter() - t
    ts = interleaved(dict(eager=lambda: full_batch_gradient(m, x, y, bs), compiled=lambda: full_batch_gradient(mc, x, y, bs)), repeats)
    full_batch_gradient(m, x, y, bs); g0 = grads(m); full_batch_gradient(mc, x, y, bs); g1 = grads(mc)
    print(json.dumps(dict(model=name, threads=threads, n=len(y), block=bs, compile_seconds=comp,
                          ips={k: len(y)/med(v) for k, v in ts.items()}, seconds=ts, grad_rel_err=rel_err(g1, g0))))


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--threads', default='1,2'); p.add_argument('--repeats', type=int, default=3)
    p.add_argument('--models', default=','.join(PLAN)); p.add_argument('--compile', default='convnet')
    p.add_argument('--compile-timeout', type=int, default=200); p.add_argument('--out', default=str(RESULTS))
    p.add_argument('--child', nargs=5)
    a = p.parse_args()
    if a.child: return compile_child(a.child[0], *map(int, a.child[1:]))
    t0 = time.time(); meta = machine(); meta['repeats'] = a.repeats
    xall, yall = cifar_train(max(n for n, _ in PLAN.values()))
    peaks, rows, acc = [], [], []
    fpi = {name: flops_per_image(name, PLAN[name][1]) for name in a.models.split(',')}
    params = {name: num_params(get_model(name)) for name in fpi}
    for th in map(int, a.threads.split(',')):
        set_threads(th)
        peaks.append(dict(threads=th, fp32=mm_gflops(torch.float32), bf16=mm_gflops(torch.bfloat16)))
        print('matmul GFLOP/s', peaks[-1], flush=True)
        for name in a.models.split(','):
            n, bs = PLAN[name]; x, y = xall[:n], yall[:n]; xcl = x.contiguous(memory_format=CL)
            torch.manual_seed(0); m = get_model(name).train(); mcl = copy.deepcopy(m).to(memory_format=CL)
            fns = dict(fp32=lambda: step(m, x, y, bs, False), fp32_cl=lambda: step(mcl, xcl, y, bs, False),
                       bf16_cl=lambda: step(mcl, xcl, y, bs, True), bf16=lambda: step(m, x, y, bs, True))
            if th == 1:   # accuracy of bf16 (independent of threads)
                s32 = fns['fp32'](); g32 = grads(m); s16 = fns['bf16_cl'](); g16 = grads(mcl)
                acc.append(dict(model=name, n=n, block=bs, loss_fp32=s32.loss, loss_bf16=s16.loss,
                                loss_rel_diff=abs(s16.loss - s32.loss)/abs(s32.loss), grad_rel_diff=rel_err(g16, g32)))
            ts = interleaved(fns, a.repeats, warmup=1 if name != 'resnet18' else 0)
            pk = peaks[-1]
            r = dict(threads=th, model=name, n=n, block=bs, flops_per_image=fpi[name], params=params[name], seconds=ts,
                     ips={k: n/med(v) for k, v in ts.items()})
            r['gflops'] = {k: v*fpi[name]/1e9 for k, v in r['ips'].items()}
            r['peak_fraction'] = {k: v/(pk['bf16'] if k.startswith('bf16') else pk['fp32']) for k, v in r['gflops'].items()}
            rows.append(r)
            print(f"t{th} {name:8} " + ' '.join(f"{k} {v:6.1f}" for k, v in r['ips'].items()) + f" ({time.time()-t0:.0f}s)", flush=True)
    set_threads(1)
    profs = [profile(name, *PLAN[name]) for name in a.models.split(',') if name != 'resnet18']
    comp = []
    for name in [c for c in a.compile.split(',') if c]:
        n, bs = PLAN[name]
        try:
            with tempfile.TemporaryDirectory() as cache:   # a cold compile: no inductor cache from earlier runs
                out = subprocess.run([sys.executable, __file__, '--child', name, '1', str(a.repeats), str(n), str(bs)],
                                     capture_output=True, text=True, timeout=a.compile_timeout,
                                     env=dict(os.environ, TORCHINDUCTOR_CACHE_DIR=cache, TRITON_CACHE_DIR=cache))
            if out.returncode: comp.append(dict(model=name, error=(out.stderr or out.stdout).strip().splitlines()[-1][:300]))
            else: comp.append(json.loads(out.stdout.strip().splitlines()[-1]))
        except subprocess.TimeoutExpired: comp.append(dict(model=name, error=f'not done within {a.compile_timeout} s'))
        print('compile', comp[-1], flush=True)
    set_threads(1)
    res = dict(meta=finish(meta, t0), peaks=peaks, results=rows, bf16_accuracy=acc, bf16_tolerance=BF16_TOL, compile=comp, profile=profs)
    write('throughput', res, markdown(res), a.out)


def markdown(res):
    m = res['meta']
    L = ['# Target 6: throughput (forward+backward, images/s, median) and fraction of the measured matmul peak', '', facts_line(m), '',
         '## Matmul peak (`torch.mm`, 2048×2048, best of 7, GFLOP/s)', '']
    L += table(['threads', 'fp32', 'bf16'], [[p['threads'], f"{p['fp32']:.0f}", f"{p['bf16']:.0f}"] for p in res['peaks']])
    L += ['', '## Models (`full_batch_gradient` over real CIFAR-10 images, BN per block)', '',
          f"GFLOP per image (forward+backward, FlopCounterMode) and images/s per variant; in brackets the fraction of the matmul peak "
          f"of the same dtype and thread count. {m['repeats']} interleaved repeats.", '']
    V = ('fp32', 'fp32_cl', 'bf16', 'bf16_cl')
    L += table(['threads', 'model', 'params', 'images / block', 'GFLOP/img'] + list(V) + ['best vs fp32'],
               [[r['threads'], r['model'], f"{r['params']:,}", f"{r['n']} / {r['block']}", f"{r['flops_per_image']/1e9:.3f}"] +
                [f"{r['ips'][k]:.1f} ({100*r['peak_fraction'][k]:.0f} %)" for k in V] +
                [f"{max(r['ips'].values())/r['ips']['fp32']:.2f}× ({max(r['ips'], key=r['ips'].get)})"] for r in res['results']])
    t = res['bf16_tolerance']
    L += ['', f"## bf16 autocast vs fp32 (same images; tolerance to adopt: loss rel diff ≤ {t['loss']}, gradient rel diff ≤ {t['grad']})", '']
    L += table(['model', 'images / block', 'loss fp32', 'loss bf16', 'loss rel diff', 'gradient rel diff', 'within tolerance'],
               [[a['model'], f"{a['n']} / {a['block']}", f"{a['loss_fp32']:.5f}", f"{a['loss_bf16']:.5f}", f"{a['loss_rel_diff']:.1e}",
                 f"{a['grad_rel_diff']:.1e}", 'yes' if a['loss_rel_diff'] <= t['loss'] and a['grad_rel_diff'] <= t['grad'] else 'no']
                for a in res['bf16_accuracy']])
    L += ['', '## torch.compile (inductor, channels_last fp32, 1 thread, subprocess with a time limit, cold cache)', '']
    L += table(['model', 'compile s', 'eager cl img/s', 'compiled img/s', 'compiled/eager', 'gradient rel diff', 'note'],
               [[c['model'], f"{c['compile_seconds']:.0f}", f"{c['ips']['eager']:.0f}", f"{c['ips']['compiled']:.0f}",
                 f"{c['ips']['compiled']/c['ips']['eager']:.2f}", f"{c['grad_rel_err']:.1e}", ''] if 'error' not in c
                else [c['model'], '-', '-', '-', '-', '-', c['error']] for c in res['compile']])
    for pr in res.get('profile', []):
        L += ['', f"## Where the time goes: {pr['model']}, channels_last fp32, 1 thread, {pr['n']} images in blocks of {pr['block']} "
              f"(torch.profiler, self CPU time, {pr['total_ms']:.0f} ms in all)", '']
        L += table(['operator', 'self ms', 'share', 'calls'], [[f"`{t['op']}`", f"{t['self_ms']:.1f}", f"{100*t['share']:.1f} %", t['calls']] for t in pr['top']])
    return '\n'.join(L) + '\n'


if __name__ == '__main__': main()
