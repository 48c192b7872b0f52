"""Run the release workflow's build job here: its `run:` steps in order, in a fresh clone of this repository's HEAD.

    python .ci/release.py [--tag v0.1.0] [--out dist]

Reads .github/workflows/release.yml, clones HEAD into a temporary folder (so only committed files go into the sdist),
runs each step of the `build` job that has a `run:` command (`uses:` steps are GitHub's: checkout is the clone,
setup-python is this Python, upload-artifact is the copy into --out), and copies the checked sdist and wheel to --out.
A step with an `if:` on the tag runs only with --tag (GITHUB_REF_NAME is set to it). Publishing is not run here.
"""
import argparse, os, shutil, subprocess, sys, tempfile
from pathlib import Path
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT/'.github'/'workflows'/'release.yml'

def steps(job:str='build')->list:
    "The job's steps, as the workflow file lists them."
    return yaml.safe_load(WORKFLOW.read_text())['jobs'][job]['steps']

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--tag', help='run as if this tag was pushed (e.g. v0.1.0)')
    ap.add_argument('--out', default=str(ROOT/'dist'), help='where the sdist and wheel go (default dist/)')
    a = ap.parse_args(argv)
    env = dict(os.environ, PATH=f'{Path(sys.executable).parent}{os.pathsep}{os.environ["PATH"]}')
    if a.tag: env.update(GITHUB_REF_NAME=a.tag, GITHUB_REF=f'refs/tags/{a.tag}')
    with tempfile.TemporaryDirectory(prefix='fbtrain-release-') as d:
        subprocess.run(['git', 'clone', '--quiet', str(ROOT), d], check=True)
        for s in steps():
            if 'run' not in s: continue
            if 'if' in s and not a.tag: print(f'[release] skipped (no --tag): {s.get("name", s["run"])}'); continue
            print(f'[release] {s.get("name", "")}: {s["run"]}', flush=True)
            subprocess.run(['bash', '-euo', 'pipefail', '-c', s['run']], cwd=d, env=env, check=True)
        out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
        for f in sorted(Path(d, 'dist').iterdir()):
            shutil.copy(f, out/f.name); print(f'[release] {out/f.name} ({f.stat().st_size/1e6:.2f} MB)')

if __name__ == '__main__':
    main()
