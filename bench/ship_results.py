"""Copy the committed ladder and study results into the package (`fbtrain/results/*.json`), each with an `about` line.

The tutorials read only what ships with fbtrain, so that they run in Colab with no repository beside them. Run this
after `fbtrain compare` has updated a folder under bench/results, then commit both:

    python bench/ship_results.py
"""
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PER = "Per run ('rows'): test_acc and train_acc in [0, 1]; per rung ('table'): test_mean, test_std, test_each in %."
SHIPPED = {   # package file: (source under bench/results, about)
    'mini_ladder.json': ('mini/ladder.json',
        "CPU ladder measured with `fbtrain --threads 1 compare --seeds 0 1 2` on a 2-core CPU: the mini/* recipes (convnet, "
        "the first 64 CIFAR-10 training images of each class, N = 640, all 10,000 test images). " + PER),
    'mini2560_ladder.json': ('mini2560/ladder.json',
        "The five rungs of the CPU ladder at N = 2,560 (the mini2560/* recipes: convnet, the first 256 CIFAR-10 training "
        "images of each class, all 10,000 test images), one thread of a 2-core CPU, every seed run so far. " + PER),
    'study2560.json': ('mini2560/study.json',
        "The N = 2,560 study (`fbtrain --threads 1 compare --ladder study2560`): every rung, the alpha sweep and blocks of "
        "128 at alpha 0.25, every seed run so far, with paired 95 % t-intervals over seeds ('intervals', 'sweep', 'pairs') and each setting's final mean squared "
        "block-gradient norm (blocks of 32) and lambda_max ('table': block_grad_sq, sharpness). Accuracies in %."),
    'mini2560_fresh.json': ('mini2560-fresh/ladder.json',
        "Fresh seeds 3, 4 and 5 at N = 2,560, run after the study had picked alpha 0.25 as its best alpha on seeds 0-2: "
        "mini2560/fb-reg-a0.25, its alpha 0 control mini2560/fb-reg-a0 and mini2560/sgd, so that their paired intervals "
        "carry no selection. " + PER),
}


def ship(name:str, src:str, about:str)->dict:
    "Write fbtrain/results/`name` from bench/results/`src` with `about` first; return what was written."
    d = {'about': about, **json.loads((ROOT/'bench/results'/src).read_text())}
    (ROOT/'fbtrain/results'/name).write_text(json.dumps(d, indent=1, ensure_ascii=False) + '\n')
    return d


if __name__ == '__main__':
    for name, (src, about) in SHIPPED.items(): ship(name, src, about); print(f'fbtrain/results/{name} <- bench/results/{src}')
