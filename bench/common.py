"""Shared helpers of the fbtrain benchmarks: machine facts, timing, medians, CIFAR-10 tensors and result files.

Every benchmark runs its baseline and fbtrain in the same process, alternates their repeats, and reports medians and
ratios. The CPU may be shared with other work, so the load average is recorded before and after each run.
"""
import datetime, json, os, platform, statistics, subprocess, sys, threading, time
from pathlib import Path
import torch

RESULTS = Path(__file__).parent/'results'


def cpu_model()->str:
    "The CPU's model name from /proc/cpuinfo (or platform's processor string)."
    try:
        for l in open('/proc/cpuinfo'):
            if l.startswith('model name'): return l.split(':', 1)[1].strip()
    except OSError: pass
    return platform.processor() or platform.machine()


def machine()->dict:
    "Machine facts recorded with every result."
    return dict(cpu=cpu_model(), cores=os.cpu_count(),
                usable_cores=len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else None,
                cpu_capability=torch.backends.cpu.get_cpu_capability(), torch=torch.__version__,
                python=platform.python_version(), threads_default=torch.get_num_threads(),
                date=datetime.datetime.now().isoformat(timespec='seconds'),
                load_before=[round(v, 2) for v in os.getloadavg()])


def finish(meta:dict, t0:float)->dict:
    "Add the load average at the end and the run's wall time to `meta`."
    meta['load_after'] = [round(v, 2) for v in os.getloadavg()]; meta['seconds'] = round(time.time() - t0, 1)
    return meta


def facts_line(m:dict)->str:
    "One markdown line with the machine facts."
    return (f"{m['cpu']}, {m['cores']} cores, torch {m['torch']} ({m['cpu_capability']}), Python {m['python']}, {m['date']}; "
            f"load average before/after {m['load_before']} / {m['load_after']}; run took {m['seconds']} s.")


def timed(f)->float:
    "Seconds `f()` takes."
    t = time.perf_counter(); f(); return time.perf_counter() - t


def interleaved(fns:dict, repeats:int=5, warmup:int=1)->dict:
    "Time every function in `fns` `repeats` times, alternating them; return name → list of seconds (after `warmup` untimed rounds)."
    for _ in range(warmup):
        for f in fns.values(): f()
    out = {k: [] for k in fns}
    for _ in range(repeats):
        for k, f in fns.items(): out[k].append(timed(f))
    return out


med = statistics.median


def cifar_train(n:int, device='cpu'):
    "`n` normalised CIFAR-10 training images: the first `n` of a balanced subset (⌈n/10⌉ per class), and their labels."
    from fbtrain.data import get_data
    d = get_data('cifar10', n_per_class=-(-n//10), n_test=1000, device=device)
    return d.x_train[:n], d.y_train[:n]


def set_threads(n:int)->int:
    "Set torch's intra-op threads; return the count in use."
    torch.set_num_threads(n); return torch.get_num_threads()


class Spinner:
    "A second process that keeps one core busy (pure Python loop): the contention the pilot saw from other work."
    def __enter__(self):
        self.p = subprocess.Popen([sys.executable, '-c', 'while True: pass']); time.sleep(0.3); return self
    def __exit__(self, *a):
        self.p.kill(); self.p.wait()


def write(name:str, res:dict, md:str, out:Path=RESULTS):
    "Write `<name>.json` and `<name>.md` into `out`."
    out = Path(out); out.mkdir(parents=True, exist_ok=True)
    (out/f'{name}.json').write_text(json.dumps(res, indent=1))
    (out/f'{name}.md').write_text(md)
    print(md)


def table(header:list, rows:list)->list:
    "Markdown table lines."
    return ['| ' + ' | '.join(header) + ' |', '|' + '---|'*len(header)] + ['| ' + ' | '.join(str(c) for c in r) + ' |' for r in rows]
