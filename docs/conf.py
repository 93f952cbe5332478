"""Sphinx configuration for the skimpute documentation."""

import skimpute

project = "skimpute"
author = "The skimpute developers"
copyright = "2026, The skimpute developers"
version = release = skimpute.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
]

autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

templates_path = ["_templates"]
exclude_patterns = ["_build", "generated/*.examples"]
html_theme = "alabaster"
html_static_path = []

# `text` in docstrings renders as code, as in scikit-learn's documentation
# (attribute shapes such as (`n_features_in_`,) are written that way).
default_role = "literal"
