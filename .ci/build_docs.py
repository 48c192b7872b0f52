"""Build the docs site from the notebooks, offline: nbdev's notebook processor, a converter, then Sphinx.

    python .ci/build_docs.py [--nbs nbs] [--out docs] [--results bench/results] [--work DIR]

1. `nbdev.serve.proc_nbs` processes the notebooks as `nbdev_docs` would (front matter, `#| hide` removed, exported
   code replaced by `show_doc` entries, backticked symbols turned into doc links). It runs in a scratch folder with a
   copy of settings.ini, so nothing is written into the checkout. API entries get a parameter table from docments.
2. The converter turns the processed notebooks into myst-nb notebooks, one page per notebook (index first, then
   file-name order): Quarto cell options become myst-nb tags, doc links become relative links, plotly figures are
   drawn by the local plotly.js (CDN loaders stripped, plotly JSON outputs turned into a div + script), widget views
   are replaced by a note, widget state is dropped. A Results page is generated from bench/results.
3. `sphinx-build -b html -W --keep-going` (warnings are errors) writes the site to `docs/` with sphinx-book-theme,
   the local plotly.js and a local MathJax 3 (npm `mathjax@3`, fetched once into the git-ignored .ci/site/_cache/).
"""
import argparse, ast, html, json, os, re, shutil, subprocess, sys, tempfile, time
from pathlib import Path
from nbdev.config import get_config

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT/'.ci'/'site'
CACHE = SITE/'_cache'
MATHJAX_VERSION = '3.2.2'                  # npm mathjax@3: es5/tex-svg.js is one file with the SVG fonts
WIDGET_NOTE = ('<p class="fbtrain-widget-note"><em>Interactive widget: run the notebook to use it.</em></p>')

def log(msg): print(f'[build_docs] {msg}', flush=True)

# ---------------------------------------------------------------------------------------------------------------
# 1. nbdev processing
# ---------------------------------------------------------------------------------------------------------------
def _docs_renderer():
    "nbdev's show_doc markdown, with the signature's docment comments moved into a parameter table."
    from nbdev.showdoc import BasicMarkdownRenderer
    from fastcore.docments import DocmentTbl, DocmentText
    class DocsRenderer(BasicMarkdownRenderer):
        def _repr_markdown_(self):
            try: tbl = DocmentTbl(self.sym)._repr_markdown_() if self.sig is not None else ''
            except Exception: tbl = ''
            if not tbl: return super()._repr_markdown_()
            bare = DocmentText(self.sym, maxline=self.maxline, docstring=False)
            for v in bare.dm.values(): v['docment'] = ''
            md = super()._repr_markdown_()
            md = md.replace(f'```python\n{self.dm}\n```', f'```python\n{bare}\n```', 1)
            return md + '\n\n' + tbl
    return DocsRenderer

def _imports_only(P, cell):
    """nbdev runs a cell for the docs when it imports anything; a cell that imports *and* does other work (which
    nbdev warns about: "Found cells containing imports and other code") may need earlier cells' state that the docs
    run does not have. For such cells run only their top-level import statements. None: leave the cell to nbdev."""
    if cell.cell_type != 'code' or not cell.source: return None
    d = cell.directives_ or {}
    if d.keys() & {'export', 'exports', 'exporti', 'exec_doc'} or d.get('eval:', [''])[0].lower() == 'false': return None
    trees = cell.parsed_()
    if not trees or P._show_docs(trees): return None
    if not (P._ast_contains(trees, (ast.Import, ast.ImportFrom)) and P._ast_contains(trees, (ast.Expr, ast.Assign))): return None
    return '\n'.join(ast.unparse(n) for n in trees if isinstance(n, (ast.Import, ast.ImportFrom)))

def process(nbs: Path, work: Path) -> Path:
    "Run nbdev's doc processing of `nbs` into `work/_proc` (serially, in this process) and return that folder."
    shutil.copy(ROOT/'settings.ini', work/'settings.ini')
    with open(work/'settings.ini', 'a') as f: f.write('\nrenderer = fbtrain_docs_build.DocsRenderer\n')
    cwd = os.getcwd()
    os.chdir(work)                           # nbdev finds settings.ini (and writes _proc/) from the working directory
    try: return _process(nbs)
    finally: os.chdir(cwd)

def _process(nbs: Path) -> Path:
    import warnings
    import nbdev.processors as P
    from nbdev.serve import proc_nbs
    mod = type(sys)('fbtrain_docs_build'); mod.DocsRenderer = _docs_renderer()
    sys.modules['fbtrain_docs_build'] = mod
    orig = P.exec_show_docs.__call__
    if not getattr(orig, '_fbtrain', False):
        def call(self, cell):
            src = _imports_only(P, cell) if getattr(self.nb, 'has_docs_', False) and hasattr(self, 'k') else None
            if src is None: return orig(self, cell)
            if src: self.k.run(src)
            if self.k.exc: raise Exception(f'Error in cell {cell.idx_} (its imports):\n{src}') from self.k.exc
        call._fbtrain = True
        P.exec_show_docs.__call__ = call
    with warnings.catch_warnings():
        warnings.filterwarnings('ignore', message='Found cells containing imports and other code')
        return Path(proc_nbs(path=str(nbs), force=True, n_workers=0))

# ---------------------------------------------------------------------------------------------------------------
# 2. converter
# ---------------------------------------------------------------------------------------------------------------
def src_text(x): return ''.join(x) if isinstance(x, list) else (x or '')

def page_order(nbs: Path) -> list:
    "Source notebooks (relative paths), index first, then file-name order; `_`/`.` files and folders skipped."
    fs = [p.relative_to(nbs) for p in nbs.rglob('*.ipynb')
          if not any(part.startswith(('_', '.')) for part in p.relative_to(nbs).parts)]
    return sorted(fs, key=lambda p: (p.as_posix() != 'index.ipynb', p.as_posix()))

def front_matter(nb) -> dict:
    import yaml
    c = nb['cells'][0] if nb['cells'] else None
    if c and c['cell_type'] == 'raw':
        s = src_text(c['source']).strip()
        if s.startswith('---'):
            nb['cells'].pop(0)
            return yaml.safe_load(s.strip('-').strip()) or {}
    return {}

_re_opt = re.compile(r'^#\|\s*([\w-]+)\s*:?\s*(.*?)\s*$')
def cell_options(cell) -> dict:
    "Leading `#| key: value` lines of a code cell: parsed, and removed from its source."
    lines, opts = src_text(cell['source']).splitlines(True), {}
    while lines and (m := _re_opt.match(lines[0])):
        opts[m.group(1)] = m.group(2).lower(); lines.pop(0)
    cell['source'] = ''.join(lines).strip('\n')
    return opts

class Links:
    """Rewrite nbdev's absolute doc links (`doc_host/doc_baseurl/page.html#sym`) and links to source notebooks into
    relative links between the site's pages; `here` is the page being converted (root-relative, for `../`)."""
    def __init__(self, pages: dict, anchors: dict):
        s = get_config(path=ROOT)
        base = (s.get('doc_host', '') + s.get('doc_baseurl', '')).rstrip('/')
        self.re_abs = re.compile(re.escape(base) + r'/?([^\s)"\'<>]*)') if base else None
        self.pages = pages                              # source notebook (path relative to nbs/) -> page stem
        self.anchors = anchors                          # page.html -> anchors of its show_doc entries
        self.here = 'index'
    def _rel(self, path: str) -> str:
        return '../' * self.here.count('/') + path
    def page_link(self, m):
        path, _, anchor = m.group(1).partition('#')
        if path in ('', 'index.html'): path = 'index.html'
        known = self.anchors.get(path)
        if anchor and known is not None:                # a symbol without its own entry (`Class.method`): the
            while anchor and anchor not in known:       # entry of its class, else the page
                anchor = anchor.rpartition('.')[0]
        return self._rel(path) + ('#' + anchor if anchor else '')
    def nb_link(self, m):
        path, hash_, anchor = m.group(2).partition('#')
        src = os.path.normpath(os.path.join(os.path.dirname(self.src), path)).replace(os.sep, '/')
        stem = self.pages.get(src)
        return m.group(1) + (self._rel(f'{stem}.html') + hash_ + anchor if stem else m.group(2)) + m.group(3)
    def __call__(self, text: str) -> str:
        if self.re_abs: text = self.re_abs.sub(self.page_link, text)
        return re.sub(r'(\]\()([^)\s:]+?\.ipynb(?:#[^)\s]*)?)(\))', self.nb_link, text)

_re_ext_script = re.compile(r'<script\b[^>]*\bsrc\s*=\s*["\']?(?:https?:)?//[^>]*>\s*</script>', re.I)
_re_module_loader = re.compile(r'<script\b[^>]*type\s*=\s*["\']module["\'][^>]*>\s*import\s+["\'](?:https?:)?//[^<]*</script>', re.I)
_re_ext_link = re.compile(r'<link\b[^>]*\bhref\s*=\s*["\']?(?:https?:)?//[^>]*>', re.I)

def clean_html(h: str) -> str | None:
    "Strip CDN script/style loaders (plotly.js and MathJax come from the site); None when nothing is left to show."
    h = _re_module_loader.sub('', _re_ext_script.sub('', _re_ext_link.sub('', h)))
    rest = re.sub(r'<script\b.*?</script>', '', h, flags=re.S | re.I)
    if not re.sub(r'<[^>]+>', '', rest).strip() and not re.search(r'<(div|img|svg|table|iframe|canvas|video|pre|p)\b', rest, re.I):
        return None
    return h

def plotly_html(fig_json) -> str:
    """A plotly JSON figure as a div + Plotly.newPlot script for the page's local plotly.js; fbtrain's results pages
    draw theirs the same way: a width fixed in the notebook is dropped, so the figure fills the content column."""
    import plotly.io as pio
    from fbtrain.report import figure_div
    return figure_div(pio.from_json(json.dumps(fig_json), skip_invalid=True))

def show_doc_anchors(nb: dict):
    "Anchors the converter gives a processed notebook's show_doc entries (the first heading of each)."
    for c in nb['cells']:
        if c['cell_type'] == 'code' and re.search(r'^#\|\s*output:\s*asis', src_text(c['source']), re.M):
            for o in c.get('outputs', []):
                m = re.search(r'^#{1,6} (.+)$', src_text(o.get('data', {}).get('text/markdown', '')), re.M)
                if m: yield m.group(1).strip().lower()

def convert_output(o, asis: bool, links: Links):
    "One output for myst-nb, or None to drop it."
    if o.get('output_type') not in ('display_data', 'execute_result'): return o
    data = dict(o.get('data', {}))
    if asis:                                    # show_doc and other `output: asis` cells: only their markdown
        md = src_text(data.get('text/markdown', ''))
        if not md: return None
        md = re.sub(r'^\s*---\s*\n', '', md)    # leading rule: docutils refuses a transition there
        src = re.search(r'^\[source\]\((\S+?)\)(\{[^}]*\})?\s*$', md, re.M)     # nbdev's source link, before the heading
        if src: md = md[:src.start()] + md[src.end():]
        md = re.sub(r'(\]\([^)]*\))\{[^}]*\}', r'\1', md)   # other pandoc link attributes {target=... style=...}
        def anchor(m):                          # nbdev's doc links point at `page.html#name` (lower case)
            a = f'<a id="{html.escape(m.group(2).strip().lower())}"></a>\n\n{m.group(1)}{m.group(2)}'
            if src: a += f'\n\n<p class="fbtrain-source"><a href="{html.escape(src.group(1))}">source</a></p>'
            return a
        md = re.sub(r'^(#{1,6} )(.+)$', anchor, md.strip('\n'), count=1, flags=re.M)
        return dict(o, data={'text/markdown': links(md)}, metadata={})
    if 'application/vnd.jupyter.widget-view+json' in data:
        return dict(o, output_type='display_data', data={'text/html': WIDGET_NOTE}, metadata={})
    if 'application/vnd.plotly.v1+json' in data:
        fig = data.pop('application/vnd.plotly.v1+json')
        data = {'text/html': plotly_html(fig if isinstance(fig, dict) else json.loads(src_text(fig)))}
    data.pop('application/javascript', None)
    if 'text/html' in data:
        h = clean_html(src_text(data['text/html']))
        if h is None: data.pop('text/html'); data.pop('text/plain', None)
        else: data['text/html'] = h
    if 'text/markdown' in data: data['text/markdown'] = links(src_text(data['text/markdown']))
    if not data: return None
    return dict(o, data=data, metadata={k: v for k, v in o.get('metadata', {}).items() if k in data})

def colab_url(rel: Path) -> str:
    "Open-in-Colab address of source notebook `rel` (relative to nbs/), from settings.ini's user, repo and branch."
    s = get_config(path=ROOT)
    nbs = Path(s.nbs_path).resolve().relative_to(ROOT).as_posix()
    return f"https://colab.research.google.com/github/{s['user']}/{s['repo']}/blob/{s['branch']}/{nbs}/{rel.as_posix()}"

def colab_badge(url: str, here: str) -> str:
    "The Open-in-Colab badge (a local image: the site loads nothing from elsewhere) as a markdown cell's HTML."
    img = '../' * here.count('/') + '_static/colab-badge.svg'
    return (f'<p class="fbtrain-colab"><a href="{html.escape(url)}"><img src="{img}" alt="Open In Colab" '
            f'width="117" height="20"></a></p>')

def convert_nb(nb: dict, links: Links, name: str, badge: str = '') -> tuple:
    "A processed notebook as a myst-nb notebook, and its front matter; `badge`: HTML shown under the title."
    fm = front_matter(nb)
    cells = []
    title = fm.get('title')
    if title or not any(c['cell_type'] == 'markdown' and re.match(r'#\s', src_text(c['source']).lstrip()) for c in nb['cells']):
        title = title or name.replace('_', ' ').capitalize()
        head = f'# {title}' + (f'\n\n> {fm["description"]}' if fm.get('description') else '')
        cells.append({'cell_type': 'markdown', 'metadata': {}, 'source': links(head)})
    if badge: cells.insert(1 if cells else 0, {'cell_type': 'markdown', 'metadata': {}, 'source': badge})
    for c in nb['cells']:
        if c['cell_type'] == 'markdown':
            s = src_text(c['source'])
            if s.strip().startswith('<!-- WARNING: THIS FILE WAS AUTOGENERATED'): continue
            cells.append({'cell_type': 'markdown', 'metadata': {}, 'source': links(s)})
        elif c['cell_type'] == 'code':
            opts = cell_options(c)
            if opts.get('include') == 'false': continue
            asis, tags = opts.get('output') == 'asis', []
            if opts.get('echo') == 'false' or asis: tags.append('remove-input')
            outs = [] if opts.get('output') == 'false' else c.get('outputs', [])
            outs = [x for x in (convert_output(o, asis, links) for o in outs) if x is not None]
            if not c['source'].strip() and not outs: continue
            if not c['source'].strip(): tags.append('remove-input')
            cells.append({'cell_type': 'code', 'execution_count': None, 'metadata': {'tags': tags} if tags else {},
                          'outputs': outs, 'source': c['source']})
        # raw cells (Quarto-only content) are dropped
    meta = {'kernelspec': {'display_name': 'Python 3', 'language': 'python', 'name': 'python3'},
            'language_info': {'name': 'python', 'pygments_lexer': 'ipython3'}}   # no widget state
    for i, c in enumerate(cells): c['id'] = f'cell-{i}'
    return {'cells': cells, 'metadata': meta, 'nbformat': 4, 'nbformat_minor': 5}, fm

# ---------------------------------------------------------------------------------------------------------------
# Results page
# ---------------------------------------------------------------------------------------------------------------
def _shift_headings(md: str, top: int) -> str:
    "Renumber the headings of an included markdown file so its levels start at `top`, with no gaps."
    fence, levels = False, set()
    lines = md.splitlines()
    for l in lines:
        if l.startswith('```'): fence = not fence
        elif not fence and (m := re.match(r'^(#{1,6}) ', l)): levels.add(len(m.group(1)))
    new = {lv: min(top + i, 6) for i, lv in enumerate(sorted(levels))}
    out, fence = [], False
    for l in lines:
        if l.startswith('```'): fence = not fence
        elif not fence and (m := re.match(r'^(#{1,6}) ', l)): l = '#'*new[len(m.group(1))] + l[len(m.group(1)):]
        out.append(l)
    return '\n'.join(out)

def _records(obj) -> list:
    "(name, list of dicts) for each list of records in a results JSON: the top level, or one or two levels down."
    def is_recs(v): return isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)
    if is_recs(obj): return [('', obj)]
    res = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == 'meta': continue
            if is_recs(v): res.append((k, v))
            elif isinstance(v, dict): res += [(f'{k}.{kk}', vv) for kk, vv in v.items() if is_recs(vv)]
    return res

def _scalar(v): return isinstance(v, (str, int, float, bool)) or v is None

def records_figure(name: str, recs: list, fig_id: str) -> str:
    "A bar chart of a list of records: one bar per record, a dropdown to pick which numeric column is shown."
    keys = [k for k in dict.fromkeys(k for r in recs for k in r) if all(_scalar(r.get(k)) for r in recs)]
    metrics = [k for k in keys if any(isinstance(r.get(k), float) for r in recs)
               and all(isinstance(r.get(k), (int, float)) and not isinstance(r.get(k), bool) or r.get(k) is None for r in recs)]
    labels_k = [k for k in keys if k not in metrics and len({json.dumps(r.get(k)) for r in recs}) > 1]
    if not metrics: return ''
    labels = [' · '.join(str(r.get(k)) for k in labels_k) or f'#{i}' for i, r in enumerate(recs)]
    seen = {}
    for i, l in enumerate(labels):
        if l in seen: labels[i] = f'{l} #{i}'
        seen[l] = 1
    data = [{'type': 'bar', 'name': m, 'x': labels, 'y': [r.get(m) for r in recs], 'visible': i == 0}
            for i, m in enumerate(metrics)]
    layout = {'title': {'text': f'{name}: {metrics[0]}'}, 'height': 420, 'margin': {'b': 160},
              'xaxis': {'automargin': True, 'tickangle': -40, 'title': {'text': ' · '.join(labels_k)}},
              'yaxis': {'title': {'text': metrics[0]}}}
    if len(metrics) > 1:
        layout['updatemenus'] = [{'x': 1, 'y': 1.18, 'xanchor': 'right', 'buttons': [
            {'label': m, 'method': 'update', 'args': [{'visible': [j == i for j in range(len(metrics))]},
                                                      {'title.text': f'{name}: {m}', 'yaxis.title.text': m}]}
            for i, m in enumerate(metrics)]}]
    return (f'<div id="{fig_id}" class="plotly-graph-div fbtrain-results-plot" style="height:420px; width:100%;"></div>\n'
            f'<script>Plotly.newPlot("{fig_id}", {json.dumps(data)}, {json.dumps(layout)}, {{"responsive": true}});</script>')

def records_table(recs: list) -> str:
    keys = [k for k in dict.fromkeys(k for r in recs for k in r) if all(_scalar(r.get(k)) for r in recs)]
    def fmt(v): return f'{v:.4g}' if isinstance(v, float) else ('-' if v is None else str(v).replace('|', '\\|'))
    return '\n'.join(['| ' + ' | '.join(keys) + ' |', '|' + '---|'*len(keys)] +
                     ['| ' + ' | '.join(fmt(r.get(k)) for k in keys) + ' |' for r in recs])

def results_section(title: str, md: Path, js: Path, top: int, ids: list, shown: str) -> str:
    "A results file pair (markdown table, JSON numbers) as page text; `shown`: the folder as the page names it."
    out = [f'{"#"*top} {title}', '']
    if md.exists(): out += [f'From `{shown}/{md.name}`:', '',
                            _shift_headings(md.read_text(encoding='utf-8').strip(), top + 1), '']
    if js.exists():
        try: obj = json.loads(js.read_text(encoding='utf-8'))
        except json.JSONDecodeError as e: obj = None; out += [f'`{js.name}` is not valid JSON ({e}).', '']
        recs = _records(obj) if obj is not None else []
        if obj is not None and not md.exists():
            if isinstance(obj, dict) and isinstance(obj.get('meta'), dict):
                out += ['Recorded with: ' + ', '.join(f'{k} = {v}' for k, v in obj['meta'].items() if _scalar(v)), '']
            for nm, r in recs: out += [f'**{nm or js.stem}**', '', records_table(r), '']
        figs = []
        for nm, r in recs:
            ids.append(f'fbtrain-results-{len(ids)}')
            f = records_figure(nm or js.stem, r, ids[-1])
            if f: figs.append(f)
        if figs: out += [f'Plots of `{js.name}` (the menu at the top right of each plot picks the column):', '',
                         '```{raw} html', *figs, '```', '']
        elif obj is not None: out += [f'`{js.name}` holds no table of numbers to plot.', '']
    if not md.exists() and not js.exists(): out += ['Not yet recorded.', '']
    elif not md.exists(): out += [f'`{md.name}`: not yet recorded.', '']
    elif not js.exists(): out += [f'`{js.name}`: not yet recorded.', '']
    return '\n'.join(out)

LADDER_PAGES = (('Mini ladder (N = 640)', 'mini', 'ladder'),
                ('The N = 2,560 study: the regularizer against seed noise', 'mini2560', 'study'),
                ('The N = 2,560 ladder, every run', 'mini2560', 'ladder'),
                ('The N = 2,560 study, fresh seeds 3–5: α 0.25 against SGD and its α 0 control', 'mini2560-fresh', 'ladder'),
                ('Mini ladder with bf16 autocast', 'mini-bf16', 'ladder'))

def results_page(results: Path) -> str:
    intro = (SITE/'results.md').read_text(encoding='utf-8').rstrip() + '\n\n'
    parts, ids = [intro, '## Benchmarks', ''], []
    stems = sorted({p.stem for p in results.glob('*.md')} | {p.stem for p in results.glob('*.json')}) if results.is_dir() else []
    if not stems: parts += ['Not yet recorded.', '']
    for s in stems: parts.append(results_section(s, results/f'{s}.md', results/f'{s}.json', 3, ids, 'bench/results'))
    for title, sub, stem in LADDER_PAGES:
        parts.append(results_section(title, results/sub/f'{stem}.md', results/sub/f'{stem}.json', 2, ids, f'bench/results/{sub}'))
    return '\n'.join(parts) + '\n'

# ---------------------------------------------------------------------------------------------------------------
# assets and build
# ---------------------------------------------------------------------------------------------------------------
def mathjax_js() -> Path:
    "tex-svg.js of MathJax 3 from npm, installed once into the git-ignored cache."
    prefix = CACHE/f'mathjax-{MATHJAX_VERSION}'
    js = prefix/'node_modules'/'mathjax'/'es5'/'tex-svg.js'
    if not js.exists():
        npm = shutil.which('npm')
        if not npm: sys.exit('build_docs: npm is needed once to fetch MathJax 3 (npm install mathjax@3)')
        log(f'fetching mathjax@{MATHJAX_VERSION} from npm into {prefix.relative_to(ROOT)}')
        prefix.mkdir(parents=True, exist_ok=True)
        subprocess.run([npm, 'install', '--prefix', str(prefix), '--no-save', '--no-package-lock', '--no-audit',
                        '--no-fund', '--loglevel=error', f'mathjax@{MATHJAX_VERSION}'], check=True)
    return js

def plotly_js() -> Path:
    import plotly
    return Path(plotly.__file__).parent/'package_data'/'plotly.min.js'

def clear_out(out: Path):
    "Empty the output folder, keeping docs/README.md; refuse to empty a folder that is not a built site."
    if not out.exists(): out.mkdir(parents=True); return
    items = [p for p in out.iterdir() if p.name != 'README.md']
    if items and not (out/'.buildinfo').exists():
        sys.exit(f'build_docs: {out} holds files but no previous build (.buildinfo): not clearing it')
    for p in items: shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()

def build(nbs: Path, out: Path, results: Path, work: Path) -> None:
    t0 = time.time()
    order = page_order(nbs)
    if not order or order[0].as_posix() != 'index.ipynb': sys.exit(f'build_docs: {nbs} has no index.ipynb')
    proc = process(nbs, work)
    log(f'nbdev processing of {len(order)} notebooks: {time.time()-t0:.1f} s')
    src = work/'src'
    shutil.copytree(SITE, src, ignore=shutil.ignore_patterns('_cache', '__pycache__', 'results.md'))
    for p in proc.rglob('*'):                   # images and other files next to the notebooks
        if p.is_file() and p.suffix not in ('.ipynb', '.md', '.rst', '.yml', '.py') and not p.name.startswith('.'):
            (src/p.relative_to(proc)).parent.mkdir(parents=True, exist_ok=True); shutil.copy(p, src/p.relative_to(proc))
    nbs_pp, pages = {}, {}
    for rel in order:
        nb = json.loads((proc/rel).read_text(encoding='utf-8'))
        nbs_pp[rel] = nb
        fm_cell = nb['cells'][0] if nb['cells'] and nb['cells'][0]['cell_type'] == 'raw' else None
        m = re.search(r'^output-file:\s*(\S+)', src_text(fm_cell['source']) if fm_cell else '', re.M)
        stem = Path(m.group(1)).stem if m else re.sub(r'^\d+[a-zA-Z0-9]*_', '', rel.stem.lower())
        stem = (rel.parent/stem).as_posix()
        if stem in pages.values() or stem == 'results': sys.exit(f'build_docs: two pages named {stem}.html ({rel})')
        pages[rel.as_posix()] = stem
    anchors = {f'{pages[rel.as_posix()]}.html': set(show_doc_anchors(nb)) for rel, nb in nbs_pp.items()}
    links = Links(pages, anchors)
    library, tutorials = [], []
    for rel in order:
        src_nb = json.loads((nbs/rel).read_text(encoding='utf-8'))
        is_module = any(c['cell_type'] == 'code' and re.search(r'^#\|\s*default_exp\b', src_text(c['source']), re.M)
                        for c in src_nb['cells'])
        stem = pages[rel.as_posix()]
        links.here, links.src = stem, rel.as_posix()
        tutorial = not is_module and rel.as_posix() != 'index.ipynb'
        nb, _ = convert_nb(nbs_pp[rel], links, Path(stem).name, colab_badge(colab_url(rel), stem) if tutorial else '')
        if rel.as_posix() != 'index.ipynb': (library if is_module else tutorials).append(stem)
        (src/f'{stem}.ipynb').parent.mkdir(parents=True, exist_ok=True)
        (src/f'{stem}.ipynb').write_text(json.dumps(nb, indent=1, ensure_ascii=False), encoding='utf-8')
    (src/'results.md').write_text(results_page(results), encoding='utf-8')
    index = json.loads((src/'index.ipynb').read_text(encoding='utf-8'))
    for caption, docs in (('Library', library), ('Tutorials', tutorials), ('', ['results'])):
        if docs: index['cells'].append({'cell_type': 'markdown', 'metadata': {}, 'id': f'toc-{caption.lower() or "results"}',
                                        'source': '```{toctree}\n:hidden:\n' + (f':caption: {caption}\n' if caption else '')
                                                  + '\n' + '\n'.join(docs) + '\n```'})
    (src/'index.ipynb').write_text(json.dumps(index, indent=1, ensure_ascii=False), encoding='utf-8')
    s = get_config(path=ROOT)
    (src/'_site.json').write_text(json.dumps({k: s.get(k, '') for k in
                                  ('title', 'description', 'author', 'copyright', 'git_url', 'version', 'branch')}))
    static = src/'_static'; static.mkdir(exist_ok=True)
    shutil.copy(plotly_js(), static/'plotly.min.js')
    from fbtrain.report import NARROW_JS     # phone-width figures: legend below the plot, as on results pages
    (static/'fbtrain-figures.js').write_text(NARROW_JS, encoding='utf-8')
    shutil.copy(mathjax_js(), static/'tex-svg.js')
    log(f'converted {len(order)} notebooks + results: {time.time()-t0:.1f} s')
    html_dir = work/'build'/'html'              # myst-nb writes beside the output folder: keep that in `work`
    cmd = [sys.executable, '-m', 'sphinx', '-b', 'html', '-W', '--keep-going', '-q', '-d', str(work/'doctrees'),
           str(src), str(html_dir)]
    r = subprocess.run(cmd, cwd=work)
    if r.returncode: sys.exit(f'build_docs: sphinx-build failed (rc {r.returncode}); warnings are errors')
    clear_out(out)
    shutil.copytree(html_dir, out, dirs_exist_ok=True)
    log(f'site in {out} ({len(order) + 1} pages): {time.time()-t0:.1f} s')

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--nbs', default=str(get_config(path=ROOT).nbs_path), help='notebooks folder (default nbs/)')
    ap.add_argument('--out', default=str(get_config(path=ROOT).doc_path), help='site folder (default docs/)')
    ap.add_argument('--results', default=str(ROOT/'bench'/'results'), help='results folder (default bench/results/)')
    ap.add_argument('--work', help='scratch folder to keep (default: a temporary one, removed afterwards)')
    a = ap.parse_args(argv)
    nbs, out, results = (Path(x).resolve() for x in (a.nbs, a.out, a.results))
    if a.work:
        work = Path(a.work).resolve()
        if work.exists(): shutil.rmtree(work)
        work.mkdir(parents=True); build(nbs, out, results, work)
    else:
        with tempfile.TemporaryDirectory(prefix='fbtrain-docs-') as w: build(nbs, out, results, Path(w))

if __name__ == '__main__':
    main()
