"""The dashboard's training speed with and without channels_last, and what live plotting costs.

Usage: FBTRAIN_THREADS=1 python bench/bench_dashboard.py [--repeats 5] [--fb-epochs 8] [--sgd-epochs 3] [--out bench/results]
       python bench/bench_dashboard.py --report   # rewrite dashboard.md from dashboard.json

The runs execute inside a real IPython kernel (started with jupyter_client), with the dashboard's figure
displayed (its plotly JSON re-sent through its display id), so every refresh is serialised and published on the
kernel's iopub socket exactly as in JupyterLab (no browser is attached: the cost of drawing, which happens in the browser's process, is not counted). Each run is what
the dashboard trains for a preset, built the dashboard's way (`live_learner`: `build` with the test subset during the
run, train accuracy, `DashboardCB`), shortened and with sharpness off so that training dominates: the '+ clip'
preset (full batch, 640 CIFAR-10 images, blocks of 32, clip 0.25) and the 'SGD' preset (batches of 32: 20 steps per
epoch). Four variants per mode, interleaved in each repeat, fresh learner and the same seed every time:

- `contiguous`: the model moved back to the default (NCHW) memory format, with `DashboardCB` at the default
  throttle (0.5 s) -- the dashboard before channels_last;
- `channels_last`: the dashboard as it is (`to_device` puts conv nets in channels_last), same callback;
- `channels_last, no plot`: no `DashboardCB` at all;
- `channels_last, refresh every epoch`: `DashboardCB(interval=0)`, what the throttle prevents.

Reported: medians over repeats of optimizer steps/s, epochs/s and training images/s (wall time of `fit`, evaluation
included), the channels_last speed-up (ratio of median steps/s), the plotting overhead in wall time (median with ÷
median without − 1; and paired: the median over repeats of each repeat's ratio), the time measured inside the refreshes divided by the training time (less noisy on a shared
CPU), and the share of the time spent measuring test and train accuracy every epoch.
"""
import argparse, datetime, json, os, platform, statistics, sys, textwrap
from pathlib import Path
from jupyter_client.manager import start_new_kernel

KERNEL_CODE = r'''
import json, time, torch
from dataclasses import replace
from IPython.display import display
from fbtrain.data import set_threads
from fbtrain.dashboard import LivePlot, DashboardCB, TrainAccCB, cached_data, live_learner, preset
from fbtrain.learner import EvalCB
set_threads()
runs = {'fb': replace(preset('+ clip'), epochs=FB_EPOCHS, warmup=1, sharpness_every=0, n_test=1000),
        'sgd': replace(preset('SGD'), epochs=SGD_EPOCHS, sharpness_every=0, n_test=1000)}
data = cached_data(64, 1000)
plot = LivePlot(); plot.show()
VARIANTS = {'contiguous': (False, 0.5), 'channels_last': (True, 0.5), 'channels_last, no plot': (True, None),
            'channels_last, refresh every epoch': (True, 0.)}
def one(mode, cl, interval):
    r = runs[mode]
    cbs = [] if interval is None else [DashboardCB(plot, plot.add_run(f'run {len(plot.runs) + 1}'), interval)]
    learn = live_learner(r, data, 'cpu', cbs)
    if not cl: learn.model.to(memory_format=torch.contiguous_format)
    w = [p for p in learn.model.parameters() if p.dim() == 4][0]
    assert w.is_contiguous(memory_format=torch.channels_last) == cl and (cl or w.is_contiguous())
    t = time.perf_counter(); learn.fit(r.epochs); wall = time.perf_counter() - t
    ev = sum(c.spent for c in learn.cbs if isinstance(c, (EvalCB, TrainAccCB)))
    return dict(wall=wall, steps=learn.step, epochs=learn.epoch, images=learn.epoch*len(learn.trainset), eval_s=ev,
                refreshes=cbs[0].updates if cbs else 0, refresh_s=cbs[0].seconds if cbs else 0.)
res = {}
for mode in runs:
    for v, (cl, iv) in VARIANTS.items(): one(mode, cl, iv)          # warm-up (first calls, caches)
    res[mode] = {v: [] for v in VARIANTS}
    for _ in range(REPEATS):
        for v, (cl, iv) in VARIANTS.items(): res[mode][v].append(one(mode, cl, iv))
        plot.clear()
print('RESULT' + json.dumps(res))
'''

NAMES = {'contiguous': 'NCHW (before), plot every 0.5 s', 'channels_last': 'channels_last (now), plot every 0.5 s',
         'channels_last, no plot': 'channels_last, no DashboardCB', 'channels_last, refresh every epoch': 'channels_last, plot after every epoch'}

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--repeats', type=int, default=5); ap.add_argument('--fb-epochs', type=int, default=8)
    ap.add_argument('--sgd-epochs', type=int, default=3); ap.add_argument('--out', default='bench/results')
    ap.add_argument('--report', action='store_true', help='only rewrite dashboard.md from the dashboard.json in --out')
    a = ap.parse_args()
    if a.report: return report(json.loads((Path(a.out)/'dashboard.json').read_text()), Path(a.out))
    sys.path.insert(0, str(Path(__file__).parent)); from common import machine, finish, facts_line
    import time; t0 = time.time(); meta = machine()
    env = dict(os.environ, FBTRAIN_THREADS=os.environ.get('FBTRAIN_THREADS', '1'))
    km, kc = start_new_kernel(kernel_name='python3', env=env, cwd=str(Path(__file__).resolve().parents[1]))
    out = []
    try:
        code = (KERNEL_CODE.replace('FB_EPOCHS', str(a.fb_epochs)).replace('SGD_EPOCHS', str(a.sgd_epochs))
                .replace('REPEATS', str(a.repeats)))
        def hook(msg):
            if msg['msg_type'] == 'stream': out.append(msg['content']['text'])
            elif msg['msg_type'] == 'error': out.append('\n'.join(msg['content']['traceback']))
        reply = kc.execute_interactive(code, output_hook=hook, timeout=7200)
        if reply['content']['status'] != 'ok': sys.exit('kernel error:\n' + ''.join(out))
    finally: kc.stop_channels(); km.shutdown_kernel(now=True)
    res = json.loads(''.join(out).split('RESULT', 1)[1])
    meta = finish(meta, t0); meta.update(threads=int(env['FBTRAIN_THREADS']), repeats=a.repeats, fb_epochs=a.fb_epochs, sgd_epochs=a.sgd_epochs)
    med = statistics.median
    rows = {}
    for mode, vs in res.items():
        base = med(r['wall'] for r in vs['channels_last, no plot'])
        rows[mode] = {v: dict(wall_s=med(r['wall'] for r in rs), steps_per_s=med(r['steps']/r['wall'] for r in rs),
                              epochs_per_s=med(r['epochs']/r['wall'] for r in rs), img_per_s=med(r['images']/r['wall'] for r in rs),
                              steps=rs[0]['steps'], refreshes=med(r['refreshes'] for r in rs), refresh_s=med(r['refresh_s'] for r in rs),
                              refresh_share=med(r['refresh_s']/r['wall'] for r in rs), overhead=med(r['wall'] for r in rs)/base - 1,
                              eval_share=med(r['eval_s']/r['wall'] for r in rs))
                      for v, rs in vs.items()}
        rows[mode]['speedup_channels_last'] = rows[mode]['channels_last']['steps_per_s']/rows[mode]['contiguous']['steps_per_s']
    result = dict(meta=meta, rows=rows, raw=res)
    outd = Path(a.out); outd.mkdir(parents=True, exist_ok=True)
    (outd/'dashboard.json').write_text(json.dumps(result, indent=1) + '\n')
    report(result, outd)

def report(result:dict, outd:Path):
    "Write dashboard.md from the results."
    sys.path.insert(0, str(Path(__file__).parent)); from common import facts_line
    meta, rows = result['meta'], result['rows']
    label = {'fb': f"'+ clip' preset, full batch, {meta['fb_epochs']} epochs (1 step each)", 'sgd': f"'SGD' preset, {meta['sgd_epochs']} epochs (20 steps each)"}
    md = [f"# Dashboard: channels_last speed-up and plotting overhead (medians of {meta['repeats']})", '', facts_line(meta) + f" {meta['threads']} torch thread.",
          textwrap.fill(f'Shared CPU: wall times move with the load (load average {meta["load_before"][0]} at the start and '
                        f'{meta["load_after"][0]} at the end, on {meta["cores"]} cores), and the "overhead vs no plot" column compares '
                        'medians of separate runs, so it carries their noise (compare the two plotting variants, which refresh about '
                        'equally often). The channels_last ratio and the time measured inside the refreshes are the point.', 120), '',
          textwrap.fill("Runs built the dashboard's way (`live_learner` on 640 CIFAR-10 images, convnet, blocks/batches of 32, a 200-image "
                        "test subset evaluated every epoch and all 1,000 test images after the last, train accuracy on 256 training images, "
                        "sharpness off), inside an IPython kernel with the FigureWidget displayed (messages go out on iopub; no browser "
                        "attached, so drawing is not counted). Throughput is over the wall time of `fit`, evaluation included.", 120), '']
    for mode, rs in rows.items():
        md += [f"## {label[mode]}", '', '| variant | steps/s | epochs/s | img/s | wall s | overhead vs no plot | refreshes | s in refreshes | refresh share |',
               '|---|---|---|---|---|---|---|---|---|']
        for v in NAMES:
            r = rs[v]
            md.append(f"| {NAMES[v]} | {r['steps_per_s']:.2f} | {r['epochs_per_s']:.3f} | {r['img_per_s']:.0f} | {r['wall_s']:.2f} | "
                      f"{r['overhead']*100:+.1f} % | {r['refreshes']:.0f} | {r['refresh_s']:.3f} | {r['refresh_share']*100:.2f} % |")
        raw = result['raw'][mode]
        pair = lambda v, w: statistics.median(x['wall']/y['wall'] for x, y in zip(raw[v], raw[w]))   # within each repeat
        rs['paired_speedup_channels_last'] = pair('contiguous', 'channels_last')
        rs['paired_overhead'] = pair('channels_last', 'channels_last, no plot') - 1
        md += ['', f"Paired within each repeat (the variants run back to back), median of the ratios: channels_last ÷ NCHW "
                   f"speed **{rs['paired_speedup_channels_last']:.2f}×**, plotting at the default throttle "
                   f"**{rs['paired_overhead']*100:+.1f} %** wall time."
                   + (" That is more than the time inside the refreshes: the rest is work outside the callback, most likely the "
                      "kernel's IOPub thread serialising and sending the widget messages, which competes for the CPU the run has "
                      "(not measured here)." if rs['paired_overhead'] > rs['channels_last']['refresh_share'] + 0.02 else '')]
        md += ['', f"channels_last ÷ NCHW steps/s: **{rs['speedup_channels_last']:.2f}×**; plotting at the default throttle: "
                   f"**{rs['channels_last']['refresh_share']*100:.2f} %** of training time inside the refreshes "
                   f"({rs['channels_last']['overhead']*100:+.1f} % in wall time); the per-epoch test and train accuracy "
                   f"(200 test + 256 training images, all at the end): {rs['channels_last']['eval_share']*100:.1f} % of the time.", '']
    (outd/'dashboard.md').write_text('\n'.join(md))
    (outd/'dashboard.json').write_text(json.dumps(result, indent=1) + '\n')   # with the paired ratios
    print('\n'.join(md))

if __name__ == '__main__': main()
