"""GPU check (issue 14): numerics on CUDA against a float64 CPU reference, the dashboard on CUDA, speed against a bare
PyTorch loop, and a convnet mini ladder, in one run of at most 8 minutes on one GPU.

Usage (from the repository root):

    python bench/gpu_check.py --data-dir /path/to/cifar10              # on a GPU machine: writes bench/results/gpu.md|json
    python bench/gpu_check.py --quick --device cpu --out-dir /tmp/gpu   # CPU smoke run of every code path (a few minutes)

`--data-dir` is a folder of CIFAR-10 npz files; it may hold only `train_0.npz` and `test.npz` (default: FBTRAIN_DATA,
then fbtrain's cache). `--budget-s` (default 470) is the wall-clock budget from the start of the process: a section
(and a ladder rung) is not started when the time left is below its estimate, and the ladder stops its last run at the
deadline. Results are written after every section, so a run that is killed still leaves what it measured.

Sections:
(a) numerics (deterministic mode): full-batch gradient (convnet, ResNet-18) in fp32 / TF32 / bf16 against float64 on
    the CPU, next to the CPU's own float32 error; the gradient-norm regularizer (finite differences and double
    backprop); Lanczos λ_max; bit-exact rerun and resume (`learn.save` / `learn.load`) for full batch and mini-batch;
    `oom_hint` on a real CUDA out-of-memory error.
(b) the dashboard's own Start path, headless (one function, `dashboard_check`, to adapt when the dashboard changes).
(c) speed: `full_batch_gradient` against a bare loop of forward/backward over the same blocks, for fp32, TF32 and
    bf16 autocast, NCHW and channels_last; images/s, fbtrain/bare time ratio, and the fraction of the matmul peak
    measured in the same run. Medians of interleaved repeats, `torch.cuda.synchronize()` around every timing.
(d) if time is left: one seed of the convnet mini ladder on the 10,000 images of train_0.npz, all 10,000 test images.
"""
import os, sys, time
T0 = time.time()
os.environ.setdefault('CUBLAS_WORKSPACE_CONFIG', ':4096:8')   # before torch starts cuBLAS: deterministic mode needs it
import argparse, copy, dataclasses, json, platform, shutil, statistics, subprocess, tempfile, traceback, warnings
from contextlib import contextmanager
from pathlib import Path
import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import cpu_model, table
from fbtrain.device import resolve_device, fast_defaults, device_flags, to_device, check_same_device, oom_hint, DeviceMemoryError
from fbtrain.data import load_cifar10, normalize, get_data, cache_dir
from fbtrain.models import get_model
from fbtrain.gradient import full_batch_gradient, rel_err, trainable
from fbtrain.regularizer import GradNormRegularizer
try: from fbtrain.hessian import top_eigenvalue            # where λ_max lives after the sharpness split
except ImportError: from fbtrain.sharpness import top_eigenvalue

RESULTS = HERE/'results'
CL = torch.channels_last
TOL = dict(fp32=1e-3, tf32=2e-2, bf16=2e-2)   # floors of the relative-error tolerances (see `check`)
PLANS = {
    'full': dict(num={'convnet': (512, 128), 'resnet18': (256, 128)}, reg=(256, 32), eig=(256, 32, 20), resume=(100, 6, 128, 64),
                 speed={'convnet': (8192, 128), 'resnet18': (4096, 128)}, repeats=5, mm=8192, dash_n=64, dash_epochs=6,
                 est=dict(numerics=120, dashboard=45, speed=120, ladder=60)),
    'quick': dict(num={'convnet': (128, 32), 'resnet8': (64, 32)}, reg=(64, 32), eig=(64, 32, 8), resume=(10, 4, 32, 16),
                  speed={'convnet': (256, 32), 'resnet8': (128, 32)}, repeats=2, mm=1024, dash_n=8, dash_epochs=3,
                  est=dict(numerics=30, dashboard=15, speed=30, ladder=10)),
}
LADDER_ORDER = ('mini/sgd', 'mini/fb-baseline', 'mini/fb-reg', 'mini/fb-clip', 'mini/fb-longer')  # the bar's rungs first
RESERVE_S = 15   # kept free at the end for writing results


def left(args) -> float: return args.deadline - time.time()
def sync(dev):
    if dev.type == 'cuda': torch.cuda.synchronize(dev)


@contextmanager
def precision(prec:str, dev):
    "fp32: IEEE float32 (TF32 off); tf32: TF32 on; bf16: bfloat16 autocast (TF32 on for what stays float32)."
    old = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = prec != 'fp32'
    try:
        if prec == 'bf16':
            with torch.autocast(dev.type, dtype=torch.bfloat16): yield
        else: yield
    finally: torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old


def cifar(n:int, data_dir=None):
    "The first `n` CIFAR-10 training images (normalised, CPU) and labels."
    x, y = load_cifar10('train', data_dir)
    return normalize(x[:n]), y[:n].clone()


def grads(model): return [p.grad.detach().cpu().clone() for p in trainable(model)]


def check(res, section, name, value, tol, required=True, **kw):
    "Record one check: `value` ≤ `tol` passes."
    ok = value is not None and value == value and value <= tol
    res['checks'].append(dict(section=section, check=name, value=value, tol=tol, passed=bool(ok), required=required, **kw))
    print(f"  {'PASS' if ok else ('FAIL' if required else 'info')}: {name}: {_f(value)} (tolerance {tol:.3g})", flush=True)
    return ok


def tol_for(prec, cpu_err): return max(3*cpu_err, TOL[prec])   # at most 3× the CPU's own float32 error, or the floor


# ---------------------------------------------------------------- (a) numerics
def fb_grad(model, x, y, bs, **kw):
    st = full_batch_gradient(model, x, y, bs, accum_dtype=next(model.parameters()).dtype, **kw)
    return st, grads(model)


def numerics(args, res, dev):
    P = args.plan; out = dict(flags=fast_defaults(dev, deterministic=True) or device_flags())
    sec = 'numerics'
    for name, (n, bs) in P['num'].items():
        x, y = cifar(n, args.data_dir)
        torch.manual_seed(0); m = get_model(name)
        t = time.time(); _, g64 = fb_grad(copy.deepcopy(m).double(), x.double(), y, bs)
        _, g32 = fb_grad(to_device(copy.deepcopy(m), 'cpu'), x, y, bs); cpu_err = rel_err(g32, g64)
        print(f"  {name}: float64 reference on the CPU ({time.time() - t:.0f} s); CPU float32 error {cpu_err:.2e}", flush=True)
        for prec in ('fp32', 'tf32', 'bf16'):
            if prec == 'tf32' and dev.type != 'cuda': continue
            md = to_device(copy.deepcopy(m), dev); xd, yd = x.to(dev), y.to(dev); check_same_device(md, xd, yd)
            with precision(prec, dev): _, g = fb_grad(md, xd, yd, bs)
            check(res, sec, f"{name} full-batch gradient, {prec} on {dev.type} vs float64 (CPU float32: {cpu_err:.1e})",
                  rel_err(g, g64), tol_for(prec, cpu_err), required=prec != 'bf16', model=name, n=n, block=bs, cpu_fp32=cpu_err)
        if left(args) < 60: out['note'] = 'stopped early: budget'; return out
    n, bs = P['reg']; x, y = cifar(n, args.data_dir)
    torch.manual_seed(0); m = get_model('convnet')
    for method in ('finite-diff', 'double-backprop'):
        reg = GradNormRegularizer(0.5, method=method)
        s64, g64 = fb_grad(copy.deepcopy(m).double(), x.double(), y, bs, regularizer=reg, lr=0.8)
        s32, g32 = fb_grad(to_device(copy.deepcopy(m), 'cpu'), x, y, bs, regularizer=reg, lr=0.8); cpu_err = rel_err(g32, g64)
        for prec in ('fp32', 'tf32') if dev.type == 'cuda' else ('fp32',):
            md = to_device(copy.deepcopy(m), dev)
            with precision(prec, dev): s, g = fb_grad(md, x.to(dev), y.to(dev), bs, regularizer=reg, lr=0.8)
            check(res, sec, f"regularized gradient ({method}, alpha 0.5, lr 0.8), {prec} on {dev.type} vs float64 (CPU float32: {cpu_err:.1e})",
                  rel_err(g, g64), tol_for(prec, cpu_err), model='convnet', n=n, block=bs, cpu_fp32=cpu_err)
            check(res, sec, f"regularizer penalty ({method}), {prec} on {dev.type} vs float64", abs(s.penalty - s64.penalty)/abs(s64.penalty),
                  TOL[prec], model='convnet', n=n, block=bs)
    n, bs, k = P['eig']; x, y = x[:n], y[:n]
    t = time.time(); r64 = top_eigenvalue(copy.deepcopy(m).double(), x.double(), y, bs, k)
    r32 = top_eigenvalue(copy.deepcopy(m), x, y, bs, k); cpu_err = abs(r32.value - r64.value)/abs(r64.value)
    for prec in ('fp32', 'tf32') if dev.type == 'cuda' else ('fp32',):
        with precision(prec, dev): r = top_eigenvalue(to_device(copy.deepcopy(m), dev), x.to(dev), y.to(dev), bs, k)
        check(res, sec, f"Lanczos λ_max ({k} HVPs), {prec} on {dev.type} vs float64 ({r64.value:.4g}; CPU float32 error {cpu_err:.1e})",
              abs(r.value - r64.value)/abs(r64.value), tol_for(prec, cpu_err), model='convnet', n=n, block=bs, lam=r.value, lam64=r64.value)
    print(f"  λ_max: {time.time() - t:.0f} s", flush=True)
    out['resume'] = resume_checks(args, res, dev)
    out['oom'] = oom_check(res, dev)
    fast_defaults(dev)
    return out


def _learner(data, kind:str, dev, block:int, batch:int):
    "A small convnet learner with random augmentation (its generator is part of the state a resume must restore)."
    from fbtrain.learner import Learner, FullBatch, MiniBatch, Augment
    torch.manual_seed(0); model = to_device(get_model('convnet'), dev)
    train = FullBatch(block, shuffle=True) if kind == 'full batch' else MiniBatch(batch)
    return Learner(model, data, train, lr=0.05, cbs=[Augment('random')], seed=0)


def _same(a, b) -> tuple:
    sa, sb = a.model.state_dict(), b.model.state_dict()
    diff = max((sa[k].double() - sb[k].double()).abs().max().item() for k in sa if sa[k].is_floating_point())
    hist = [h.get('loss') for h in a.history] == [h.get('loss') for h in b.history]
    return all(torch.equal(sa[k], sb[k]) for k in sa) and hist, diff


def resume_checks(args, res, dev) -> list:
    "Straight run twice (determinism), and half + save + load + rest (resume), all compared bit by bit."
    npc, epochs, block, batch = args.plan['resume']
    data = get_data('cifar10', n_per_class=npc, n_test=200, data_dir=args.data_dir, device=dev)
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ('full batch', 'mini-batch'):
            t = time.time()
            new = lambda: _learner(data, kind, dev, block, batch)
            a = new(); a.fit(epochs)
            b = new(); b.fit(epochs)
            c = new(); c.fit(epochs//2); c.save(Path(tmp)/'half.pt')
            d = new(); d.load(Path(tmp)/'half.pt'); d.fit(epochs)
            (rerun, drerun), (resume, dresume) = _same(a, b), _same(a, d)
            for nm, ok, diff in (('rerun', rerun, drerun), ('resume', resume, dresume)):
                res['checks'].append(dict(section='numerics', check=f"bit-exact {nm}, {kind}, {epochs} epochs (deterministic mode; max |Δparam| {diff:.1e})",
                                          value=diff, tol=0., passed=bool(ok), required=True, model='convnet', n=len(data.y_train)))
                print(f"  {'PASS' if ok else 'FAIL'}: bit-exact {nm}, {kind}: max |Δparam| {diff:.1e}", flush=True)
            out.append(dict(kind=kind, epochs=epochs, rerun=rerun, resume=resume, seconds=round(time.time() - t, 1)))
    return out


def oom_check(res, dev) -> dict:
    "A real CUDA out-of-memory error inside `oom_hint` must come out as a `DeviceMemoryError` naming the block size."
    if dev.type != 'cuda': return dict(status='skipped: needs CUDA')
    total = torch.cuda.get_device_properties(dev).total_memory
    try:
        with oom_hint(128, 'fp32'): torch.empty(int(total*1.5), dtype=torch.uint8, device=dev)
        got = 'no error'
    except DeviceMemoryError as e: got = str(e)
    except Exception as e: got = f"{type(e).__name__}: {e}"
    torch.cuda.empty_cache()
    ok = 'block_size=128' in got and "'bf16'" in got
    res['checks'].append(dict(section='numerics', check="oom_hint turns a real CUDA out-of-memory error into advice", value=float(not ok),
                              tol=0., passed=ok, required=True))
    print(f"  {'PASS' if ok else 'FAIL'}: oom_hint: {got[:160]}", flush=True)
    return dict(message=got[:400])


# ---------------------------------------------------------------- (b) dashboard
def dashboard_check(dev, plan) -> list:
    """The dashboard's own Start-click path, headless: `Dashboard(colab=True)` (plain figure, no widget front end) and
    `run(blocking=True, ...)`, which is what the Start button calls. ADAPT THIS FUNCTION when the dashboard changes."""
    import fbtrain.dashboard as D
    dash = D.Dashboard(colab=True, interval=0., device=str(dev) if dev.type != 'cuda' else 'auto')
    rows = []
    for mode in ('fb', 'sgd'):
        t = time.time()
        run = dash.run(blocking=True, mode=mode, n_per_class=plan['dash_n'], sharpness_every=2, epochs=plan['dash_epochs'], warmup=1,
                       shuffle=True, reg_alpha=0.5 if mode == 'fb' else 0.)
        learn = run.get('learner'); h = learn.history[-1] if learn is not None and learn.history else {}
        rows.append(dict(mode=mode, status=run['status'], message=run.get('message', '')[:300], seconds=round(time.time() - t, 2),
                         epochs=len(learn.history) if learn else 0, loss=h.get('loss'), test_acc=h.get('test_acc'),
                         trained_on=str(next(learn.model.parameters()).device) if learn else None,
                         data_on=str(learn.data.x_train.device) if learn else None, plot_updates=getattr(run.get('cb'), 'updates', None)))
    return rows


def dashboard(args, res, dev):
    fast_defaults(dev)
    rows = dashboard_check(dev, args.plan)
    res['dashboard'] = rows
    for r in rows:
        ok = r['status'] == 'finished' and r['trained_on'] is not None and torch.device(r['trained_on']).type == dev.type
        res['checks'].append(dict(section='dashboard', check=f"dashboard {r['mode']} run finishes and trains on {dev.type} (trained on {r['trained_on']}, status {r['status']})",
                                  value=float(not ok), tol=0., passed=ok, required=True))
        print(f"  {'PASS' if ok else 'FAIL'}: dashboard {r['mode']}: {r['status']} on {r['trained_on']} in {r['seconds']} s {r['message']}", flush=True)
    return dict(runs=len(rows))


# ---------------------------------------------------------------- (c) speed
def bare_loop(model, x, y, bs):
    "The baseline: plain forward/backward over the same blocks, gradients accumulated by autograd into p.grad."
    model.zero_grad(set_to_none=True); n = len(y)
    for s in range(0, n, bs): (F.cross_entropy(model(x[s:s + bs]), y[s:s + bs])*(len(y[s:s + bs])/n)).backward()


def timed(f, dev) -> float:
    sync(dev); t = time.perf_counter(); f(); sync(dev); return time.perf_counter() - t


def matmul_peaks(dev, n, precs) -> dict:
    "Best TFLOP/s of an n×n matmul per precision (fp32: IEEE, tf32: TF32 tensor cores, bf16: bfloat16 inputs)."
    out = {}
    for prec in precs:
        dt = torch.bfloat16 if prec == 'bf16' else torch.float32
        a, b = torch.randn(n, n, device=dev).to(dt), torch.randn(n, n, device=dev).to(dt)
        with precision('tf32' if prec == 'tf32' else 'fp32', dev):
            for _ in range(2): a @ b
            out[prec] = 2*n**3/min(timed(lambda: a @ b, dev) for _ in range(8))/1e12
        del a, b
    return out


def flops_per_image(name, bs=8) -> float:
    from torch.utils.flop_counter import FlopCounterMode
    torch.manual_seed(0); m = get_model(name).train(); x = torch.randn(bs, 3, 32, 32); y = torch.randint(0, 10, (bs,))
    with FlopCounterMode(display=False) as fc: F.cross_entropy(m(x), y).backward()
    return fc.get_total_flops()/bs


def speed(args, res, dev):
    P = args.plan; fast_defaults(dev)
    precs = ('fp32', 'tf32', 'bf16') if dev.type == 'cuda' else ('fp32', 'bf16')
    peaks = matmul_peaks(dev, P['mm'], precs)
    res['matmul_peak'] = [dict(precision=k, tflops=v, n=P['mm']) for k, v in peaks.items()]
    print('  matmul peak TFLOP/s: ' + ', '.join(f"{k} {v:.1f}" for k, v in peaks.items()), flush=True)
    for name, (n, bs) in P['speed'].items():
        if left(args) < 30: res['speed_note'] = f'stopped before {name}: budget'; break
        x, y = cifar(n, args.data_dir); x, y = x.to(dev), y.to(dev); xcl = x.contiguous(memory_format=CL)
        fpi = flops_per_image(name)
        torch.manual_seed(0); base = get_model(name).to(dev)
        models = {'NCHW': base, 'channels_last': copy.deepcopy(base).to(memory_format=CL)}
        inputs = {'NCHW': x, 'channels_last': xcl}
        fns = {}
        for prec in precs:
            for lay in models:
                m, xi = models[lay], inputs[lay]
                def fb(m=m, xi=xi, prec=prec):
                    with precision(prec, dev): full_batch_gradient(m, xi, y, bs)
                def bare(m=m, xi=xi, prec=prec):
                    with precision(prec, dev): bare_loop(m, xi, y, bs)
                fns[(prec, lay, 'fbtrain')], fns[(prec, lay, 'bare')] = fb, bare
        with precision('fp32', dev):     # the same gradient both ways (IEEE float32)
            full_batch_gradient(base, x, y, bs); g_fb = grads(base); bare_loop(base, x, y, bs); g_bare = grads(base)
        agree = rel_err(g_fb, g_bare)
        for f in fns.values(): f()       # warm up (cuDNN benchmark picks its algorithms here)
        ts = {k: [] for k in fns}
        for _ in range(P['repeats']):
            for k, f in fns.items(): ts[k].append(timed(f, dev))
        for prec in precs:
            for lay in models:
                tf, tb = statistics.median(ts[(prec, lay, 'fbtrain')]), statistics.median(ts[(prec, lay, 'bare')])
                ips = n/tf
                res['speed'].append(dict(model=name, precision=prec, layout=lay, n=n, block=bs, ips_fbtrain=ips, ips_bare=n/tb,
                                         fbtrain_over_bare=tf/tb, tflops=ips*fpi/1e12, peak_fraction=ips*fpi/1e12/peaks[prec],
                                         gflop_per_image=fpi/1e9, grad_vs_bare=agree))
                print(f"  {name:8} {prec} {lay:13} fbtrain {ips:9.0f} img/s  bare {n/tb:9.0f} img/s  ratio {tf/tb:.3f}  "
                      f"{100*ips*fpi/1e12/peaks[prec]:.1f} % of {prec} peak", flush=True)
        check(res, 'speed', f"{name}: fbtrain and bare loop give the same gradient (fp32)", agree, 1e-4, model=name)
        worst = max(r['fbtrain_over_bare'] for r in res['speed'] if r['model'] == name)
        check(res, 'speed', f"{name}: full_batch_gradient time / bare loop time, worst variant", worst, 1.15, required=False, model=name)
        del models, inputs, fns, base
        if dev.type == 'cuda': torch.cuda.empty_cache()
    return dict(peaks=peaks)


# ---------------------------------------------------------------- (d) ladder
def _ladder_data(args, tmp:Path):
    "A folder that holds only train_0.npz and test.npz (links), and the settings for its 10,000 training images."
    src = Path(args.data_dir or os.environ.get('FBTRAIN_DATA') or cache_dir())
    if (src/'train_0.npz').is_file() and (src/'test.npz').is_file():
        d = tmp/'data'; d.mkdir()
        for f in ('train_0.npz', 'test.npz'): (d/f).symlink_to((src/f).resolve())
        return d, ['n_per_class=none'], 'the 10,000 images of train_0.npz (unbalanced: 937 to 1,032 per class), all 10,000 test images'
    return src, ['n_per_class=1000'], f'no train_0.npz in {src}: a balanced 10,000 (1,000 per class), all 10,000 test images'


def ladder(args, res, dev):
    from fbtrain.learner import Callback, CancelFitException
    from fbtrain.ladder import run_ladder, write_ladder
    from fbtrain.recipes import MINI, KEYS, get_recipe, override
    fast_defaults(dev)

    class Deadline(Callback):
        "Stop the run (status 'stopped', checkpoint kept) once the budget is spent."
        order = 100
        def after_epoch(self, learn):
            if left(args) < RESERVE_S + 10: raise CancelFitException()   # 10 s for the run's summary (train and test accuracy)

    tmp = Path(tempfile.mkdtemp(prefix='fbtrain-gpu-ladder-'))
    try:
        data_dir, sets, what = _ladder_data(args, tmp)
        if args.quick: sets = sets + ['n_per_class=4', f"{'epochs' if 'epochs' in KEYS else 'steps'}=2", 'warmup=0', 'n_test=100']
        out, per_pass, rungs = tmp/'ladder', None, []
        for name in [n for n in LADDER_ORDER if n in MINI]:
            r = override(get_recipe(name), sets)
            length = getattr(r, 'epochs', None) or getattr(r, 'steps')
            passes = 2 if r.reg_alpha else 1
            est = per_pass*length*passes*1.1 if (per_pass and r.mode == 'fb') else None
            if left(args) < RESERVE_S + 10 or (est is not None and est > left(args) - RESERVE_S):
                rungs.append(dict(recipe=name, status='skipped', reason=f"budget: {left(args):.0f} s left" + (f", needs about {est:.0f} s" if est else '')))
                print(f"  {name}: skipped ({rungs[-1]['reason']})", flush=True); continue
            t = time.time()
            s = run_ladder([name], seeds=[0], out=out, sets=sets, log=lambda m: print('  ' + m, flush=True),
                           data_dir=data_dir, device=str(dev), cbs=[Deadline()])[0]
            rungs.append(dict(recipe=name, status=s['status'], seconds=round(time.time() - t, 1), wall_s=s['wall_s'], test_acc=s['test_acc'],
                              train_acc=s['train_acc'], n_train=s['n_train'], n_test=s['n_test'], device=s.get('device'), epochs=length, estimate_s=est))
            if r.mode == 'fb' and s['status'] == 'finished': per_pass = s['wall_s']/(length*passes)
        res['ladder_rungs'] = rungs
        lad = write_ladder(out, recipes=list(MINI))
        res['ladder_table'], res['ladder_checks'] = lad['table'], lad['checks']
        res['ladder_md'] = (out/'ladder.md').read_text().split('\n', 2)[-1].strip()
        return dict(data=what, sets=sets)
    finally: shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------- results
def gpu_facts(dev) -> dict:
    f = dict(device=str(dev), torch=torch.__version__, python=platform.python_version(), cpu=cpu_model(), cpu_cores=os.cpu_count(),
             torch_threads=torch.get_num_threads(), date=time.strftime('%Y-%m-%dT%H:%M:%S'))
    if dev.type == 'cuda':
        p = torch.cuda.get_device_properties(dev)
        f.update(gpu=p.name, gpu_memory_gib=round(p.total_memory/2**30, 1), capability=f"{p.major}.{p.minor}", cuda=torch.version.cuda,
                 cudnn=torch.backends.cudnn.version())
        try: f['driver'] = subprocess.run(['nvidia-smi', '--query-gpu=driver_version', '--format=csv,noheader'], capture_output=True,
                                         text=True, timeout=20).stdout.strip()
        except Exception: pass
    return f


def _f(v, spec='.3g'): return '-' if v is None else (f"{v:{spec}}" if isinstance(v, float) else str(v))


def markdown(res) -> str:
    m = res['meta']
    L = ['# GPU check (issue 14)', '']
    if m.get('device_type') != 'cuda':
        L += [f"**Not a GPU run**: this is a CPU smoke run on {m['device']} (`--quick`: {m['quick']}), written to check the script's code paths.", '']
    gpu = f"{m.get('gpu')} ({m.get('gpu_memory_gib')} GiB, compute capability {m.get('capability')}), CUDA {m.get('cuda')}, cuDNN {m.get('cudnn')}, driver {m.get('driver', '?')}; " if m.get('gpu') else ''
    L += [f"{gpu}{m['cpu']} ({m['cpu_cores']} cores), torch {m['torch']}, Python {m['python']}, {m['date']}. "
          f"Budget {m['budget_s']} s; the whole run took {m.get('total_s', '?')} s. Command: `{m['command']}`.", '',
          'Reproduce: `python bench/gpu_check.py --data-dir /path/to/cifar10` (see the script\'s docstring).', '', '## Sections', '']
    L += table(['section', 'status', 'seconds', 'note'], [[s['name'], s['status'], _f(s.get('seconds')), s.get('note', '')] for s in res['sections']])
    L += ['', '## Checks', '', 'Relative errors against a float64 CPU reference. Tolerance: at most 3× the CPU\'s own float32 error, '
          f"or {TOL['fp32']:g} (fp32), {TOL['tf32']:g} (TF32, bf16) if that is larger. `info` rows are not required to pass.", '']
    L += table(['section', 'check', 'value', 'tolerance', 'result'],
               [[c['section'], c['check'], _f(c['value']), _f(c['tol']), 'PASS' if c['passed'] else ('FAIL' if c['required'] else 'info')]
                for c in res['checks']])
    if res['errors']:
        L += ['', '## Errors', ''] + [f"- **{e['section']}**: `{e['error']}`" for e in res['errors']]
    if res['dashboard']:
        L += ['', '## Dashboard (its own Start path, headless)', '']
        L += table(['mode', 'status', 'trained on', 'data on', 'epochs', 'seconds', 'loss', 'test acc', 'plot updates'],
                   [[r['mode'], r['status'], r['trained_on'], r['data_on'], r['epochs'], r['seconds'], _f(r['loss'], '.4f'), _f(r['test_acc'], '.3f'), r['plot_updates']]
                    for r in res['dashboard']])
    if res['matmul_peak']:
        L += ['', '## Speed', '', 'Matmul peak measured in this run (best of 8, TFLOP/s): ' +
              ', '.join(f"{p['precision']} {p['tflops']:.1f}" for p in res['matmul_peak']) + f" (n = {res['matmul_peak'][0]['n']}).", '',
              '`full_batch_gradient` against a bare forward/backward loop over the same blocks (median images/s of interleaved repeats); '
              'fraction of the matmul peak of the same precision (forward+backward FLOPs counted by FlopCounterMode).', '']
        L += table(['model', 'images / block', 'precision', 'layout', 'fbtrain img/s', 'bare img/s', 'fbtrain / bare time', 'TFLOP/s', '% of peak'],
                   [[r['model'], f"{r['n']} / {r['block']}", r['precision'], r['layout'], f"{r['ips_fbtrain']:,.0f}", f"{r['ips_bare']:,.0f}",
                     f"{r['fbtrain_over_bare']:.3f}", f"{r['tflops']:.2f}", f"{100*r['peak_fraction']:.1f}"] for r in res['speed']])
        for name in dict.fromkeys(r['model'] for r in res['speed']):
            rs = {(r['precision'], r['layout']): r['ips_fbtrain'] for r in res['speed'] if r['model'] == name}
            b = max(rs, key=rs.get)
            L.append(f"\n{name}: fastest {b[0]} {b[1]}, {rs[b]/rs[('fp32', 'NCHW')]:.2f}× fp32 NCHW.")
    if res.get('ladder_rungs'):
        L += ['', '## Mini ladder (convnet, one seed)', '', f"Data: {res['sections_info'].get('ladder', {}).get('data', '')}.", '']
        L += table(['rung (in the order run)', 'status', 'seconds', 'test acc %', 'train acc %', 'note'],
                   [[r['recipe'], r['status'], _f(r.get('seconds')), _f(100*r['test_acc'], '.2f') if r.get('test_acc') is not None else '-',
                     _f(100*r['train_acc'], '.1f') if r.get('train_acc') is not None else '-', r.get('reason', '')] for r in res['ladder_rungs']])
        if res.get('ladder_md'): L += ['', res['ladder_md']]
    if res['warnings']: L += ['', '## Warnings seen', ''] + [f"- `{w}`" for w in res['warnings']]
    return '\n'.join(L) + '\n'


def write(res, out:Path):
    out.mkdir(parents=True, exist_ok=True)
    res['meta']['total_s'] = round(time.time() - T0, 1)
    js = {k: v for k, v in res.items() if k not in ('ladder_md', 'sections_info')}
    (out/'gpu.json').write_text(json.dumps(js, indent=1, default=str) + '\n')
    (out/'gpu.md').write_text(markdown(res))


SECTIONS = (('numerics', numerics), ('dashboard', dashboard), ('speed', speed), ('ladder', ladder))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--data-dir', default=None, help='CIFAR-10 npz folder (train_0.npz + test.npz suffice); default FBTRAIN_DATA, cache')
    p.add_argument('--out-dir', default=str(RESULTS), help='where gpu.md and gpu.json go (default bench/results)')
    p.add_argument('--budget-s', type=float, default=470, help='wall-clock budget in seconds from the start of the process (default 470)')
    p.add_argument('--device', default='auto', help="device (default 'auto'; see fbtrain.device.resolve_device)")
    p.add_argument('--quick', action='store_true', help='small sizes: a smoke run of every code path (for the CPU)')
    p.add_argument('--sections', default=','.join(n for n, _ in SECTIONS), help='comma-separated subset of: ' + ', '.join(n for n, _ in SECTIONS))
    a = p.parse_args(argv)
    dev = resolve_device(a.device)
    out = Path(a.out_dir)
    if dev.type != 'cuda' and out.resolve() == RESULTS.resolve():
        sys.exit(f"gpu_check: error: device {dev} is not a GPU; write a smoke run elsewhere, e.g. --quick --device cpu --out-dir /tmp/gpu-check")
    unknown = set(a.sections.split(',')) - {n for n, _ in SECTIONS}
    if unknown: sys.exit(f"gpu_check: error: unknown section(s) {', '.join(sorted(unknown))}; allowed: {', '.join(n for n, _ in SECTIONS)}")
    if a.data_dir: os.environ['FBTRAIN_DATA'] = str(Path(a.data_dir).resolve())   # the dashboard loads through FBTRAIN_DATA
    try:
        for split in ('train', 'test'): load_cifar10(split, a.data_dir)
    except ValueError as e: sys.exit(f"gpu_check: error: {e}")
    a.plan, a.deadline = PLANS['quick' if a.quick else 'full'], T0 + a.budget_s
    res = dict(meta=dict(gpu_facts(dev), device_type=dev.type, quick=a.quick, budget_s=a.budget_s, command=' '.join(['python', 'bench/gpu_check.py'] + (argv if argv is not None else sys.argv[1:]))),
               sections=[], checks=[], errors=[], warnings=[], dashboard=[], matmul_peak=[], speed=[], sections_info={})
    print(f"gpu_check on {dev} ({res['meta'].get('gpu', res['meta']['cpu'])}), budget {a.budget_s:.0f} s", flush=True)
    for name, fn in SECTIONS:
        if name not in a.sections.split(','): continue
        est = a.plan['est'][name]
        if left(a) < est + RESERVE_S:
            res['sections'].append(dict(name=name, status='skipped', seconds=0., note=f"budget: {left(a):.0f} s left, needs about {est} s"))
            print(f"[{name}] skipped: {res['sections'][-1]['note']}", flush=True); write(res, out); continue
        print(f"[{name}] ({left(a):.0f} s left)", flush=True)
        t, n0 = time.time(), len(res['checks'])
        try:
            with warnings.catch_warnings(record=True) as w:
                warnings.simplefilter('default')
                try: info = fn(a, res, dev) or {}
                finally: res['warnings'] += [f"{name}: {m}" for m in dict.fromkeys(str(x.message)[:300] for x in w)]
            bad = [c for c in res['checks'][n0:] if c['required'] and not c['passed']]
            status, note = ('fail' if bad else 'ok'), (f"{len(bad)} required check(s) failed" if bad else info.get('note', ''))
        except Exception as e:
            info, status, note = {}, 'error', f"{type(e).__name__}: {str(e)[:200]}"
            res['errors'].append(dict(section=name, error=f"{type(e).__name__}: {str(e)[:500]}", traceback=traceback.format_exc()[-3000:]))
            print(traceback.format_exc(), flush=True)
            if dev.type == 'cuda': torch.cuda.empty_cache()
        res['sections_info'][name] = info
        res['sections'].append(dict(name=name, status=status, seconds=round(time.time() - t, 1), note=note, flags=json.dumps(device_flags())))
        print(f"[{name}] {status} in {time.time() - t:.0f} s {note}", flush=True)
        write(res, out)
    write(res, out)
    print(f"wrote {out/'gpu.md'} and {out/'gpu.json'} ({time.time() - T0:.0f} s in all)")
    return res


if __name__ == '__main__': main()
