"""Target 4 (Learner part): what the Learner and its callbacks cost per full-batch step, against a bare training loop.

Usage: python bench/bench_callbacks.py [--n 640] [--steps 20] [--repeats 3] [--block 32]

Setting: the pilot's protocol (convnet, a balanced subset of `n` real CIFAR-10 training images, blocks of 32,
fresh augmentation every step, lr 0.4, clip 0.25, Nesterov SGD, cosine), 1 thread, all 10,000 test images.

A. End to end, `steps` rounds, repeats interleaved (fresh copies of one initial model every time):
   * `bare`: the loop a user writes with the library's pieces: draw the augmented data, `full_batch_gradient`,
     `clip_grad_norm_`, `opt.step()`, `zero_grad`, `sched.step()`.
   * `learner`: `Learner(...).fit(steps)` with only `FullBatch` and `GradClipCB` (EvalCB taken out, no bar).
   * `learner_cbs`: the same plus `ProgressCB` (fastprogress bar) and `JSONLogCB` (a JSON line per round).
B. Per event, one `fit(steps)` with every callback at its default interval (`EvalCB`: a tenth of the run;
   `SharpnessCB()`: every 10 rounds, 1,024-image probe, 20 Lanczos steps), each callback method wrapped in a timer.
   From these: the cost of each callback as a share of the step time at its default interval, for a run of
   `steps` rounds and for the pilot's 300-round run.

Writes results/callbacks.json and callbacks.md.
"""
import argparse, copy, functools, io, contextlib, tempfile, time
from pathlib import Path
import torch
from common import RESULTS, machine, finish, facts_line, interleaved, med, set_threads, write, table
from fbtrain.data import get_data, make_blocks
from fbtrain.gradient import full_batch_gradient, trainable
from fbtrain.learner import Learner, FullBatch, EvalCB, JSONLogCB, ProgressCB
from fbtrain.optim import make_optimizer
from fbtrain.schedule import make_scheduler
from fbtrain.sharpness import SharpnessCB
from fbtrain.models import get_model

LR, WARMUP, CLIP = 0.4, 4, 0.25
EVENTS = ('before_fit', 'before_round', 'after_backward', 'after_round', 'after_fit')


def bare(model, data, steps, bs):
    "The bare loop: same data, same augmentation generator, same optimizer and schedule as the Learner."
    from fbtrain.data import TrainSet
    ts = TrainSet(data.x_train, data.y_train, 'random', seed=0, fill=data.fill)
    opt = make_optimizer(trainable(model), LR); sched = make_scheduler(opt, WARMUP, steps)
    model.train()
    for _ in range(steps):
        x, y = ts.draw()
        full_batch_gradient(model, x, y, bs, blocks=make_blocks(len(y), bs))
        torch.nn.utils.clip_grad_norm_(trainable(model), CLIP)
        opt.step(); opt.zero_grad(set_to_none=True); sched.step()


def learner(model, data, steps, bs, cbs=(), progress=False, keep_eval=False):
    learn = Learner(model, data, FullBatch(bs), lr=LR, warmup=WARMUP, clip=CLIP, cbs=list(cbs), progress=progress)
    if not keep_eval: learn.cbs = [c for c in learn.cbs if not isinstance(c, EvalCB)]
    return learn


def timed_callbacks(learn):
    "Wrap every callback method of `learn` in a timer; return the dict of accumulated seconds per callback and event."
    acc = {}
    for cb in learn.cbs:
        name = type(cb).__name__
        for ev in EVENTS + ('train_round',):
            f = getattr(cb, ev, None)
            if f is None: continue
            key = f"{name}.{ev}"; acc[key] = [0., 0]
            def w(learn, f=f, key=key):
                t = time.perf_counter(); f(learn); acc[key][0] += time.perf_counter() - t; acc[key][1] += 1
            setattr(cb, ev, w)
    return acc


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--n', type=int, default=640); p.add_argument('--steps', type=int, default=20)
    p.add_argument('--repeats', type=int, default=3); p.add_argument('--block', type=int, default=32)
    p.add_argument('--out', default=str(RESULTS))
    a = p.parse_args()
    t0 = time.time(); meta = machine(); set_threads(1); meta['threads'] = 1
    data = get_data('cifar10', n_per_class=a.n//10)
    meta.update(n=len(data.y_train), n_test=len(data.y_test), steps=a.steps, block=a.block, repeats=a.repeats)
    torch.manual_seed(0); m0 = get_model('convnet')
    tmp = Path(tempfile.mkdtemp())
    sink = io.StringIO()
    def run_learner(cbs_fn, progress):
        learn = learner(copy.deepcopy(m0), data, a.steps, a.block, cbs_fn(), progress)
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink): learn.fit(a.steps)
    fns = dict(bare=lambda: bare(copy.deepcopy(m0), data, a.steps, a.block),
               learner=lambda: run_learner(lambda: [], False),
               learner_cbs=lambda: run_learner(lambda: [JSONLogCB(tmp/'log.jsonl')], True))
    bare(copy.deepcopy(m0), data, 2, a.block); run_learner(lambda: [], False)   # warm-up (oneDNN primitives, allocator)
    ts = interleaved(fns, a.repeats, warmup=0)
    e2e = dict(seconds=ts, per_step={k: med(v)/a.steps for k, v in ts.items()},
               overhead={k: med(ts[k])/med(ts['bare']) - 1 for k in ('learner', 'learner_cbs')})
    print('end to end', e2e['per_step'], e2e['overhead'], f'({time.time()-t0:.0f}s)', flush=True)
    # B: every callback at its default interval, timed per event
    sh = SharpnessCB()
    learn = learner(copy.deepcopy(m0), data, a.steps, a.block, [JSONLogCB(tmp/'log2.jsonl'), sh], True, keep_eval=True)
    acc = timed_callbacks(learn)
    t = time.perf_counter()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink): learn.fit(a.steps)
    total = time.perf_counter() - t
    step_s = acc['FullBatch.train_round'][0]/acc['FullBatch.train_round'][1]
    per_cb = {}
    for k, (s, c) in acc.items():
        cb = k.split('.')[0]
        if cb == 'FullBatch' and k.endswith('train_round'): continue
        d = per_cb.setdefault(cb, dict(seconds=0., calls={}))
        d['seconds'] += s; d['calls'][k.split('.')[1]] = c
    n_eval = acc['EvalCB.after_round'][1]
    eval_s = sum(1 for r in learn.history if 'test_acc' in r)
    sharp_meas = [r['sharpness_seconds'] for r in sh.records]
    # cost per event: EvalCB's after_round runs every round but evaluates only at its interval
    eval_each = per_cb['EvalCB']['seconds']/max(eval_s, 1)
    sharp_each = med(sharp_meas)
    shares = {}
    for cb, d in per_cb.items():
        if cb in ('EvalCB', 'SharpnessCB'): continue
        shares[cb] = d['seconds']/a.steps/step_s
    for R in (a.steps, 300):
        shares[f'EvalCB@{R}'] = 10*eval_each/(R*step_s)        # default: 10 evaluations per run (+ the last)
        shares[f'SharpnessCB@{R}'] = (sharp_each*(R//10 + 1))/(R*step_s)   # every 10 rounds + one before the run
    per_event = dict(step_seconds=step_s, fit_seconds=total, per_callback=per_cb, evaluations=eval_s, eval_seconds_each=eval_each,
                     sharpness_measurements=len(sharp_meas), sharpness_seconds_each=sharp_each,
                     sharpness_hvps_each=med([r['sharpness_hvps'] for r in sh.records]), share_of_step=shares,
                     every_for_3pct=dict(EvalCB=eval_each/(0.03*step_s), SharpnessCB=sharp_each/(0.03*step_s)))
    print('per event', shares, f'({time.time()-t0:.0f}s)', flush=True)
    res = dict(meta=finish(meta, t0), end_to_end=e2e, per_event=per_event)
    write('callbacks', res, markdown(res), a.out)


def pct(v): return f"{100*v:.1f} %"


def markdown(res):
    m, e, p = res['meta'], res['end_to_end'], res['per_event']
    L = ['# Target 4 (Learner part): cost of the Learner and its callbacks per full-batch step', '', facts_line(m), '',
         f"convnet, {m['n']} CIFAR-10 training images (blocks of {m['block']}, fresh augmentation each step), {m['n_test']} test images, "
         f"1 thread, {m['steps']} rounds per run, {m['repeats']} interleaved repeats.", '',
         '## A. End to end: Learner vs the bare loop', '']
    L += table(['variant', 'seconds per step (median)', 'overhead vs bare'],
               [['bare loop (draw, full_batch_gradient, clip, step, schedule)', f"{e['per_step']['bare']:.4f}", '-'],
                ['Learner: FullBatch + GradClipCB', f"{e['per_step']['learner']:.4f}", f"**{pct(e['overhead']['learner'])}**"],
                ['Learner + ProgressCB + JSONLogCB', f"{e['per_step']['learner_cbs']:.4f}", f"**{pct(e['overhead']['learner_cbs'])}**"]])
    L += ['', '## B. Each callback at its default interval (timed inside one `fit`)', '',
          f"Step (FullBatch.train_round): {p['step_seconds']:.3f} s. One test evaluation (10,000 images): {p['eval_seconds_each']:.2f} s. "
          f"One sharpness measurement (SharpnessCB default: {p['sharpness_hvps_each']} HVPs): {p['sharpness_seconds_each']:.2f} s.", '']
    rows = []
    for cb, d in p['per_callback'].items():
        calls = ', '.join(f"{k} ×{v}" for k, v in d['calls'].items())
        rows.append([cb, calls, f"{d['seconds']:.3f}", f"{1e3*d['seconds']/m['steps']:.2f}"])
    L += table(['callback', 'events', 'seconds in this fit', 'ms per round'], rows)
    L += ['', '| callback | share of step time | ≤ 3 %? |', '|---|---|---|']
    for k, v in p['share_of_step'].items():
        label = k.replace('@', f' at default interval, run of ') + (' rounds' if '@' in k else ' (every round)')
        L.append(f"| {label} | {pct(v)} | {'yes' if v <= 0.03 else '**no**'} |")
    L += ['', f"Interval that would bring a callback to 3 % of step time here: EvalCB every {p['every_for_3pct']['EvalCB']:.0f} rounds, "
          f"SharpnessCB every {p['every_for_3pct']['SharpnessCB']:.0f} rounds."]
    return '\n'.join(L) + '\n'


if __name__ == '__main__': main()
