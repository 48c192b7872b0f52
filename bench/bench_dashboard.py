"""What live plotting costs: the same dashboard run trained with and without `DashboardCB`.

Usage: python bench/bench_dashboard.py [--repeats 5] [--steps 30] [--mode full-batch] [--out bench/results]

The runs execute inside a real IPython kernel (started with jupyter_client), with the dashboard's `FigureWidget`
displayed, so every refresh is serialised and published on the kernel's iopub socket exactly as in JupyterLab (no
browser is attached: the cost of drawing, which happens in the browser's process, is not counted). The training
settings are the dashboard's defaults (convnet, 64 images per class, blocks of 32, clip 0.25, 1,000 test images),
with sharpness off so that the training time is as short as it gets (the hardest case for the ratio). Three variants, interleaved in each repeat, fresh learner and
the same seed every time: no dashboard callback; `DashboardCB` with the default throttle (`interval=0.5` s); and
`interval=0` (a refresh after every round, what the throttle prevents). Reported: medians over repeats of the wall
time, the overhead ratio (median with ÷ median without − 1), and the time measured inside the refreshes themselves
divided by the training time (less noisy on a shared CPU).
"""
import argparse, datetime, json, os, platform, statistics, sys, textwrap
from pathlib import Path
from jupyter_client.manager import start_new_kernel

KERNEL_CODE = r'''
import json, statistics, time, torch
from IPython.display import display
from fbtrain.data import set_threads
from fbtrain.dashboard import RunConfig, LivePlot, DashboardCB, cached_data, make_learner
set_threads()
cfg = RunConfig(mode=MODE, steps=STEPS, warmup=max(1, STEPS//10), sharpness_every=0)
data = cached_data(cfg.n_per_class)
plot = LivePlot(); display(plot.fig)
def one(interval):
    cbs = [] if interval is None else [DashboardCB(plot, plot.add_run(f'run {len(plot.runs) + 1}'), interval)]
    learn = make_learner(cfg, data, cbs)
    t = time.perf_counter(); learn.fit(cfg.steps); wall = time.perf_counter() - t
    return dict(wall=wall, refreshes=cbs[0].updates if cbs else 0, refresh_s=cbs[0].seconds if cbs else 0.)
one(0.5)                                      # warm-up (first calls, caches)
res = {'none': [], '0.5': [], '0': []}
for r in range(REPEATS):
    for k, iv in (('none', None), ('0.5', 0.5), ('0', 0.)): res[k].append(one(iv))
    plot.clear()
print('RESULT' + json.dumps(res))
'''

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--repeats', type=int, default=5); ap.add_argument('--steps', type=int, default=30)
    ap.add_argument('--mode', default='full-batch', choices=['full-batch', 'SGD']); ap.add_argument('--out', default='bench/results')
    a = ap.parse_args()
    env = dict(os.environ, FBTRAIN_THREADS=os.environ.get('FBTRAIN_THREADS', '1'))
    km, kc = start_new_kernel(kernel_name='python3', env=env, cwd=str(Path(__file__).resolve().parents[1]))
    out, load0 = [], os.getloadavg()
    try:
        code = KERNEL_CODE.replace('MODE', repr(a.mode)).replace('STEPS', str(a.steps)).replace('REPEATS', str(a.repeats))
        def hook(msg):
            if msg['msg_type'] == 'stream': out.append(msg['content']['text'])
            elif msg['msg_type'] == 'error': out.append('\n'.join(msg['content']['traceback']))
        reply = kc.execute_interactive(code, output_hook=hook, timeout=3600)
        if reply['content']['status'] != 'ok': sys.exit('kernel error:\n' + ''.join(out))
    finally: kc.stop_channels(); km.shutdown_kernel(now=True)
    res = json.loads(''.join(out).split('RESULT', 1)[1])
    med = lambda k, f: statistics.median(r[f] for r in res[k])
    base = med('none', 'wall')
    rows = {k: dict(wall_s=med(k, 'wall'), overhead=med(k, 'wall')/base - 1, refreshes=med(k, 'refreshes'),
                    refresh_s=med(k, 'refresh_s'), refresh_share=statistics.median(r['refresh_s']/r['wall'] for r in res[k]))
            for k in res}
    import torch
    meta = dict(date=datetime.datetime.now().isoformat(timespec='seconds'), torch=torch.__version__, python=platform.python_version(),
                cores=os.cpu_count(), threads=int(env['FBTRAIN_THREADS']), load_before=[round(x, 2) for x in load0],
                load_after=[round(x, 2) for x in os.getloadavg()], repeats=a.repeats, steps=a.steps, mode=a.mode)
    result = dict(meta=meta, rows=rows, raw=res, ratio_throttled=rows['0.5']['overhead'], refresh_share_throttled=rows['0.5']['refresh_share'])
    outd = Path(a.out); outd.mkdir(parents=True, exist_ok=True)
    (outd/'dashboard.json').write_text(json.dumps(result, indent=1) + '\n')
    names = {'none': 'no dashboard', '0.5': 'DashboardCB, interval 0.5 s (default)', '0': 'DashboardCB, interval 0 (every round)'}
    md = [f"# Dashboard overhead: training with and without live plotting (medians of {a.repeats})", '',
          f"torch {meta['torch']}, {meta['cores']} cores, {meta['threads']} thread, {meta['date']}, load average before/after "
          f"{meta['load_before']} / {meta['load_after']}. Shared CPU: wall times are noisy; the refresh share is measured directly.", '',
          textwrap.fill(f"{a.mode} run of {a.steps} rounds with the dashboard's defaults (convnet, 640 CIFAR-10 images, blocks of 32, clip 0.25, "
                        "1,000 test images, sharpness off), inside an IPython kernel with the FigureWidget displayed (messages go out on "
                        "iopub; no browser attached, so drawing is not counted).", 120), '',
          '| variant | wall s | overhead vs none | refreshes | s in refreshes | refresh share of training time |', '|---|---|---|---|---|---|']
    for k, r in rows.items():
        md.append(f"| {names[k]} | {r['wall_s']:.2f} | {r['overhead']*100:+.1f} % | {r['refreshes']:.0f} | {r['refresh_s']:.3f} | {r['refresh_share']*100:.2f} % |")
    md += ['', f"**Plotting cost with the default throttle: {rows['0.5']['refresh_share']*100:.2f} % of training time measured inside the "
               f"refreshes ({rows['0.5']['overhead']*100:+.1f} % in wall time, within run-to-run noise); the target is ≤ 3 %.**", '']
    (outd/'dashboard.md').write_text('\n'.join(md))
    print('\n'.join(md))

if __name__ == '__main__': main()
