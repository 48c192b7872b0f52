"""`nbdev_export`, with the `__all__` list it writes kept within 120 characters a line.

nbdev 2.4.14 wraps the list at 120 characters without counting the `__all__ = ` written before its first line, so that
line reaches 130. Here its wrapper counts it. Everything else is nbdev's own export.

    python .ci/export.py [nbdev_export's options]     # instead of nbdev_export
"""
import textwrap
import nbdev.maker
from nbdev.doclinks import nbdev_export

class AllWrapper(textwrap.TextWrapper):
    "nbdev's wrapper of the `__all__` list, with room for `__all__ = ` on its first line."
    def wrap(self, text:str)->list:
        self.initial_indent = ' '*len('__all__ = ')
        lines = super().wrap(text)
        return [lines[0].lstrip(), *lines[1:]] if lines else lines

if __name__ == '__main__':
    nbdev.maker.TextWrapper = AllWrapper
    nbdev_export()        # run as a script, it reads nbdev_export's own command-line options
