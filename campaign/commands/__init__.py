"""Sub-commands of the ``chggen`` command line, one module each."""
