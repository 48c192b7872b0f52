"""The N = 2,560 study: does the regularizer beat clipping alone, and SGD, by more than the seed-to-seed spread?

    fbtrain --threads 1 compare --ladder study2560 --seeds 0 1 2 --jobs 2 --out runs/study2560   # the 27 runs
    python bench/studies/study2560.py runs/study2560                                            # study.json, .md, .html

Settings: the mini2560 ladder (N = 2,560, 256 images per class), the regularizer strength swept over α ∈ {0, 0.25, 0.5,
1}, and blocks of 128 at the sweep's best α (0.25). The study's intervals are paired over seeds: FB+reg − FB+clip,
FB+reg − SGD, every regularized setting against both, and the comparison below. The committed study is
bench/results/mini2560/ (fbtrain/results/study2560.json is the copy the tutorials read).
"""
import argparse
from pathlib import Path
from fbtrain.recipes import LADDERS
from fbtrain.ladder import write_study

PAIRS = {'α 0.25, blocks of 128 − blocks of 32': ('mini2560/fb-reg-a0.25-b128', 'mini2560/fb-reg-a0.25')}

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('out', type=Path, help='the folder `fbtrain compare --ladder study2560` ran into')
    a = ap.parse_args()
    write_study(a.out, list(LADDERS['study2560']), pairs=PAIRS)
    print((a.out/'study.md').read_text())
