"""Target 5: peak resident memory of one full-batch step and one augmented Learner epoch at 5,000 and 50,000 training images.

Usage: python bench/bench_memory.py [--sizes 5000,50000] [--models convnet] [--block 128] [--kinds gradient,learner,learner_whole]

Each measurement runs in a fresh subprocess: load real CIFAR-10 (`get_data`), build the model, then reset the
kernel's peak-RSS counter (`/proc/self/clear_refs` ← 5, Linux ≥ 4.0) and run the step. Reported per process:
RSS before the step (data and model loaded), the peak RSS during the step (`VmHWM`), their difference (the step's
own working memory), and `ru_maxrss` (the peak of the whole process, loading included). Three kinds of step:

* `gradient`: `full_batch_gradient(model, x, y, block)` on the resident (un-augmented) training tensor: the baseline.
* `learner`: one epoch of `Learner(model, data, FullBatch(block), cbs=[Augment('random')]).fit(1)`: fresh crops and
  flips drawn for all images (`TrainSet.draw(lazy=True)` returns `fbtrain.data.Crops`) and applied block by block as the
  gradient indexes them, the gradient, optimizer step. No evaluation.
* `learner_whole`: the same epoch, but with the whole training set augmented up front (`TrainSet.draw(lazy=False)`,
  i.e. `random_crop_flip` on all images), as the Learner did before `Crops`: a `FullBatch` whose `batches` draws eagerly.

Target: going from 5k to 50k images, the peak grows by at most 1.1× the data's own bytes (one block of activations
and one augmented block at a time): the step's working memory stays flat. Writes results/memory.json and memory.md.
"""
import argparse, json, os, resource, subprocess, sys, time
from common import RESULTS, machine, finish, facts_line, write, table


def status(key):
    for l in open('/proc/self/status'):
        if l.startswith(key): return int(l.split()[1])*1024


def child(n, model_name, block, kind):
    "Run in the subprocess: measure one step, print a JSON line."
    import torch
    from fbtrain.data import get_data
    from fbtrain.gradient import full_batch_gradient
    from fbtrain.models import get_model
    from fbtrain.data import make_blocks
    from fbtrain.learner import Learner, FullBatch, Augment
    class WholeSetFullBatch(FullBatch):
        "`FullBatch` that augments the whole training set up front (`draw(lazy=False)`): the path before `Crops`."
        def batches(self, learn):
            x, y = learn.trainset.draw(lazy=False)
            yield x, y, make_blocks(len(y), self.block_size, self.shuffle, learn.order_gen, self.drop_last)
    torch.set_num_threads(1)
    d = get_data('cifar10', n_per_class=None if n >= 50000 else n//10, n_test=1000)
    torch.manual_seed(0); m = get_model(model_name).train()
    data_bytes = d.x_train.nbytes + d.y_train.nbytes
    if kind in ('learner', 'learner_whole'):
        learn = Learner(m, d, (FullBatch if kind == 'learner' else WholeSetFullBatch)(block), lr=0.1, cbs=[Augment('random')])
    import gc; gc.collect()
    rss0 = status('VmRSS')
    with open('/proc/self/clear_refs', 'w') as f: f.write('5')
    t = time.perf_counter()
    if kind == 'gradient': full_batch_gradient(m, d.x_train, d.y_train, block)
    else: learn.fit(1)
    sec = time.perf_counter() - t
    print(json.dumps(dict(n=len(d.y_train), model=model_name, block=block, kind=kind, data_bytes=data_bytes, rss_before=rss0,
                          peak_step=status('VmHWM'), rss_after=status('VmRSS'),
                          maxrss_process=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss*1024, seconds=sec)))


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--sizes', default='5000,50000'); p.add_argument('--models', default='convnet')
    p.add_argument('--kinds', default='gradient,learner,learner_whole'); p.add_argument('--block', type=int, default=128)
    p.add_argument('--out', default=str(RESULTS)); p.add_argument('--child', nargs=4)
    a = p.parse_args()
    if a.child: n, mname, block, kind = a.child; return child(int(n), mname, int(block), kind)
    t0 = time.time(); meta = machine(); meta['threads'] = 1
    rows = []
    for mname in a.models.split(','):
        for kind in a.kinds.split(','):
            for n in map(int, a.sizes.split(',')):
                out = subprocess.run([sys.executable, __file__, '--child', str(n), mname, str(a.block), kind],
                                     capture_output=True, text=True, check=True).stdout
                r = json.loads(out.strip().splitlines()[-1]); rows.append(r)
                print(f"{mname} {kind:8} n {r['n']:6}: data {r['data_bytes']/2**20:7.1f} MiB, before {r['rss_before']/2**20:7.1f}, "
                      f"peak {r['peak_step']/2**20:7.1f} MiB ({r['seconds']:.1f}s, total {time.time()-t0:.0f}s)", flush=True)
    growth = []
    for mname in a.models.split(','):
        for kind in a.kinds.split(','):
            rs = sorted([r for r in rows if r['model'] == mname and r['kind'] == kind], key=lambda r: r['n'])
            if len(rs) < 2: continue
            lo, hi = rs[0], rs[-1]
            dd, dp = hi['data_bytes'] - lo['data_bytes'], hi['peak_step'] - lo['peak_step']
            growth.append(dict(model=mname, kind=kind, n_small=lo['n'], n_large=hi['n'], data_growth=dd, peak_growth=dp,
                               peak_growth_over_data=dp/dd, working_small=lo['peak_step'] - lo['rss_before'],
                               working_large=hi['peak_step'] - hi['rss_before']))
    res = dict(meta=finish(meta, t0), results=rows, growth=growth)
    write('memory', res, markdown(res), a.out)


def mib(b): return f"{b/2**20:.1f}"


def markdown(res):
    m = res['meta']
    L = ['# Target 5: peak resident memory of one full-batch step (MiB)', '', facts_line(m), '',
         'One fresh process per row, 1 thread. "before": RSS with data and model loaded; "peak": highest RSS during the step '
         '(counter reset just before it); "working" = peak − before; "data": the normalised training tensor (float32) and labels.', '']
    L += table(['model', 'step', 'block', 'images', 'data', 'before', 'peak', 'working', 'process peak (ru_maxrss)', 'step s'],
               [[r['model'], r['kind'], r['block'], r['n'], mib(r['data_bytes']), mib(r['rss_before']), mib(r['peak_step']),
                 mib(r['peak_step'] - r['rss_before']), mib(r['maxrss_process']), f"{r['seconds']:.1f}"] for r in res['results']])
    L += ['', '## Growth from the small to the large data set', '']
    L += table(['model', 'step', 'images', 'data grows by', 'peak grows by', 'peak growth ÷ data growth', '≤ 1.1?', 'working small → large'],
               [[g['model'], g['kind'], f"{g['n_small']} → {g['n_large']}", mib(g['data_growth']), mib(g['peak_growth']),
                 f"**{g['peak_growth_over_data']:.2f}**", 'yes' if g['peak_growth_over_data'] <= 1.1 else '**no**',
                 f"{mib(g['working_small'])} → {mib(g['working_large'])}"] for g in res['growth']])
    by = {(g['model'], g['kind']): g for g in res['growth']}
    for mname in dict.fromkeys(g['model'] for g in res['growth']):
        lz, wh = by.get((mname, 'learner')), by.get((mname, 'learner_whole'))
        if lz and wh: L += ['', f"{mname}: the block-by-block epoch's peak grows by {lz['peak_growth']/wh['peak_growth']:.2f}× "
                            f"what the whole-set epoch's does ({mib(lz['peak_growth'])} vs {mib(wh['peak_growth'])} MiB); its working memory "
                            f"at {lz['n_large']} images is {mib(lz['working_large'])} vs {mib(wh['working_large'])} MiB."]
    L += ['', 'Target: peak growth ÷ data growth ≤ 1.1 (only the data\'s own bytes), working memory flat. `learner`: one epoch of '
          '`Learner(..., FullBatch(block), cbs=[Augment(\'random\')])`, augmentation applied block by block (`Crops`); '
          '`learner_whole`: the same epoch with the whole set augmented up front (`TrainSet.draw(lazy=False)`); `gradient`: '
          '`full_batch_gradient` on the un-augmented tensor.']
    return '\n'.join(L) + '\n'


if __name__ == '__main__': main()
