"""Rewrite the results pages (`ladder.html`, `study.html`) of the committed ladders from their JSON, runs untouched.

    python bench/results_pages.py [FOLDER ...]      # default: every folder of bench/results with a ladder.json

`fbtrain compare` writes these pages when it runs a ladder; this script only redraws them (for example after the page
layout changed) from the committed `ladder.json`/`study.json` and run folders, without rerunning or rewriting them.
"""
import argparse, json
from pathlib import Path
from fbtrain.runs import collect
from fbtrain.ladder import ladder_page, rungs_markdown, machine_markdown, study_markdown, study_figure, STUDY_INTRO
from fbtrain.report import write_page

RESULTS = Path(__file__).parent/'results'

def redraw(out:Path)->list:
    "Rewrite the pages of ladder folder `out`; return the paths written."
    done = []
    if (out/'ladder.json').exists():
        res = json.loads((out/'ladder.json').read_text())
        rows = collect(out, [t['recipe'] for t in res['table']])
        done.append(write_page(out/'ladder.html', f'Ladder: {out.resolve().name}', ladder_page(out, rows, res)))
    if (out/'study.json').exists():
        res = json.loads((out/'study.json').read_text())
        rows = collect(out, [t['recipe'] for t in res['table']])
        parts = [STUDY_INTRO, rungs_markdown(out, rows), '## Results', study_markdown(res), study_figure(res['table']),
                 machine_markdown(rows)]
        done.append(write_page(out/'study.html', f'Study: {out.resolve().name}', parts))
    return done

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('folders', nargs='*', type=Path)
    a = ap.parse_args()
    for f in a.folders or sorted(p.parent for p in RESULTS.glob('*/ladder.json')):
        for p in redraw(f): print(f'{p} ({p.stat().st_size/1e6:.2f} MB)')
