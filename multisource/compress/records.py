"""What a pruning run reports: one ``LayerRecord`` per pruned layer inside a ``PruneReport``.

Both kinds of pruner (``docs/sparsegpt.md``, "Methods") return a ``PruneReport``: the sequential
driver builds it layer by layer for the layer pruners, a model pruner such as M-FAC OBS builds its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from multisource.compress.quant import QuantGrid


@dataclass(frozen=True)
class LayerRecord:
    """One pruned layer: full name, (rows, columns), asked and achieved sparsity, error, damping, time."""

    name: str
    shape: tuple[int, int]
    target_sparsity: float
    sparsity: float
    error: float
    damping_used: float
    seconds: float


@dataclass
class PruneReport:
    """What a pruning run did: per-layer records, the layers it left dense and why, the time split.

    ``skipped`` maps the full name of every layer with weights that was *not* pruned, although the
    run would have pruned it, to the reason (e.g. not a layer type the pruners handle, or no
    calibration input reached it). Layers left out on purpose (absent from a per-layer sparsity
    dict) are not listed. ``grids`` maps the full name of every quantized layer to the grid its
    kept weights lie on, which the compressed export stores (``multisource.compress.export``).
    """

    method: str
    family: str
    calibration: str
    layers: list[LayerRecord] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    grids: dict[str, QuantGrid] = field(default_factory=dict, repr=False)
    forward_seconds: float = 0.0
    solve_seconds: float = 0.0
    total_seconds: float = 0.0

    @property
    def sparsity(self) -> float:
        """Fraction of zeros over all pruned layers' weights."""
        total = sum(r.shape[0] * r.shape[1] for r in self.layers)
        return sum(r.sparsity * r.shape[0] * r.shape[1] for r in self.layers) / max(total, 1)

    def table(self) -> str:
        """A markdown table, one row per pruned layer, then one line per skipped layer."""
        lines = ["| layer | shape | target | sparsity | error | damping | seconds |", "|---|---|---|---|---|---|---|"]
        lines += [
            f"| {r.name} | {r.shape[0]}x{r.shape[1]} | {r.target_sparsity:.3f} | {r.sparsity:.3f} | "
            f"{r.error:.4g} | {r.damping_used:g} | {r.seconds:.3f} |"
            for r in self.layers
        ]
        lines += [f"not pruned: {name} ({reason})" for name, reason in self.skipped.items()]
        return "\n".join(lines)
