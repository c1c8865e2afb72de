"""rostersync's tools: the command line, the local product and the synthetic districts.

Never deployed. The Lambda functions import only the ``rostersync`` package (the core layer); this
package is what ``pip install -e .`` adds for district admins' preflight (``rostersync check``),
the local product (``rostersync serve`` / ``demo``) and the tests and benchmark.
"""
