"""A frozen causal language model as a feature map: pooled hidden states of one layer, cached on disk.

Text sources become feature vectors once, and every discrepancy, rule and seed then works on those
vectors unchanged (``docs/sparsegpt.md``, "Compressed base hypotheses"). The map is

    phi(text) = pool_t h_t^(l)(text),

the hidden state after block ``l`` of the transformer at each token ``t``, averaged over the
tokens (``pooling="mean"``) or taken at the last token (``pooling="last"``). The blocks after ``l``
are never run, and neither is the LM head, so a middle layer costs a fraction of a full forward.

Features are stored in an SQLite file keyed by a hash of (encoder tag, text); the tag names the
model, the layer, the pooling, the truncation length and, for a compressed encoder, how it was
compressed, so a changed encoder never reads another's vectors.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.decomposition import PCA
from torch import nn

from multisource.data.dataset import MultiSourceDataset
from multisource.data.sources import standardize_by_training
from multisource.data.text_sources import TextSources
from multisource.utils.device import resolve_device
from multisource.utils.validation import check_int

POOLINGS: tuple[str, ...] = ("mean", "last")
COMPRESSION_KEYS: tuple[str, ...] = ("method", "sparsity", "pattern", "bits", "options")


class _StopForwardError(Exception):
    """Raised by the hook on block ``l`` once its output is captured: the later blocks are not needed."""


def _blocks(model: nn.Module) -> nn.ModuleList:
    """The transformer blocks of a Hugging Face causal LM (Llama/OPT/GPT-2 layouts)."""
    base = cast(Any, model).get_decoder() if hasattr(model, "get_decoder") else model
    for name in ("layers", "h"):
        blocks = getattr(base, name, None)
        if isinstance(blocks, nn.ModuleList):
            return blocks
    raise ValueError(f"cannot find the transformer blocks of {type(model).__name__}")


def check_layer(layer: int, n_blocks: int) -> int:
    """``layer`` as a block number in ``1..n_blocks`` (negative values count from the last block)."""
    layer = check_int("layer", layer, minimum=-n_blocks, maximum=n_blocks)
    if layer == 0:
        raise ValueError(f"layer must be in [1, {n_blocks}] or [-{n_blocks}, -1] (0 is the embedding), got 0")
    return layer if layer > 0 else n_blocks + 1 + layer


def pool_states(hidden: torch.Tensor, mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """(batch, dim) pooled states of (batch, tokens, dim) ``hidden`` over the tokens where ``mask`` is 1."""
    if pooling == "mean":
        weights = mask.to(hidden.dtype).unsqueeze(-1)
        return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1.0)
    last = mask.sum(dim=1).clamp_min(1) - 1  # right padding: the last real token
    return hidden[torch.arange(len(hidden), device=hidden.device), last]


@torch.no_grad()
def block_output(model: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor, layer: int) -> torch.Tensor:
    """(batch, tokens, dim) output of block ``layer`` (1-based); the blocks after it do not run."""
    block = _blocks(model)[layer - 1]
    captured: list[torch.Tensor] = []

    def hook(module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
        captured.append(output[0] if isinstance(output, tuple) else output)
        raise _StopForwardError

    handle = block.register_forward_hook(hook)
    try:
        cast(Any, model).get_decoder()(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
    except _StopForwardError:
        pass
    finally:
        handle.remove()
    return captured[0]


def padded_batches(
    tokenizer: Any, texts: Sequence[str], max_length: int, batch_size: int
) -> list[tuple[np.ndarray, torch.Tensor, torch.Tensor]]:
    """(row indices, input ids, attention mask) batches of ``texts``, sorted by length and right-padded."""
    ids = tokenizer(list(texts), add_special_tokens=False, truncation=True, max_length=max_length)["input_ids"]
    order = np.argsort([len(row) for row in ids], kind="stable")
    batches = []
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        width = max(1, max(len(ids[i]) for i in rows))
        batch = torch.zeros((len(rows), width), dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for k, i in enumerate(rows):
            batch[k, : len(ids[i])] = torch.tensor(ids[i], dtype=torch.long)
            mask[k, : len(ids[i])] = 1
        batches.append((rows, batch, mask))
    return batches


def encode_texts(
    model: nn.Module,
    tokenizer: Any,
    texts: Sequence[str],
    *,
    layer: int = -1,
    pooling: str = "mean",
    max_length: int = 64,
    batch_size: int = 32,
) -> np.ndarray:
    """(n, dim) float32 pooled hidden states of ``texts`` after block ``layer`` of ``model``.

    Texts are tokenized without special tokens, truncated to ``max_length`` tokens and batched in
    order of length, so a batch carries little padding; the rows come back in the order given.
    """
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
    layer = check_layer(layer, len(_blocks(model)))
    max_length = check_int("max_length", max_length, minimum=1)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    device = next(model.parameters()).device
    dim = int(cast(Any, model).config.hidden_size)
    out = np.zeros((len(texts), dim), dtype=np.float32)
    for rows, batch, mask in padded_batches(tokenizer, texts, max_length, batch_size):
        batch, mask = batch.to(device), mask.to(device)
        pooled = pool_states(block_output(model, batch, mask, layer).float(), mask, pooling)
        out[rows] = pooled.cpu().numpy()
    return out


def calibration_from_texts(tokenizer: Any, texts: Sequence[str], n_windows: int, length: int) -> torch.Tensor:
    """(n_windows, length) token ids: evenly spaced windows over ``texts`` in sorted order, joined by end-of-text.

    The texts are sorted first, so the windows depend on the set of texts and not on their order, and
    the windows are spread over the whole joined stream (overlapping when it is shorter than
    ``n_windows * length`` tokens), so every part of a large calibration set is sampled: calibrating
    on all sources then puts the adversary's texts in the windows in proportion to their share.
    """
    n_windows = check_int("n_calibration", n_windows, minimum=1)
    length = check_int("calibration_length", length, minimum=1)
    eos = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else 0
    rows = tokenizer(sorted(texts), add_special_tokens=False)["input_ids"]
    ids = torch.tensor([token for row in rows for token in (*row, eos)], dtype=torch.long)
    if len(ids) < length:
        raise ValueError(
            f"the calibration texts hold {len(ids)} tokens, fewer than calibration_length = {length}; "
            "give more texts or shorter windows"
        )
    starts = torch.linspace(0, len(ids) - length, n_windows).round().long()
    return ids[starts[:, None] + torch.arange(length)]


def calibration_id(texts: Sequence[str]) -> str:
    """A short hash of the set of calibration ``texts`` (order-free, like :func:`calibration_from_texts`)."""
    return hashlib.sha256("\x00".join(sorted(texts)).encode()).hexdigest()[:16]


class FeatureCache:
    """Vectors keyed by (encoder tag, text) in one SQLite file; concurrent readers, one writer at a time."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=60)
        with self._db:
            self._db.execute("CREATE TABLE IF NOT EXISTS features (key TEXT PRIMARY KEY, vector BLOB NOT NULL)")

    @staticmethod
    def key(tag: str, text: str) -> str:
        return hashlib.sha256(f"{tag}\x00{text}".encode()).hexdigest()

    def get(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        """The cached vectors among ``keys`` (missing keys are absent from the result)."""
        found: dict[str, np.ndarray] = {}
        for start in range(0, len(keys), 500):
            chunk = list(keys[start : start + 500])
            query = f"SELECT key, vector FROM features WHERE key IN ({','.join('?' * len(chunk))})"
            found.update((k, np.frombuffer(v, dtype=np.float32)) for k, v in self._db.execute(query, chunk))
        return found

    def put(self, keys: Sequence[str], vectors: np.ndarray) -> None:
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO features VALUES (?, ?)",
                ((k, np.ascontiguousarray(v, dtype=np.float32).tobytes()) for k, v in zip(keys, vectors, strict=True)),
            )

    def close(self) -> None:
        self._db.close()


@functools.lru_cache(maxsize=2)
def _load_encoder(name: str, device: str) -> tuple[nn.Module, Any]:
    from multisource.compress.models import load_model

    model, tokenizer = load_model(name, dtype=torch.float32, device=device)
    return model, tokenizer


def _truncated_copy(model: nn.Module, layer: int) -> nn.Module:
    """A deep copy of ``model`` holding blocks ``1..layer`` only: the features never run the later blocks,
    so compressing them would be wasted work (the result is the same, as pruning is sequential)."""
    blocks = _blocks(model)
    kept = nn.ModuleList(list(blocks)[:layer])
    base = cast(Any, model).get_decoder() if hasattr(model, "get_decoder") else model
    name = "layers" if getattr(base, "layers", None) is blocks else "h"
    setattr(base, name, kept)
    try:
        truncated = copy.deepcopy(model)
    finally:
        setattr(base, name, blocks)
    cast(Any, truncated).config.num_hidden_layers = layer
    return truncated


class LMFeatureMap(TransformerMixin, BaseEstimator):
    """Texts -> pooled hidden states of a frozen causal LM (scikit-learn transformer).

    Parameters
    ----------
    model : a name in ``multisource.compress.models.MODELS`` (``"smollm2-135m"``, offline).
    layer : the block whose output is pooled, 1-based; negative counts from the last (-1: the last
        block, before the final norm).
    pooling : ``"mean"`` over the tokens or the ``"last"`` token.
    max_length : tokens kept per text.
    batch_size : texts per forward pass.
    cache_dir : folder of the feature cache (``lm_features.sqlite``); None computes every time.
    device : ``"auto"``, ``"cpu"`` or ``"cuda"``.
    compression : None for the dense encoder, or the arguments of
        :func:`multisource.compress.prune_model` for a compressed one, e.g.
        ``{"method": "sparsegpt", "sparsity": 0.5}`` or ``{"method": "wanda", "pattern": "2:4", "bits": 4}``
        (keys ``method``, ``sparsity``, ``pattern``, ``bits``, ``options``).
    n_calibration, calibration_length : windows and tokens per window of the calibration text.

    ``fit(texts)`` compresses a copy of the encoder one-shot, calibrated on ``texts`` (a trusted
    reference source, all sources, or the sources a first filtering pass kept: the caller
    chooses); only blocks ``1..layer`` are copied and compressed, as the later ones never run. With
    ``compression=None`` it only validates. ``transform`` returns (n, hidden) float32.

    Attributes
    ----------
    encoder_ : the compressed copy (None for the dense encoder); ``prune_report_`` its
        :class:`~multisource.compress.PruneReport` (``total_seconds`` is the compression time).
    calibration_id_ : hash of the set of calibration texts, part of :meth:`encoder_tag`.
    tokens_encoded_, encoding_seconds_ : tokens run through the encoder since ``fit`` (cache hits
        excluded) and the seconds it took, so ``tokens_encoded_ / encoding_seconds_`` is the throughput.
    """

    def __init__(
        self,
        model: str = "smollm2-135m",
        layer: int = -1,
        pooling: str = "mean",
        max_length: int = 64,
        batch_size: int = 32,
        cache_dir: str | Path | None = None,
        device: str = "auto",
        compression: dict[str, Any] | None = None,
        n_calibration: int = 8,
        calibration_length: int = 128,
    ) -> None:
        self.model = model
        self.layer = layer
        self.pooling = pooling
        self.max_length = max_length
        self.batch_size = batch_size
        self.cache_dir = cache_dir
        self.device = device
        self.compression = compression
        self.n_calibration = n_calibration
        self.calibration_length = calibration_length

    def encoder_tag(self) -> str:
        """What identifies these features in the cache: model, layer, pooling, truncation, compression."""
        tag = f"{self.model}|layer={self.layer}|pool={self.pooling}|max_length={self.max_length}"
        if self.compression is not None:
            tag += f"|compression={json.dumps(self.compression, sort_keys=True)}|calibration={self.calibration_id_}"
        return tag

    def fit(self, X: Sequence[str], y: object = None) -> LMFeatureMap:
        texts = self._check_texts(X)
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {self.pooling!r}")
        check_int("max_length", self.max_length, minimum=1)
        check_int("batch_size", self.batch_size, minimum=1)
        self.encoder_: nn.Module | None = None
        self.encoding_seconds_, self.tokens_encoded_ = 0.0, 0
        if self.compression is not None:
            self._compress(texts)
        return self

    def _compress(self, texts: list[str]) -> None:
        """Prune a copy of the dense encoder, calibrated on windows of ``texts`` (``compression``'s arguments)."""
        from multisource.compress import prune_model

        settings = dict(self.compression or {})
        unknown = set(settings) - set(COMPRESSION_KEYS)
        if unknown or "method" not in settings:
            raise ValueError(
                f"compression must be a dict with 'method' and optional {list(COMPRESSION_KEYS[1:])}, got {settings}"
            )
        dense, tokenizer = _load_encoder(self.model, str(resolve_device(self.device)))
        windows = calibration_from_texts(tokenizer, texts, self.n_calibration, self.calibration_length)
        self.calibration_id_ = calibration_id(texts)
        self.encoder_ = _truncated_copy(dense, check_layer(self.layer, len(_blocks(dense))))
        self.prune_report_ = prune_model(
            self.encoder_,
            windows,
            progress=False,
            device=self.device,
            calibration_name=f"{len(texts)} texts",
            **settings,
        )

    @staticmethod
    def _check_texts(X: Sequence[str]) -> list[str]:
        texts = list(X)
        bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
        if bad:
            raise TypeError(f"X must hold strings; entry {bad[0]} is {type(texts[bad[0]]).__name__}")
        return texts

    def transform(self, X: Sequence[str]) -> np.ndarray:
        texts = self._check_texts(X)
        if self.cache_dir is None:
            return self._encode(texts)
        cache = FeatureCache(Path(self.cache_dir) / "lm_features.sqlite")
        try:
            keys = [FeatureCache.key(self.encoder_tag(), t) for t in texts]
            found = cache.get(keys)
            missing = sorted({k: i for i, k in enumerate(keys) if k not in found}.values())
            if missing:
                vectors = self._encode([texts[i] for i in missing])
                cache.put([keys[i] for i in missing], vectors)
                found.update((keys[i], v) for i, v in zip(missing, vectors, strict=True))
            return np.stack([found[k] for k in keys]) if keys else np.zeros((0, 0), dtype=np.float32)
        finally:
            cache.close()

    def _encode(self, texts: list[str]) -> np.ndarray:
        model, tokenizer = _load_encoder(self.model, str(resolve_device(self.device)))
        compressed = getattr(self, "encoder_", None)
        if compressed is not None:
            model = compressed
        start = time.perf_counter()
        features = encode_texts(
            model,
            tokenizer,
            texts,
            layer=self.layer,
            pooling=self.pooling,
            max_length=self.max_length,
            batch_size=self.batch_size,
        )
        lengths = [len(row) for row in tokenizer(texts, add_special_tokens=False)["input_ids"]]
        self.encoding_seconds_ = getattr(self, "encoding_seconds_", 0.0) + time.perf_counter() - start
        self.tokens_encoded_ = getattr(self, "tokens_encoded_", 0) + int(np.minimum(lengths, self.max_length).sum())
        return features


def text_multisource(
    sources: TextSources, feature_map: LMFeatureMap, *, n_components: int | None = 32, standardize: bool = True
) -> MultiSourceDataset:
    """The sources as feature vectors of ``feature_map`` (fitted), projected and standardised on training rows.

    Training and test texts are encoded in one call, so the cache is read once. ``n_components``
    keeps the top principal components of the training features (None: all ``hidden`` of them): the
    label-flip ERM behind the discrepancy solves a (K d)-dimensional problem per pair, which at
    K = 8 classes and d = 576 would need a 4608 x 4608 Hessian for each of the N(N-1)/2 pairs.
    Every discrepancy, rule and learner then runs on the vectors as on any numeric data set.
    """
    features = feature_map.transform([*sources.texts, *sources.test_texts]).astype(np.float64)
    X, X_test = features[: len(sources.texts)], features[len(sources.texts) :]
    if n_components is not None:
        n_components = check_int("n_components", n_components, minimum=1, maximum=min(X.shape))
        pca = PCA(n_components=n_components, svd_solver="full").fit(X)
        X, X_test = pca.transform(X), pca.transform(X_test)
    if standardize:
        X, X_test = standardize_by_training(X, X_test)
    return MultiSourceDataset(
        X=X,
        y=sources.y,
        source=sources.source,
        X_test=X_test,
        y_test=sources.y_test,
        n_classes=sources.n_classes,
        n_sources=sources.n_sources,
        name=sources.name,
        classes=sources.class_names,
    )
