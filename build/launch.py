"""Entry script of the frozen build: the same ``alertflow`` command that pip installs.

``alertflow/__main__.py`` cannot be the script: PyInstaller runs its script as a top-level
module, where that file's relative import has no package to be relative to.
"""

from alertflow.cli import run

run()
