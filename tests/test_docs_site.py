"""The docs site (built into docs/ by `python .ci/build_docs.py`), tested in a real browser (Playwright + Debian Chromium).

The site is served on 127.0.0.1 and every request to anywhere else is blocked and counted as a failure: the pages
must work offline (local plotly.js and MathJax). Without a built site or Chromium the tests skip, except under CI
(`CI` set), where CI builds the site and installs Chromium first, so they fail instead.
"""
import functools, http.server, json, os, re, sys, threading
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlsplit
import pytest

ROOT = Path(__file__).resolve().parents[1]
SITE = Path(os.environ.get('FBTRAIN_DOCS_SITE', ROOT/'docs')).resolve()
from conftest import CHROMIUM, CHROMIUM_ARGS as ARGS
LOCAL = ('http://127.0.0.1', 'data:', 'file:', 'blob:', 'about:')
sys.path.insert(0, str(ROOT/'.ci'))
import make_readme, exec_nbs

def _missing(reason):
    "Skip, or under CI (where the site is built and Chromium installed before the tests) fail."
    if os.environ.get('CI'): pytest.fail(f'{reason} (CI builds the site and installs chromium before the tests)')
    pytest.skip(reason)

def pages() -> list:
    "The site's pages (not Sphinx's generated genindex/search)."
    return sorted(p.relative_to(SITE).as_posix() for p in SITE.rglob('*.html')
                  if p.name not in ('genindex.html', 'search.html') and not p.relative_to(SITE).parts[0].startswith('_'))

@pytest.fixture(scope='module')
def site():
    if not (SITE/'index.html').exists(): _missing(f'docs site not built ({SITE}/index.html missing): run python .ci/build_docs.py')
    return SITE

# ----------------------------------------------------------------------------------------------------------------
# without a browser
# ----------------------------------------------------------------------------------------------------------------
class _Links(HTMLParser):
    def __init__(self):
        super().__init__(); self.hrefs, self.ids = [], set()
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get('id'): self.ids.add(a['id'])
        if tag == 'a' and a.get('name'): self.ids.add(a['name'])
        if tag == 'a' and a.get('href'): self.hrefs.append(a['href'])

def _parse(p: Path) -> _Links:
    x = _Links(); x.feed(p.read_text(encoding='utf-8')); return x

def test_internal_links_resolve(site):
    "Every relative link of every page (sidebar, API links from tutorials, nbdev doc links) hits a file and its anchor."
    parsed, bad = {}, []
    for name in pages():
        for href in _parse(site/name).hrefs:
            u = urlsplit(href)
            if u.scheme or u.netloc or href.startswith(('mailto:', 'javascript:')): continue
            path, frag = urldefrag(href)
            target = (site/name).parent/unquote(path) if path else site/name
            if not target.exists(): bad.append(f'{name}: {href} (no file)'); continue
            if frag and target.suffix == '.html':
                ids = parsed.setdefault(target, _parse(target).ids)
                if unquote(frag) not in ids: bad.append(f'{name}: {href} (no anchor)')
    assert not bad, 'broken links:\n' + '\n'.join(bad)

def test_no_absolute_doc_links(site):
    "nbdev's absolute links to the published site were all rewritten to local pages."
    import configparser
    c = configparser.ConfigParser(delimiters=['=']); c.read(ROOT/'settings.ini')
    host = c['DEFAULT']['doc_host'] + c['DEFAULT']['doc_baseurl']
    assert not [n for n in pages() if f'href="{host}' in (site/n).read_text(encoding='utf-8')]

# ----------------------------------------------------------------------------------------------------------------
# in the browser
# ----------------------------------------------------------------------------------------------------------------
class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a): pass

@pytest.fixture(scope='module')
def base_url(site):
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(_Quiet, directory=str(site)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f'http://127.0.0.1:{srv.server_port}'
    srv.shutdown(); srv.server_close()

class Browser:
    "One Chromium page; `goto` loads a page and records requests that were blocked or failed."
    def __init__(self, page, base):
        self.page, self.base, self.blocked, self.failed, self.errors = page, base, [], [], []
        page.route('**/*', self._route)
        page.on('response', lambda r: self.failed.append(f'{r.status} {r.url}') if r.status >= 400 else None)
        page.on('requestfailed', self._failed)
        page.on('pageerror', lambda e: self.errors.append(str(e)))
    def _failed(self, request):
        "A local request that failed, except one cancelled by the next navigation (the favicon, typically)."
        if request.url.startswith(LOCAL[0]) and 'ERR_ABORTED' not in (request.failure or ''):
            self.failed.append(f'{request.failure} {request.url}')
    def _route(self, route):
        url = route.request.url
        if url.startswith(LOCAL): route.continue_()
        else: self.blocked.append(url); route.abort()
    def goto(self, path: str):
        self.blocked.clear(); self.failed.clear(); self.errors.clear()
        r = self.page.goto(f'{self.base}/{path}', wait_until='load')
        assert r is not None and r.status == 200, f'{path}: HTTP {r and r.status}'
        return self.page
    def check_clean(self, path=''):
        "Nothing left the machine, nothing failed to load, no script error."
        assert not self.blocked, f'{path}: requests to outside 127.0.0.1: {self.blocked}'
        assert not self.failed, f'{path}: failed requests: {self.failed}'
        assert not self.errors, f'{path}: page errors: {self.errors}'

@pytest.fixture(scope='module')
def browser(base_url):
    pw = pytest.importorskip('playwright.sync_api', reason='playwright not installed')
    if not Path(CHROMIUM).exists(): _missing(f'{CHROMIUM} missing (apt-get install -y chromium)')
    with pw.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try: yield Browser(b.new_page(viewport={'width': 1280, 'height': 900}), base_url)
        finally: b.close()

def test_index(browser):
    pg = browser.goto('index.html')
    assert 'fbtrain' in pg.title()
    pg.locator('h1:visible', has_text='fbtrain').first.wait_for()
    assert pg.locator('pre:visible', has_text='pip install -e .').count() >= 1
    browser.check_clean('index.html')

def _readme_block(text: str, head: str) -> str:
    rest = text.split(head, 1)[1]
    return rest.split('```bash\n', 1)[1].split('\n```', 1)[0].strip()

def test_readme_commands_match_docs(browser):
    "The index page shows README's install command and its two commands (set up + main job, tests), verbatim."
    readme = (ROOT/'README.md').read_text()
    want = [_readme_block(readme, '## Install'), *make_readme.commands(readme)]
    assert want[0] == 'pip install -e .'           # what works until fbtrain is on PyPI
    pg = browser.goto('index.html')
    shown = [t.strip() for t in pg.locator('pre:visible').all_inner_texts()]
    for cmd in want: assert cmd in shown, f'{cmd!r} is not a code block of the docs index page: {shown}'

def test_api_entry(browser):
    "The gradient module page has full_batch_gradient's show_doc entry: anchor, signature, docstring, parameter table."
    pg = browser.goto('gradient.html')
    pg.locator('[id="full_batch_gradient"]').wait_for(state='attached')
    sig = pg.locator('pre:visible', has_text='def full_batch_gradient(')
    assert sig.count() == 1
    assert 'block_size' in sig.inner_text()
    entry = pg.locator('.cell_output', has=pg.locator('[id="full_batch_gradient"]'))
    assert entry.count() == 1
    assert entry.locator('table:visible', has_text='block_size').count() == 1      # docments as a parameter table
    assert entry.locator('em:visible').count() >= 1                                # the docstring, in italics
    assert entry.locator('a', has_text='source').count() == 1
    browser.check_clean('gradient.html')

def _check_figures(browser, path):
    pg = browser.goto(path)
    figs = pg.locator('.plotly-graph-div')
    n = figs.count()
    assert n >= 1, f'{path}: no plotly figure'
    pg.wait_for_function(f'document.querySelectorAll(".plotly-graph-div.js-plotly-plot svg.main-svg").length >= {n}',
                         timeout=15_000)
    for i in range(n):
        fig = figs.nth(i)
        assert fig.locator('.trace').count() >= 1, f'{path}: figure {i} drew no trace'
    browser.check_clean(path)

def _is_tutorial(nb: Path) -> bool:
    "A notebook that exports no module and is not the index: a page for students."
    cells = json.loads(nb.read_text(encoding='utf-8'))['cells']
    return nb.name != 'index.ipynb' and not any(
        c['cell_type'] == 'code' and re.search(r'^#\|\s*default_exp\b', ''.join(c['source']), re.M) for c in cells)

NBS = sorted(p for p in (ROOT/'nbs').glob('*.ipynb') if not p.name.startswith(('_', '.')))
TUTORIALS = [p for p in NBS if _is_tutorial(p)]

def _page(nb: Path) -> str: return re.sub(r'^\d+[a-zA-Z0-9]*_', '', nb.stem.lower()) + '.html'

def _figures_made(nb: Path) -> int:
    "Plotly figures among the notebook's stored outputs."
    return sum('application/vnd.plotly.v1+json' in o.get('data', {})
               for c in json.loads(nb.read_text(encoding='utf-8'))['cells'] for o in c.get('outputs', []))

def test_tutorial_outputs_stored():
    "Every tutorial stores the outputs of a run of its current code (the site shows them), plotly as JSON, under 1 MB."
    assert len(TUTORIALS) >= 6
    for nb in TUTORIALS:
        cells = json.loads(nb.read_text(encoding='utf-8'))['cells']
        assert any(c.get('outputs') for c in cells), f'{nb.name} has no stored outputs: run python .ci/exec_nbs.py {nb.name}'
        assert exec_nbs.check(nb) == [], exec_nbs.check(nb)
    stale = [nb.name for nb in NBS if exec_nbs.is_stale(nb)]
    assert not stale, f'outputs made by older code (run python .ci/exec_nbs.py on them): {stale}'

def test_stamp_follows_code(tmp_path):
    "The stamp changes when a code cell changes, so an edited notebook with old outputs is found."
    nb = json.loads(TUTORIALS[0].read_text(encoding='utf-8'))
    assert not exec_nbs.is_stale(TUTORIALS[0])
    c = next(c for c in nb['cells'] if c['cell_type'] == 'code')
    c['source'] = ''.join(c['source']) + '\nx = 1'
    (tmp_path/'nb.ipynb').write_text(json.dumps(nb))
    assert exec_nbs.is_stale(tmp_path/'nb.ipynb')

FIGURES_JS = """() => [...document.querySelectorAll('.js-plotly-plot')].map(el => {
    const col = el.closest('article') || document.querySelector('.bd-article') || document.body;
    const r = el.getBoundingClientRect(), c = col.getBoundingClientRect();
    return {drawn: el.querySelectorAll('svg.main-svg').length > 0 && el.querySelectorAll('.trace').length > 0,
            left: r.left - c.left, right: c.right - r.right, wide: el.scrollWidth - el.clientWidth};
})"""

@pytest.mark.parametrize('width', [1400, 390])
def test_tutorial_pages_show_their_figures(browser, width):
    "Each tutorial page draws as many plotly figures as its notebook made, none wider than the content column."
    browser.page.set_viewport_size({'width': width, 'height': 900})
    try:
        for nb in TUTORIALS:
            path, want = _page(nb), _figures_made(nb)
            pg = browser.goto(path)
            if want: pg.wait_for_function(f'document.querySelectorAll(".js-plotly-plot svg.main-svg").length >= {want}',
                                          timeout=20_000)
            pg.wait_for_timeout(300)                      # the narrow-screen legend move runs after load
            figs = pg.evaluate(FIGURES_JS)
            print(f'{width} px {path}: {len(figs)} figures drawn, notebook made {want}')
            assert len(figs) == want, f'{path}: {len(figs)} figures on the page, {want} in {nb.name}'
            for i, f in enumerate(figs):
                assert f['drawn'], f'{path}: figure {i} drew nothing'
                assert f['left'] >= -1 and f['right'] >= -1 and f['wide'] <= 1, f'{path}: figure {i} overflows {f}'
            assert pg.evaluate('document.documentElement.scrollWidth') <= width, f'{path}: the page scrolls sideways'
            browser.check_clean(path)
    finally: browser.page.set_viewport_size({'width': 1280, 'height': 900})

def test_tutorial_pages_have_colab_badge(browser):
    "Each tutorial page has the Open-in-Colab badge (a local image) linking to its notebook as settings.ini names it."
    import configparser
    c = configparser.ConfigParser(delimiters=['=']); c.read(ROOT/'settings.ini'); s = c['DEFAULT']
    for nb in TUTORIALS:
        pg = browser.goto(_page(nb))
        a = pg.locator('.fbtrain-colab a')
        assert a.count() == 1, f'{_page(nb)}: no Colab badge'
        want = f"https://colab.research.google.com/github/{s['user']}/{s['repo']}/blob/{s['branch']}/nbs/{nb.name}"
        assert a.get_attribute('href') == want
        assert pg.evaluate('document.querySelector(".fbtrain-colab img").naturalWidth') > 0   # the badge image loaded
        browser.check_clean(_page(nb))

def test_results_page(browser, site):
    "The Results page: the benchmark tables, plots drawn from the JSON files, 'not yet recorded' for what is missing."
    pg = browser.goto('results.html')
    pg.locator('h1:visible', has_text='Results').wait_for()
    res = ROOT/'bench'/'results' if SITE == (ROOT/'docs').resolve() else None
    html = (site/'results.html').read_text(encoding='utf-8')
    if res is not None and any(res.glob('*.md')): assert pg.locator('table:visible').count() >= 1
    if 'plotly-graph-div' in html: _check_figures(browser, 'results.html')
    if res is not None and not (res/'mini'/'ladder.md').exists():
        assert pg.get_by_text(re.compile('not yet recorded', re.I)).count() >= 1
    browser.check_clean('results.html')

def test_math_rendered(browser):
    "Maths ($$...$$ in the gradient and regularizer notebooks) typeset by the local MathJax."
    for path in ('gradient.html', 'regularizer.html'):
        if '\\[' not in (SITE/path).read_text(encoding='utf-8') and 'class="math' not in (SITE/path).read_text(encoding='utf-8'):
            continue
        pg = browser.goto(path)
        pg.locator('mjx-container').first.wait_for(state='attached', timeout=15_000)
        assert pg.locator('mjx-container svg').count() >= 1
        browser.check_clean(path)
        return
    pytest.fail('no page with maths found')

def test_sidebar_links(browser):
    "The sidebar lists every page (notebooks in order, Results) and each link loads with its title."
    pg = browser.goto('index.html')
    nav = pg.locator('nav.bd-docs-nav a.reference.internal')
    hrefs = [h.split('#')[0] or 'index.html' for h in nav.evaluate_all('els => els.map(e => e.getAttribute("href"))')]
    assert set(hrefs) == set(pages()), f'sidebar {hrefs} != pages {pages()}'
    assert hrefs[-1] == 'results.html'
    for h in dict.fromkeys(hrefs):
        p = browser.goto(h)
        assert p.locator('h1:visible').count() >= 1, f'{h}: no visible title'
        browser.check_clean(h)

def test_search(browser):
    "Sphinx's offline search finds an API entry."
    pg = browser.goto('search.html?q=full_batch_gradient')
    hit = pg.locator('#search-results a[href*="gradient.html"]').first
    hit.wait_for(timeout=15_000)
    browser.check_clean('search.html')
