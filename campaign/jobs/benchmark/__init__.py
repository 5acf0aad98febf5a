"""``chggen benchmark``: structure recovery on known crystals against baselines.

Modules: ``chain`` (the one adapter to the chain's middle layer), ``known_input``
(KNOWN and the compound selection), ``default_set`` (the shipped sets), ``csp`` and
``hosts`` (what one task does), ``store`` (resumable parts), ``runner`` (serial or pooled
execution), ``report`` (outputs) and ``driver`` (one run). Scoring is in
:mod:`chggen_kernels.benchmark`. This module stays import-light (the CLI reads it).
"""

CSP_METHODS = ("random", "random-prior", "unconditional", "inpaint", "inpaint-symmetric",
               "symmetric", "template", "template-symmetric", "template-raw")
#: What ``chggen benchmark csp`` runs unless ``--methods`` says otherwise (the methods of
#: the committed default-set results; the others are opt-in, e.g. ``--methods random
#: symmetric template``).
CSP_DEFAULT_METHODS = ("random", "unconditional", "inpaint", "inpaint-symmetric")
HOST_METHODS = ("inpaint", "inpaint-symmetric", "random", "voronoi")
#: CSP methods whose starts are known phases (the chain prepares the template library for
#: the composition's stoichiometry type), and those that scan the space groups compatible
#: with the composition (pyxtal's tables) before drawing.
TEMPLATE_METHODS = ("template", "template-raw", "template-symmetric")
GROUP_TABLE_METHODS = ("random", "random-prior", "symmetric")

__all__ = ["CSP_DEFAULT_METHODS", "CSP_METHODS", "GROUP_TABLE_METHODS", "HOST_METHODS",
           "TEMPLATE_METHODS"]
