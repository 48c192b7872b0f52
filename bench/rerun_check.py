"""Rerun committed runs from their own `config.json` and compare every training record with the committed one.

A committed result is only worth something if it can be made again: this reruns each given run folder into a
temporary folder (same recipe, same seed, same thread count) and counts the metrics that differ. Wall times and
the per-record `time` are left out of the comparison; everything else (loss, penalty, gradient norms, learning
rate, test and train accuracy) must be equal as numbers. Writes `results/rerun.json` and `results/rerun.md`.

    flock /tmp/fbtrain-cpu.lock python bench/rerun_check.py bench/results/mini2560/sgd/seed0 ...   # from the repository root
"""
import argparse, json, sys, tempfile, time
from pathlib import Path
from common import RESULTS, machine, finish, facts_line

ROOT = Path(__file__).resolve().parents[1]
from fbtrain.data import set_threads
from fbtrain.runs import run_recipe, run_recipe_of

SKIP = {'time', 'wall_s', 'written_at', 'eval_s', 'final_eval_s'}


def records(d:Path)->list: return [json.loads(l) for l in (Path(d)/'metrics.jsonl').read_text().splitlines() if l.strip()]


def differences(a:list, b:list)->dict:
    "Values both runs record and those that differ; keys that only one run records are listed apart (keys in `SKIP` left out)."
    n = diff = 0; keys, only = set(), set()
    for ra, rb in zip(a, b):
        only |= (ra.keys() ^ rb.keys()) - SKIP
        for k in (ra.keys() & rb.keys()) - SKIP:
            n += 1
            if ra[k] != rb[k]: diff += 1; keys.add(k)
    return dict(records=(len(a), len(b)), values_compared=n, values_differing=diff, keys_differing=sorted(keys), keys_only_in_one=sorted(only))


def rerun(d:Path, data_dir=None)->dict:
    "Rerun the run in folder `d` into a temporary folder; compare its records and final accuracies."
    r = run_recipe_of(d); old = json.loads((d/'summary.json').read_text())
    set_threads(old.get('threads') or 1)
    with tempfile.TemporaryDirectory() as tmp:
        t = time.time(); new = run_recipe(r, Path(tmp)/'rerun', quiet=True, data_dir=data_dir, device='cpu')
        res = differences(records(d), records(Path(tmp)/'rerun'))
    res.update(run=str(d.resolve().relative_to(ROOT)) if d.resolve().is_relative_to(ROOT) else str(d), threads=old.get('threads'), test_acc=(old['test_acc'], new['test_acc']),
               train_acc=(old['train_acc'], new['train_acc']), seconds=round(time.time() - t, 1))
    res['identical'] = res['values_differing'] == 0 and res['records'][0] == res['records'][1] and old['test_acc'] == new['test_acc']
    return res


def markdown(rows:list, meta:dict)->str:
    L = ['# Reruns of committed runs', '', facts_line(meta), '',
         'Each run is made again from its own `config.json` and seed on one CPU thread, and every value that both record is compared',
         '(wall times left out). "Identical" means every such value and the final test accuracy are equal.', '',
         '| run | threads | records (committed, rerun) | values compared | differing | keys only one records | test acc (committed → rerun) | identical |',
         '|---|---|---|---|---|---|---|---|']
    for r in rows:
        L.append(f"| `{r['run']}` | {r['threads']} | {r['records'][0]}, {r['records'][1]} | {r['values_compared']} | {r['values_differing']} | {', '.join(r.get('keys_only_in_one', [])) or '-'} "
                 f"| {100*r['test_acc'][0]:.2f} → {100*r['test_acc'][1]:.2f} | {'yes' if r['identical'] else 'no'} |")
    return '\n'.join(L) + '\n'


if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('runs', nargs='+', help='committed run folders (each with config.json, metrics.jsonl, summary.json)')
    p.add_argument('--data-dir', default=None); p.add_argument('--out', default=str(RESULTS))
    a = p.parse_args(); t0 = time.time(); meta = machine()
    rows = [rerun(Path(d), a.data_dir) for d in a.runs]
    finish(meta, t0); out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    if (out/'rerun.json').exists():   # keep the earlier results of runs not rerun this time
        new = {r['run'] for r in rows}
        rows = [r for r in json.loads((out/'rerun.json').read_text())['runs'] if r['run'] not in new] + rows
    (out/'rerun.json').write_text(json.dumps(dict(meta=meta, runs=rows), indent=1) + '\n')
    (out/'rerun.md').write_text(markdown(rows, meta)); print(markdown(rows, meta))
    sys.exit(0 if all(r['identical'] for r in rows) else 1)
