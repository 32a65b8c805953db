"""Stand-in for the pip bootstrap script that ansible-test downloads from ci-files.testing.ansible.com.

That host is unreachable from the machines this collection is developed and tested on (only the
package registries are). ansible-test runs the script inside each empty sanity virtualenv with
pip's usual install arguments (e.g. ``pip==25.2``); like get-pip.py, this runs pip from a pip
wheel (the one bundled with this Python's ensurepip) to install what was asked for from PyPI.
scripts/sanity.sh copies it to ~/.ansible/test/cache/get_pip_<version>.py.
"""
import glob
import os
import sys

import ensurepip

bundled = glob.glob(os.path.join(os.path.dirname(ensurepip.__file__), "_bundled", "pip-*.whl"))
if not bundled:
    sys.exit("ansible_test_get_pip: this Python's ensurepip carries no pip wheel")
sys.path.insert(0, bundled[0])

from pip._internal.cli.main import main  # noqa: E402  pylint: disable=wrong-import-position

# get-pip.py's own options; setuptools and wheel are not installed by this stand-in anyway.
args = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
sys.exit(main(["install", "--upgrade", "--force-reinstall"] + args))
