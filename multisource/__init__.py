"""multisource: robust learning from many data sources when some of them are adversarial.

Sub-packages import one way, a package only from those before it (``tests/test_import_graph.py``):
utils, bounds, data, corruption, optim, compress, learners, discrepancy, filtering, aggregation,
federated, runner, report, cli. ``bounds`` is the theory (it depends on ``utils`` only); ``optim``
(M-FAC) and ``compress`` (SparseGPT, magnitude, Wanda, M-FAC OBS) provide base hypotheses.
"""

__version__ = "0.1.0"
