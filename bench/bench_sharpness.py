"""Top Hessian eigenvalue: fbtrain's `top_eigenvalue` (Lanczos, graph re-use) against PyHessian's power iteration,
and what `SharpnessCB()` costs a training run.

Usage: python bench/bench_sharpness.py [--n 512] [--repeats 3] [--threads 1] [--ref-k 30] [--ph-iters 30]
                                       [--overhead-epochs 100] [--overhead-repeats 3] [--out bench/results]

PyHessian is not a dependency of fbtrain; install it for this benchmark only: `pip install --no-deps pyhessian`
(PyPI 0.1; `--no-deps` keeps pip away from your torch). Without it only fbtrain runs, and the table says so.

Setup: `convnet` (98,970 parameters, BatchNorm) on the first `n` images of a balanced CIFAR-10 training subset, in two
states: at initialisation and after 20 full-batch GD steps (lr 0.1). The Hessian is that of the training loss:
cross-entropy, BatchNorm in **train mode** with statistics per block of 128 images. PyHessian forces `model.eval()`
in its constructor, so it gets a twin of the model whose BN layers are `ghost_bn(…, 128)` (one call = the same
per-block statistics) wrapped in a module that ignores `eval()`: both libraries then see the same function (the HVPs
are compared and agree). Both re-use one gradient graph for all HVPs (PyHessian's single-batch mode).

Every run records, after each HVP, the running estimate and the wall time since the start (graph building included),
so one run gives both "what the method returns with its own stopping rule" and "how long until the estimate is
within X of the truth" (oracle stopping, the same for both methods). fbtrain: `top_eigenvalue(k=20)`; its
`tol=1e-3` rule (stop once the Ritz residual <= 1e-3·λ) is read off the same run. PyHessian: `eigenvalues(maxIter=ph_iters,
tol=0)`; its default rule (relative change of the estimate < 1e-3) and a tighter 1e-4 are read off the same run
(the iterates do not depend on the rule). fbtrain's `change_tol=1e-3` rule (the same rule as PyHessian's: stop once
the estimate changed by < 1e-3 relative in one step; `SharpnessCB`'s default) is read off the same run too.
Reference: fbtrain Lanczos with `ref_k` steps from another start. Medians over repeats (different random starts,
interleaved). All seconds are CPU seconds of this process (`time.process_time`, one thread): the machine is shared,
and wall time moves with the other processes' load (the overhead runs record wall seconds too).

Overhead: the CPU mini ladder's full-batch setting (convnet, the first 64 CIFAR-10 training images of each class = 640,
`FullBatch(32)`, lr 0.1, 5 warmup epochs of a cosine schedule, random crops and flips, `--overhead-epochs` epochs),
trained with and without `SharpnessCB()` at its defaults, interleaved, fresh model each time; the ratio of wall times
per repeat, and its median.
"""
import argparse, copy, datetime, importlib, json, os, platform, statistics, time, warnings
from pathlib import Path
import torch
import torch.nn as nn
import torch.nn.functional as F
from fbtrain.data import get_data, set_threads
from fbtrain.gradient import full_batch_gradient, frozen_bn_stats
from fbtrain.models import get_model
from fbtrain.ghostbn import ghost_bn
from fbtrain.hessian import top_eigenvalue, HessianOperator
from fbtrain.stability import SharpnessCB
from fbtrain.learner import Learner, FullBatch, Augment, Schedule

try:
    import pyhessian
    ph = importlib.import_module('pyhessian.hessian')   # the module (the package re-exports the class under the same name)
except ImportError: ph = None

TARGETS = (1e-2, 1e-3, 1e-4)
CLOCK = time.process_time   # CPU seconds of this process: on a shared, oversubscribed machine far steadier than wall time


class AlwaysTrain(nn.Module):
    "Wraps a model so that `eval()` (which PyHessian calls) leaves it in train mode."
    def __init__(self, m): super().__init__(); self.m = m
    def train(self, mode=True): self.m.train(True); self.training = True; return self
    def forward(self, x): return self.m(x)


def pyhessian_run(model, x, y, seed, iters):
    "PyHessian's power iteration for `iters` HVPs; per HVP: estimate vᵀHv and seconds since the start."
    est, ts, orig = [], [], ph.hessian_vector_product
    def counting(gradsH, params, v):
        hv = orig(gradsH, params, v)
        est.append(sum((a*b).sum() for a, b in zip(hv, v)).item()); ts.append(CLOCK() - t0); return hv
    ph.hessian_vector_product = counting
    try:
        torch.manual_seed(seed)
        t0 = CLOCK()
        with frozen_bn_stats(model), warnings.catch_warnings():
            warnings.simplefilter('ignore')     # PyTorch's create_graph "reference cycle" warning
            h = ph.hessian(model, F.cross_entropy, data=(x, y), cuda=False)
            h.eigenvalues(maxIter=iters, tol=0., top_n=1)
    finally: ph.hessian_vector_product = orig
    for p in model.parameters(): p.grad = None
    return dict(est=est, t=ts)


def fbtrain_run(model, x, y, seed, k=20):
    "fbtrain's top_eigenvalue with `k` Lanczos steps; per HVP: estimate, Ritz residual and seconds since the start."
    ts, orig = [], HessianOperator.__call__
    def timed(self, v):
        r = orig(self, v); ts.append(CLOCK() - t0); return r
    HessianOperator.__call__ = timed
    try:
        t0 = CLOCK(); r = top_eigenvalue(model, x, y, 128, k=k, seed=seed)
    finally: HessianOperator.__call__ = orig
    return dict(est=r.history, res=r.residuals, t=ts, seconds=r.seconds)


def fbtrain_change_stop(run, tol):
    "Index of the HVP at which `lanczos(change_tol=tol)` stops (the same test as its code, on the same history)."
    e = run['est']
    return next((i for i in range(1, len(e)) if abs(e[i] - e[i-1]) <= tol*abs(e[i])), len(e) - 1)


def own_rule_stop(run, rule, tol):
    "Index of the HVP at which the method's own stopping rule would stop (last one if never)."
    e = run['est']
    for i in range(len(e)):
        if rule == 'residual' and run['res'][i] <= tol*abs(e[i]): return i
        if rule == 'change' and i > 0 and abs(e[i] - e[i-1])/(abs(e[i-1]) + 1e-6) < tol: return i
    return len(e) - 1


def summarize(runs, lam, stop):
    "Medians over runs: own-rule HVPs/seconds/error, and HVPs/seconds to reach each target error."
    out = dict(hvps=[], seconds=[], rel_err=[])
    for t in TARGETS: out[f'hvps_to_{t:g}'], out[f'seconds_to_{t:g}'] = [], []
    for r in runs:
        i = stop(r)
        out['hvps'].append(i + 1); out['seconds'].append(r['t'][i]); out['rel_err'].append(abs(r['est'][i] - lam)/lam)
        for t in TARGETS:
            j = next((j for j, e in enumerate(r['est']) if abs(e - lam) <= t*lam), None)
            out[f'hvps_to_{t:g}'].append(None if j is None else j + 1); out[f'seconds_to_{t:g}'].append(None if j is None else r['t'][j])
    med = {}
    for key, vals in out.items():
        ok = [v for v in vals if v is not None]
        med[key] = statistics.median(ok) if len(ok) == len(vals) else None    # None: not reached in every repeat
    med['max_rel_err'] = max(out['rel_err']); med['per_repeat'] = out
    return med


def bench_state(state, model, x, y, a):
    twin = AlwaysTrain(ghost_bn(copy.deepcopy(model), 128))
    ref = top_eigenvalue(model, x, y, 128, k=a.ref_k, seed=1000)
    lam = ref.value
    v = torch.randn(sum(p.numel() for p in model.parameters()), generator=torch.Generator().manual_seed(0))
    with HessianOperator(model, x, y, 128) as H: hv1 = H(v)
    with HessianOperator(twin, x, y, len(y)) as H: hv2 = H(v)
    agree = ((hv1 - hv2).norm()/hv1.norm()).item()
    fb, py = [], []
    for s in range(a.repeats):
        fb.append(fbtrain_run(model, x, y, s))
        print(f"{state} repeat {s} fbtrain: λ={fb[-1]['est'][-1]:.5f} {fb[-1]['t'][-1]:.1f}s", flush=True)
        if ph is not None:
            py.append(pyhessian_run(twin, x, y, s, a.ph_iters))
            print(f"{state} repeat {s} pyhessian: λ={py[-1]['est'][-1]:.5f} {py[-1]['t'][-1]:.1f}s", flush=True)
    rows = [dict(method='fbtrain Lanczos k=20', **summarize(fb, lam, lambda r: len(r['est']) - 1)),
            dict(method='fbtrain Lanczos, stop at residual 1e-3·λ', **summarize(fb, lam, lambda r: own_rule_stop(r, 'residual', 1e-3))),
            dict(method='fbtrain Lanczos, change < 1e-3 (SharpnessCB default)', **summarize(fb, lam, lambda r: fbtrain_change_stop(r, 1e-3)))]
    if ph is not None:
        rows += [dict(method='PyHessian, default rule (change < 1e-3)', **summarize(py, lam, lambda r: own_rule_stop(r, 'change', 1e-3))),
                 dict(method='PyHessian, rule change < 1e-4', **summarize(py, lam, lambda r: own_rule_stop(r, 'change', 1e-4))),
                 dict(method=f'PyHessian, {a.ph_iters} iterations', **summarize(py, lam, lambda r: len(r['est']) - 1))]
    sph = [r['seconds']/r['hvps'] for r in rows]
    return dict(state=state, reference=lam, reference_residual=ref.residual, reference_hvps=ref.hvps, hvp_agreement=agree,
                fbtrain_s_per_hvp=statistics.median([r['t'][-1]/len(r['t']) for r in fb]),
                pyhessian_s_per_hvp=statistics.median([r['t'][-1]/len(r['t']) for r in py]) if py else None, rows=rows)


def render(res:dict)->str:
    "The markdown report of a results dictionary (also written by --render-only from an existing JSON)."
    f = lambda v, spec: '-' if v is None else format(v, spec)
    L = ["# Top Hessian eigenvalue: fbtrain vs PyHessian (medians)", "",
         f"torch {res['torch']}, PyHessian {res['pyhessian']}, {res['usable_cores']} cores, {res['threads']} thread, {res['date']}, "
         f"load average before/after {[round(l, 2) for l in res['loadavg_before']]} / {[round(l, 2) for l in res['loadavg_after']]}; total {res['wall_s']:.0f} s. "
         "The machine is shared: all seconds are CPU seconds of this process (`time.process_time`, one thread), steadier than wall time under load; the ratios within one run are the point.", "",
         f"`convnet` ({res['params']:,} parameters), {res['n']} CIFAR-10 training images, cross-entropy, BatchNorm in train mode with "
         f"statistics per block of 128, for both libraries (PyHessian on a ghost-BN twin that ignores `eval()`). "
         f"{res['repeats']} repeats with different random starts. Seconds include building the gradient graph. "
         "\"to 1e-3\": HVPs / seconds until the running estimate is within 1e-3 (relative) of the reference; "
         "'-' = not reached in every repeat.", ""]
    for st in res['states']:
        L += [f"## {st['state']}: λ_max = {st['reference']:.5f}", "",
              f"Reference: {st['reference_hvps']}-step Lanczos (residual {st['reference_residual']:.1e}). HVPs of the two libraries agree to "
              f"{st['hvp_agreement']:.1e}. Seconds per HVP (graph build spread in): fbtrain {st['fbtrain_s_per_hvp']:.2f}, "
              f"PyHessian {f(st['pyhessian_s_per_hvp'], '.2f')}.", "",
              "| method | HVPs | seconds | rel. error (median / max) | HVPs to 1e-2 / 1e-3 / 1e-4 | seconds to 1e-2 / 1e-3 / 1e-4 |",
              "|---|---|---|---|---|---|"]
        for r in st['rows']:
            L.append(f"| {r['method']} | {r['hvps']:g} | {r['seconds']:.1f} | {r['rel_err']:.1e} / {r['max_rel_err']:.1e} | "
                     + ' / '.join(f(r[f'hvps_to_{t:g}'], 'g') for t in TARGETS) + ' | '
                     + ' / '.join(f(r[f'seconds_to_{t:g}'], '.1f') for t in TARGETS) + ' |')
        if res['pyhessian'] != 'not installed':
            by = {r['method']: r for r in st['rows']}
            fb, py = by['fbtrain Lanczos k=20'], by[f"PyHessian, {res['ph_iters']} iterations"]
            fc, pd = by['fbtrain Lanczos, change < 1e-3 (SharpnessCB default)'], by['PyHessian, default rule (change < 1e-3)']
            def ratio(t):
                a_, b_ = py[f'seconds_to_{t:g}'], fb[f'seconds_to_{t:g}']
                if b_ is None: return None, '-'
                if a_ is None: lb = py['seconds']/b_; return lb, f'> {lb:.2f}'   # PyHessian not there after all its HVPs
                return a_/b_, f'{a_/b_:.2f}'
            rs = [ratio(t) for t in TARGETS]
            st['speedup_at_equal_accuracy'] = {f'{t:g}': r[1] for t, r in zip(TARGETS, rs)}
            L += ["", "**PyHessian seconds ÷ fbtrain seconds to reach 1e-2 / 1e-3 / 1e-4: " + ' / '.join(r[1] for r in rs)
                  + f"** ('> x': PyHessian had not got there after {res['ph_iters']} HVPs in every repeat; x uses its {res['ph_iters']}-HVP time)."]
            st['speedup_own_rule_1e-3'] = pd['seconds']/fc['seconds']
            L += ["", f"**Both stopping by the same rule at tolerance 1e-3 (change < 1e-3): PyHessian seconds ÷ fbtrain seconds = "
                  f"{pd['seconds']/fc['seconds']:.2f}** ({pd['hvps']:g} vs {fc['hvps']:g} HVPs; median error {pd['rel_err']:.1e} vs {fc['rel_err']:.1e})."]
        L.append("")
    if res['pyhessian'] == 'not installed': L += ["PyHessian is not installed (`pip install --no-deps pyhessian`); only fbtrain ran."]
    if res.get('overhead'):
        o = res['overhead']
        L += ["## SharpnessCB() overhead in the mini ladder's full-batch setting", "",
              f"convnet, 640 CIFAR-10 images, `FullBatch(32)`, lr 0.1, warmup 5, cosine, `Augment('random')`, {o['epochs']} epochs; "
              f"`SharpnessCB()` = {o['cb']}. Interleaved, {len(o['ratio'])} repeats.", "",
              "| repeat | seconds without | seconds with | ratio | measurements (epochs) | HVPs each | wall seconds each |", "|---|---|---|---|---|---|---|"]
        for i, (a, b, r, m) in enumerate(zip(o['without'], o['with'], o['ratio'], o['measurements'])):
            eps_ = ', '.join(str(x['epoch']) for x in m); hv = ', '.join(str(x['sharpness_hvps']) for x in m)
            sec = ', '.join(f"{x['sharpness_seconds']:.1f}" for x in m)
            L.append(f"| {i} | {a:.1f} | {b:.1f} | {r:.3f} | {len(m)} ({eps_}) | {hv} | {sec} |")
        L += ["", f"**Median ratio time-with ÷ time-without: {statistics.median(o['ratio']):.3f}** (target ≤ 1.10; "
              f"in wall seconds, which the other processes' load moves: {statistics.median(o['wall_ratio']):.3f}, per repeat "
              f"{', '.join(f'{r:.3f}' for r in o['wall_ratio'])}). "
              f"One epoch takes {statistics.median(o['without'])/o['epochs']:.2f} CPU s; one HVP on the 256-image probe about as long as an epoch.", ""]
    L += ["## Reading the table", "",
          "* \"HVPs\", \"seconds\", \"rel. error\": what each method returns when it stops by its own rule (or after a fixed number of HVPs).",
          "* \"to 1e-2 / 1e-3 / 1e-4\": oracle stopping, the first HVP whose estimate is that close to the reference: equal accuracy for both libraries.",
          "* Seconds per HVP differ a little because PyHessian's twin runs all " + str(res['n']) + " images through the model in one call (ghost BN) while fbtrain loops over blocks of 128; the HVP counts are the algorithmic difference (Lanczos vs power iteration).",
          "* Power iteration's error after n HVPs depends on the gap between the two top eigenvalues; here (cross-entropy, a convnet) the top eigenvalue is well separated, which is the easy case for it. Near the Edge of Stability, where the top eigenvalues crowd at 2/η, the gap closes and power iteration slows down much more than Lanczos (the project's research note on sharpness measured this during a live GD run: warm 20-step Lanczos median error 9e-6, power iteration 1–2.5 %)."]
    return '\n'.join(L) + '\n'


def overhead_run(d, epochs, with_cb):
    "Wall seconds of one mini-ladder full-batch run (fresh convnet), with or without `SharpnessCB()`; and its records."
    torch.manual_seed(0)
    cbs = [Augment('random'), Schedule(warmup=5)] + ([SharpnessCB()] if with_cb else [])
    learn = Learner(get_model('convnet'), d, FullBatch(32), lr=0.1, cbs=cbs)
    t, w = CLOCK(), time.perf_counter(); learn.fit(epochs); s, w = CLOCK() - t, time.perf_counter() - w
    return s, w, (cbs[-1].records if with_cb else None)


def overhead(a)->dict:
    "Ratio of wall times with and without `SharpnessCB()` at its defaults, interleaved repeats."
    d = get_data('cifar10', n_per_class=64, n_test=10)
    cb = SharpnessCB(); out = dict(epochs=a.overhead_epochs, without=[], ratio=[], measurements=[], wall_without=[], wall_with=[], wall_ratio=[],
                                   cb=f"every={cb.every}, budget={cb.budget}, probe={cb.probe}, k={cb.k}, tol={cb.tol}, warm-started", **{'with': []})
    for i in range(a.overhead_repeats):
        s0, w0, _ = overhead_run(d, a.overhead_epochs, False); s1, w1, recs = overhead_run(d, a.overhead_epochs, True)
        out['without'].append(s0); out['with'].append(s1); out['ratio'].append(s1/s0)
        out['wall_without'].append(w0); out['wall_with'].append(w1); out['wall_ratio'].append(w1/w0)
        out['measurements'].append([{k: r[k] for k in ('epoch', 'step', 'sharpness', 'sharpness_hvps', 'sharpness_seconds')} for r in recs])
        print(f"overhead repeat {i}: {s0:.1f}s without, {s1:.1f}s with ({len(recs)} measurements): ratio {s1/s0:.3f}", flush=True)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--n', type=int, default=512); ap.add_argument('--repeats', type=int, default=3)
    ap.add_argument('--threads', type=int, default=1); ap.add_argument('--pretrain', type=int, default=20)
    ap.add_argument('--ref-k', type=int, default=30, help='Lanczos steps of the reference')
    ap.add_argument('--ph-iters', type=int, default=30, help='PyHessian power iterations per run')
    ap.add_argument('--overhead-epochs', type=int, default=100, help='epochs of each overhead run (the mini ladder: 100 or 300)')
    ap.add_argument('--overhead-repeats', type=int, default=3, help='pairs of overhead runs; 0: skip')
    ap.add_argument('--out', default=str(Path(__file__).parent/'results'))
    ap.add_argument('--render-only', action='store_true', help='rewrite sharpness.md from an existing sharpness.json')
    a = ap.parse_args()
    if a.render_only:
        res = json.loads((Path(a.out)/'sharpness.json').read_text()); md = render(res)
        (Path(a.out)/'sharpness.json').write_text(json.dumps(res, indent=1)); (Path(a.out)/'sharpness.md').write_text(md); return
    set_threads(a.threads)
    load0, t0 = os.getloadavg(), time.perf_counter()
    d = get_data('cifar10', n_per_class=a.n//10, n_test=10)
    x, y = d.x_train[:a.n], d.y_train[:a.n]
    torch.manual_seed(0)
    model = get_model('convnet').train()
    states = [bench_state('init', model, x, y, a)]
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(a.pretrain): full_batch_gradient(model, x, y, 128); opt.step(); opt.zero_grad(set_to_none=True)
    states.append(bench_state(f'after {a.pretrain} GD steps', model, x, y, a))
    ov = overhead(a) if a.overhead_repeats else None
    res = dict(date=datetime.datetime.now().isoformat(timespec='seconds'), torch=torch.__version__,
               pyhessian='0.1' if ph is not None else 'not installed', python=platform.python_version(),
               machine=platform.machine(), cpu_count=os.cpu_count(), usable_cores=len(os.sched_getaffinity(0)),
               threads=torch.get_num_threads(), loadavg_before=load0, loadavg_after=os.getloadavg(), model='convnet',
               params=sum(p.numel() for p in model.parameters()), n=a.n, block_size=128, loss='cross_entropy',
               bn_mode='train, statistics per block of 128', repeats=a.repeats, ref_k=a.ref_k, ph_iters=a.ph_iters,
               wall_s=time.perf_counter() - t0, states=states, overhead=ov)
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    md = render(res)    # also adds the speed-ups to `res`
    (out/'sharpness.json').write_text(json.dumps(res, indent=1)); (out/'sharpness.md').write_text(md)
    print(md)

if __name__ == '__main__': main()
