"""Write README.md from nbs/index.ipynb (Quarto's `nbdev_readme` is not available offline); `--check` only compares."""
import json, re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def readme_text() -> str:
    "Markdown cells as they are, visible code cells as python blocks; hidden (`#| hide`) cells left out."
    nb = json.loads((ROOT/'nbs'/'index.ipynb').read_text())
    parts = []
    for c in nb['cells']:
        src = ''.join(c['source']).strip()
        if c['cell_type'] == 'markdown': parts.append(src)
        elif c['cell_type'] == 'code' and not src.startswith('#| hide'): parts.append(f"```python\n{src}\n```")
    text = '\n\n'.join(parts) + '\n'
    return re.sub(r'\]\((?!https?:|nbs/)([\w.-]+\.ipynb)', r'](nbs/\1', text)   # notebook links, from the repository root

def commands(text: str) -> tuple:
    "The two commands of the README: (set up + main job, tests): the bash blocks under their headings."
    def block(head):
        rest = text.split(head, 1)[1]
        return rest.split('```bash\n', 1)[1].split('\n```', 1)[0].strip()
    return block('## Set up and run the main job'), block('## Run the tests')

if __name__ == '__main__':
    arg = sys.argv[1] if len(sys.argv) > 1 else ''
    if arg == '--check':
        ok = (ROOT/'README.md').read_text() == readme_text()
        print('README.md is up to date' if ok else 'README.md differs from nbs/index.ipynb: run python .ci/make_readme.py')
        sys.exit(0 if ok else 1)
    elif arg in ('setup', 'test'): print(commands((ROOT/'README.md').read_text())[arg == 'test'])
    else: (ROOT/'README.md').write_text(readme_text()); print('wrote README.md')
