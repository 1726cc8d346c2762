"""multisource: robust learning from many data sources when some of them are adversarial.

Sub-packages follow the data flow (nothing imports "upward"):
data -> corruption -> discrepancy -> filtering -> learners -> bounds -> runner.
``optim`` (M-FAC) and ``compress`` (SparseGPT, magnitude, Wanda, M-FAC OBS) provide base hypotheses.
"""

__version__ = "0.1.0"
