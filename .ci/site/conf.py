"Sphinx configuration of the docs site; .ci/build_docs.py copies it next to the converted notebooks and builds."
import json
from pathlib import Path

_s = json.loads((Path(__file__).parent/'_site.json').read_text())    # from settings.ini, written by build_docs.py

project = _s['title']
author = _s['author']
copyright = _s['copyright']
release = version = _s['version']
extensions = ['myst_nb', 'sphinx.ext.githubpages']      # githubpages: .nojekyll, so GitHub Pages serves _static/

# notebooks: show the outputs stored in them, never execute
nb_execution_mode = 'off'
nb_merge_streams = True
nb_render_markdown_format = 'myst'      # show_doc entries are markdown outputs: tables, links, maths
myst_enable_extensions = ['dollarmath', 'amsmath']
myst_all_links_external = True          # converted doc links are plain relative links to .html pages

html_theme = 'sphinx_book_theme'
html_title = _s['title']
html_static_path = ['_static']          # plotly.min.js (plotly wheel) and tex-svg.js (npm mathjax@3) copied in at build time
html_js_files = ['plotly.min.js', 'fbtrain-figures.js']   # in <head>: figures' inline scripts call Plotly.newPlot at once
html_css_files = ['fbtrain.css']
html_favicon = '_static/favicon.svg'
mathjax_path = 'tex-svg.js'             # local MathJax 3: no request leaves the page
html_theme_options = {
    'repository_url': _s['git_url'],
    'repository_branch': _s['branch'],
    'path_to_docs': 'nbs',
    'use_repository_button': True,
    'use_download_button': True,
    'home_page_in_toc': True,
    'show_toc_level': 2,
    'navigation_with_keys': False,
}
html_last_updated_fmt = None
html_copy_source = True
exclude_patterns = ['_build', '_static', '**.ipynb_checkpoints', '_site.json']
html_context = {'default_mode': 'light'}
