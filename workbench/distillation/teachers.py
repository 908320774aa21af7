"""Teachers: one trained baseline or an ensemble of them, and their logits cached.

A distillation epoch should cost only the student. The teacher is fixed, so its
logits are a function of the input alone: :class:`CachedTeacher` computes them
once for the transfer set and then answers a batch by looking each example up by
its exact bytes (any input it has not seen is run through the teacher, so the
cache can never hand out wrong logits)::

    >>> import torch
    >>> from workbench import models
    >>> X = torch.randn(6, 1, 28, 28)
    >>> teacher = CachedTeacher(models.build("lenet5"), X)
    >>> torch.equal(teacher(X[[4, 1]]), teacher.logits[[4, 1]]), teacher.misses
    (True, 0)

An ensemble's output here is the **mean of its members' logits**: at every
temperature ``T``, ``softmax(mean_k(z_k) / T)`` is the normalised geometric mean of
the members' softened distributions, so the ensemble is again one logit vector
that the KD loss and the temperature slider treat like any single teacher. The
other usual choice, the arithmetic mean of probabilities (``combine="probs"``,
returned as log-probabilities), is a mixture that depends on ``T``; at ``T = 1``
the two agree on nearly every test digit (the notebook measures it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from .._checks import check_choice, check_int, checked
from ..baselines import get_baseline
from ..train import predict

COMBINE = ("logits", "probs")

# teacher name -> the committed baselines it is made of (one: a single model; several: an ensemble)
TEACHERS: dict[str, tuple[str, ...]] = {
    "ensemble": ("vgg", "resnet", "lenet5"),
    "vgg": ("vgg",),
    "resnet": ("resnet",),
    "lenet5": ("lenet5",),
}


@checked
def ensemble_logits(logits: Sequence[Tensor], combine: str = "logits") -> Tensor:
    """Combine members' logits ``[(B, C), ...]`` into one ``(B, C)``: mean logits, or log of mean probabilities.

    >>> a, b = torch.tensor([[2.0, 0.0]]), torch.tensor([[0.0, 0.0]])
    >>> ensemble_logits([a, b])
    tensor([[1., 0.]])
    """
    check_choice("combine", combine, COMBINE)
    if len(logits) == 0:
        raise ValueError("logits must hold at least one member's logits")
    shapes = {tuple(z.shape) for z in logits}
    if len(shapes) != 1:
        raise ValueError(f"every member's logits must have the same shape, got {sorted(shapes)}")
    stacked = torch.stack(list(logits))                       # (K, B, C)
    if combine == "logits":
        return stacked.mean(0)
    return stacked.softmax(-1).mean(0).log()


@checked
class Ensemble(nn.Module):
    """Several trained models answering as one (see :func:`ensemble_logits`).

    >>> from workbench import models
    >>> Ensemble([models.build("lenet5"), models.build("lenet300")])(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 10])
    """

    def __init__(self, members: Sequence[nn.Module], combine: str = "logits"):
        super().__init__()
        if len(members) == 0:
            raise ValueError("members must hold at least one model")
        self.combine = check_choice("combine", combine, COMBINE)
        self.members = nn.ModuleList(members)

    def forward(self, x: Tensor) -> Tensor:  # (B, C, H, W) -> (B, classes)
        return ensemble_logits([m(x) for m in self.members], self.combine)


def load_teacher(name: str = "ensemble", *, combine: str = "logits") -> nn.Module:
    """The teacher ``name`` of :data:`TEACHERS`, built from the committed baselines, in eval mode.

    >>> load_teacher("vgg").config["name"]
    'vgg'
    """
    check_choice("name", name, TEACHERS, what="teacher")
    members = [get_baseline(m) for m in TEACHERS[name]]
    return members[0].eval() if len(members) == 1 else Ensemble(members, combine).eval()


def similar_classes(logits: Tensor, y: Tensor, temperature: float = 4.0, top: int = 5) -> list[tuple[int, int, float]]:
    """The ``top`` (true class, wrong class, mean probability) pairs of a teacher's softened outputs.

    The mean is over the examples of the true class: what the teacher finds each digit resembles.

    >>> similar_classes(torch.tensor([[2.0, 1.0, 0.0], [0.0, 2.0, 0.0]]), torch.tensor([0, 1]), 1.0, top=1)
    [(0, 1, 0.245)]
    """
    check_int("top", top, 1)
    p = torch.softmax(logits / temperature, dim=1)
    pairs = []
    for c in y.unique().tolist():
        mean = p[y == c].mean(0)
        pairs += [(c, w, round(float(mean[w]), 3)) for w in range(p.shape[1]) if w != c]
    return sorted(pairs, key=lambda t: -t[2])[:top]


def _keys(X: Tensor) -> list[bytes]:
    rows = X.detach().cpu().contiguous().flatten(1).numpy()  # (N, C*H*W)
    return [r.tobytes() for r in rows]


@checked(fits=("teacher", "X"))
class CachedTeacher:
    """A teacher's logits memoised by input: computed once for ``X``, then looked up.

    ``cached(X_batch)`` returns ``(B, classes)`` logits: rows seen before come from the
    cache (``hits``); unseen rows are run through the teacher (``misses``) and kept.
    """

    def __init__(self, teacher: nn.Module | Callable[[Tensor], Tensor], X: Tensor, *, batch_size: int = 500,
                 name: str = "", logits: Tensor | None = None):
        check_int("batch_size", batch_size, 1)
        if not isinstance(X, Tensor) or X.ndim < 2 or len(X) == 0:
            raise ValueError("X must be a non-empty tensor of inputs (N, ...)")
        if logits is not None and len(logits) != len(X):
            raise ValueError(f"logits must hold one row per input ({len(X)}), got {len(logits)}")
        self.teacher, self.batch_size, self.name = teacher, batch_size, name
        self.logits = self._run(X) if logits is None else logits  # (N, classes): teacher(X), computed once
        self._index: dict[bytes, int] = {}
        for i, key in enumerate(_keys(X)):
            self._index.setdefault(key, i)
        self.hits, self.misses = 0, 0

    def _run(self, X: Tensor) -> Tensor:
        if isinstance(self.teacher, nn.Module):
            return predict(self.teacher, X, batch_size=self.batch_size)
        with torch.inference_mode():
            return torch.cat([self.teacher(X[i:i + self.batch_size]) for i in range(0, len(X), self.batch_size)])

    def __len__(self) -> int:
        return len(self._index)

    def __call__(self, X: Tensor) -> Tensor:
        keys = _keys(X)
        idx = [self._index.get(k, -1) for k in keys]
        missing = [i for i, j in enumerate(idx) if j < 0]
        if missing:
            new = self._run(X[missing].cpu())
            start = len(self.logits)
            self.logits = torch.cat([self.logits, new])
            for n, i in enumerate(missing):
                self._index[keys[i]] = idx[i] = start + n
        self.misses += len(missing)
        self.hits += len(idx) - len(missing)
        return self.logits[torch.tensor(idx)].to(X.device)

    def __repr__(self) -> str:
        label = f"{self.name}: " if self.name else ""
        return f"CachedTeacher({label}{len(self):,} inputs cached, {self.hits:,} hits, {self.misses:,} misses)"


@checked
def cached_teachers(X: Tensor, names: Sequence[str] = tuple(TEACHERS), *, combine: str = "logits") -> dict[str, CachedTeacher]:
    """A :class:`CachedTeacher` on ``X`` for each teacher name; each baseline runs once, ensembles reuse it.

    >>> caches = cached_teachers(torch.zeros(3, 1, 28, 28), ["vgg", "ensemble"])
    >>> sorted(caches), caches["ensemble"].logits.shape
    (['ensemble', 'vgg'], torch.Size([3, 10]))
    """
    for name in names:
        check_choice("names", name, TEACHERS, what="teacher")
    members = {m: get_baseline(m) for name in names for m in TEACHERS[name]}
    logits = {m: predict(model, X) for m, model in members.items()}
    out = {}
    for name in names:
        parts = TEACHERS[name]
        model = members[parts[0]] if len(parts) == 1 else Ensemble([members[m] for m in parts], combine).eval()
        z = logits[parts[0]] if len(parts) == 1 else ensemble_logits([logits[m] for m in parts], combine)
        out[name] = CachedTeacher(model, X, logits=z, name=name)
    return out
