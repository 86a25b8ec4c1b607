"""Build steps setup.cfg cannot say: the wheel gets the top-level ``templates/``
(as ``idp/templates``) and compiled translation catalogues (.mo from .po)."""

import importlib.util
import os
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


def _catalogues():
    # Loaded from its file: the build environment has Babel, not the app's dependencies.
    spec = importlib.util.spec_from_file_location(
        "idp_catalogues", os.path.join(HERE, "idp", "catalogues.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class BuildWithTemplatesAndCatalogues(build_py):
    def run(self):
        super().run()
        catalogues = _catalogues()
        if getattr(self, "editable_mode", False):
            # An editable install reads templates/ and idp/translations/ in place.
            catalogues.ensure_compiled(os.path.join(HERE, "idp", "translations"))
            return
        target = os.path.join(self.build_lib, "idp")
        shutil.copytree(os.path.join(HERE, "templates"), os.path.join(target, "templates"),
                        dirs_exist_ok=True)
        translations = os.path.join(target, "translations")
        for po, mo in _all_mo(translations):  # always: a copied .mo may be stale
            catalogues.compile_catalogue(po, mo)


def _all_mo(directory):
    """Every .po under ``directory`` with the path of its .mo."""
    return [(os.path.join(root, name), os.path.join(root, name[:-3] + ".mo"))
            for root, _dirs, files in os.walk(directory) for name in files
            if name.endswith(".po")]


setup(cmdclass={"build_py": BuildWithTemplatesAndCatalogues})
