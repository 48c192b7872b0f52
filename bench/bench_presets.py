"""The dashboard's presets as a student runs them: seconds and final test accuracy of each rung, one seed.

Usage: python bench/bench_presets.py [--threads 1] [--seed 0] [--out bench/results]
       python bench/bench_presets.py --report   # rewrite presets.md from presets.json

Each preset is trained the dashboard's way (`live_learner(preset(name), cached_data(64, 1000))`: 640 CIFAR-10
training images, 1,000 test images, the test subset during the run and all of it after the last epoch, sharpness on
the light probe), without a plot, in the order of the paper's ladder. The checks are the story the presets must
tell: naive full batch clearly below SGD (by 5 points or more), + clip close to SGD (within 5 points), and
+ regularizer not below + clip by more than seed noise (2 points at this size). The CPU may be shared, so the load
average is recorded; seconds move with it, accuracies do not.
"""
import argparse, json, sys, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).parent))
from common import RESULTS, machine, finish, facts_line, set_threads

CHECKS = [('naive full batch clearly below SGD', lambda a: a['SGD'] - a['naive full batch'] >= 5),
          ('+ clip close to SGD (within 5 points)', lambda a: abs(a['+ clip'] - a['SGD']) <= 5),
          ('+ regularizer not below + clip by more than 2 points', lambda a: a['+ regularizer'] >= a['+ clip'] - 2)]

def run(name:str, seed:int)->dict:
    "Train preset `name` as the dashboard does; its seconds, accuracies and sharpness."
    from dataclasses import replace
    from fbtrain.dashboard import preset, live_learner, cached_data, threshold
    r = replace(preset(name), seed=seed)
    learn = live_learner(r, cached_data(r.n_per_class, r.n_test))
    t = time.perf_counter(); h = learn.fit(r.epochs); s = time.perf_counter() - t
    sh = [x for x in h if x.get('sharpness') is not None]
    return dict(preset=name, epochs=r.epochs, steps=learn.step, seconds=round(s, 1), status=learn.status,
                test_acc=round(100*h[-1]['test_acc'], 2), train_acc=round(100*h[-1]['train_acc'], 2),
                sharpness=round(sh[-1]['sharpness'], 2) if sh else None,
                stability_limit=round(min(threshold(x) for x in sh if threshold(x)), 2) if sh else None)

def report(res:dict)->str:
    rows = res['runs']; acc = {r['preset']: r['test_acc'] for r in rows}
    lines = ['# Dashboard presets: seconds and test accuracy (one seed)', '', facts_line(res['machine']) +
             f" {res['threads']} torch thread(s), seed {res['seed']}.", '',
             '| preset | epochs | steps | seconds | test acc % | train acc % | last sharpness | lowest stability limit |',
             '|---|---|---|---|---|---|---|---|']
    lines += [f"| {r['preset']} | {r['epochs']} | {r['steps']} | {r['seconds']} | {r['test_acc']} | {r['train_acc']} | "
              f"{r['sharpness']} | {r['stability_limit']} |" for r in rows]
    lines += [''] + [f"- {'PASS' if ok(acc) else 'FAIL'}: {what}" for what, ok in CHECKS]
    return '\n'.join(lines) + '\n'

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--threads', type=int, default=1); ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--out', default=str(RESULTS)); ap.add_argument('--report', action='store_true')
    a = ap.parse_args(argv); out = Path(a.out)
    if not a.report:
        from fbtrain.dashboard import PRESETS
        set_threads(a.threads); meta, t0 = machine(), time.time()
        rows = []
        for n in PRESETS: rows.append(run(n, a.seed)); print(json.dumps(rows[-1]), flush=True)
        res = dict(machine=finish(meta, t0), threads=a.threads, seed=a.seed, runs=rows)
        (out/'presets.json').write_text(json.dumps(res, indent=1) + '\n')
    res = json.loads((out/'presets.json').read_text())
    (out/'presets.md').write_text(report(res)); print(report(res))

if __name__ == '__main__':
    main()
