"""The ``switchpoint`` command line. No logic of its own: it calls the library."""
