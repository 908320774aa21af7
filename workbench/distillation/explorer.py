"""The distillation explorer: soft targets redrawn live, and short distillation runs behind a button.

``make_explorer(data)`` builds both parts from the same controls:

- moving **temperature** or **teacher** redraws the teacher's softened distributions
  for a few chosen digits at once (precomputed logits, bars updated in place: no
  training, no model runs);
- **run** distils the chosen student at the chosen temperature and alpha on the
  limited transfer set, with a progress bar and a live loss/accuracy curve, and adds
  the result to the explorer's plots and history (``reset`` clears them)::

    >>> from workbench import data
    >>> lab = make_explorer(data.load("digits"), teachers=("vgg",))
    >>> lab.explorer.controls["temperature"].value = 8.0
    >>> lab.view.temperature
    8.0
"""

from __future__ import annotations

import html
import time
import math
from collections.abc import Mapping, Sequence

import ipywidgets as widgets
import torch
from torch import Tensor

from .._checks import check_choice, check_int, check_number, checked
from ..explorer import Explorer
from ..widgets import Dropdown, Slider, error_html, panel_bundle, panel_text
from .experiments import STUDENTS, Recipe, build_student, distill, transfer_subset
from .losses import soften
from .teachers import TEACHERS, CachedTeacher, cached_teachers

WIDGET_RECIPE = Recipe(num_epochs=30)   # a short run: 30 passes over 350 digits (180 steps)


def pick_examples(logits: Tensor, y: Tensor, k: int = 6) -> Tensor:
    """Indices of ``k`` examples of distinct classes whose teacher gives its second choice the most weight.

    These show dark knowledge best: which wrong class the teacher finds similar.

    >>> pick_examples(torch.tensor([[3.0, 2.0], [5.0, 0.0], [0.0, 4.0]]), torch.tensor([0, 0, 1]), k=2).tolist()
    [0, 2]
    """
    check_int("k", k, 1, int(y.max()) + 1)
    p = logits.softmax(1)
    second = p.topk(2, dim=1).values[:, 1]
    chosen, seen = [], set()
    for i in second.argsort(descending=True).tolist():
        if int(y[i]) not in seen and int(logits[i].argmax()) == int(y[i]):
            chosen.append(i)
            seen.add(int(y[i]))
        if len(chosen) == k:
            break
    return torch.tensor(sorted(chosen))


def dark_knowledge(probs: Tensor, label: int, classes, top: int = 2) -> str:
    """The wrong classes a softened distribution ranks highest, e.g. ``'5 0.12, 8 0.04'``.

    >>> dark_knowledge(torch.tensor([0.7, 0.2, 0.1]), 0, ["a", "b", "c"])
    'b 0.20, c 0.10'
    """
    p = probs.clone()
    p[label] = -1.0
    idx = p.argsort(descending=True)[:top].tolist()
    return ", ".join(f"{classes[i]} {probs[i]:.2f}" for i in idx)


class SoftTargetView:
    """Bars of the teacher's softened distribution for a few digits; ``draw`` updates them in place.

    ``logits`` maps teacher name -> ``(k, classes)`` logits of the chosen digits.
    """

    def __init__(self, logits: dict[str, Tensor], images: Tensor, labels: Tensor, classes, *,
                 temperature: float = 4.0, teacher: str | None = None):
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots

        if not logits:
            raise ValueError("logits must hold at least one teacher's logits")
        self.logits, self.labels, self.classes = logits, labels, list(classes)
        self.k = len(labels)
        self.temperature, self.teacher = float(temperature), teacher or next(iter(logits))
        self.timings: list[float] = []            # seconds each redraw took
        fig = make_subplots(rows=2, cols=self.k, row_heights=[0.35, 0.65], vertical_spacing=0.12,
                            subplot_titles=[f"label {self.classes[int(c)]}" for c in labels] + [""] * self.k)
        for j in range(self.k):
            fig.add_trace(go.Heatmap(z=images[j].flip(0).tolist(), colorscale="Greys", showscale=False,
                                     hoverinfo="skip"), row=1, col=j + 1)
            fig.update_xaxes(visible=False, row=1, col=j + 1)
            fig.update_yaxes(visible=False, scaleanchor=f"x{j + 1}", row=1, col=j + 1)
        colors = [["crimson" if i == int(c) else "steelblue" for i in range(len(self.classes))] for c in labels]
        for j in range(self.k):
            fig.add_trace(go.Bar(x=self.classes, y=[0.0] * len(self.classes), marker_color=colors[j],
                                 showlegend=False, hovertemplate="class %{x}: %{y:.3f}<extra></extra>"),
                          row=2, col=j + 1)
            fig.update_yaxes(range=[0, 1], row=2, col=j + 1, showticklabels=j == 0)
            fig.update_xaxes(tickfont=dict(size=9), row=2, col=j + 1)
        fig.update_layout(height=330, autosize=True, margin=dict(l=40, r=20, t=60, b=30),
                          title="the teacher's soft targets (red: the true class)")
        self.figure = go.FigureWidget(fig)
        self.caption = widgets.HTML()
        self.widget = widgets.VBox([self.figure, self.caption])
        self.draw()

    def probs(self, temperature: float | None = None, teacher: str | None = None) -> Tensor:
        """The softened distributions ``(k, classes)`` at ``temperature`` for ``teacher``."""
        return soften(self.logits[teacher or self.teacher], self.temperature if temperature is None else temperature)

    def draw(self, temperature: float | None = None, teacher: str | None = None) -> None:
        """Redraw the bars (and the dark-knowledge line) for ``temperature`` and ``teacher``."""
        start = time.perf_counter()
        if temperature is not None:
            self.temperature = check_number("temperature", temperature, 0.0, 1e9, low_inclusive=False)
        if teacher is not None:
            if teacher not in self.logits:
                raise ValueError(f"unknown teacher {teacher!r}; teacher must be one of: {', '.join(self.logits)}")
            self.teacher = teacher
        p = self.probs()
        with self.figure.batch_update():
            for j in range(self.k):
                self.figure.data[self.k + j].y = p[j].tolist()
        entropy = -(p * p.clamp_min(1e-12).log2()).sum(1).mean().item()
        parts = [f"<b>{self.classes[int(c)]}</b>: {dark_knowledge(p[j], int(c), self.classes)}"
                 for j, c in enumerate(self.labels)]
        self.caption.value = (f"<small>{html.escape(self.teacher)} at T = {self.temperature:g} · mean entropy "
                              f"{entropy:.2f} bits · most similar wrong classes — " + " · ".join(parts) + "</small>")
        self.timings.append(time.perf_counter() - start)


class DistillationLab:
    """The soft-target view above a :class:`workbench.Explorer` that trains on "run"."""

    def __init__(self, view: SoftTargetView, explorer: Explorer, caches: dict, transfer):
        self.view, self.explorer, self.caches, self.transfer = view, explorer, caches, transfer
        self.panel = widgets.VBox([view.widget, explorer.panel])
        for name in ("temperature", "teacher"):
            explorer.controls[name].observe(self._redraw, names="value")

    def _redraw(self, change) -> None:
        controls = self.explorer.controls
        try:
            self.view.draw(controls["temperature"].value, controls["teacher"].value)
        except Exception as err:  # noqa: BLE001 - a widget callback must not die; show it in the panel
            self.explorer.errors.append(err)
            self.explorer.status.value = error_html(err)

    def _repr_mimebundle_(self, **kwargs):
        return panel_bundle(self.panel, panel_text("Distillation explorer"), **kwargs)


@checked(temperature=(0, math.inf, "()"))
def make_explorer(data, *, teachers: Sequence[str] = tuple(TEACHERS), students: Sequence[str] = tuple(STUDENTS),
                  per_class: int = 35,
                  recipe: Recipe = WIDGET_RECIPE, examples: int = 6, temperature: float = 4.0,
                  seed: int = 0, caches: Mapping[str, CachedTeacher] | None = None) -> DistillationLab:
    """The notebook's explorer: temperature and alpha sliders, teacher and student dropdowns, a run button.

    The student is distilled on ``per_class`` digits per class (the limited transfer
    set of the notebook) with ``recipe``; the baseline row is the first teacher.
    ``caches`` may pass teachers already cached (by ``cached_teachers``) to reuse them.
    """
    check_int("examples", examples, 1, data.num_classes)
    for name in teachers:
        check_choice("teachers", name, TEACHERS, what="teacher")
    for name in students:
        check_choice("students", name, STUDENTS, what="student")
    transfer = transfer_subset(data, per_class, seed=seed)
    if caches is None:
        caches = cached_teachers(transfer.X_train, list(teachers))
    else:
        missing = [t for t in teachers if t not in caches]
        if missing:
            raise ValueError(f"caches must hold every teacher of teachers, missing: {', '.join(missing)}")
        caches = {t: caches[t] for t in teachers}
        for cache in caches.values():
            cache(transfer.X_train)                 # computes any digit not cached yet (none, normally)
    first = next(iter(caches))
    idx = pick_examples(caches[first].logits, transfer.y_train, examples)
    images = data.denormalize(transfer.X_train[idx])[:, 0]                   # (k, H, W)
    view = SoftTargetView({n: c.logits[idx] for n, c in caches.items()}, images, transfer.y_train[idx],
                          data.classes, temperature=temperature, teacher=first)

    def run(model, temperature: float, alpha: float, teacher: str, student: str, monitor=None):
        net = build_student(student, seed)
        distill(net, transfer, caches[teacher], temperature=temperature, alpha=alpha, recipe=recipe, seed=seed,
                monitor=monitor)
        return net

    controls = {"temperature": Slider(1.0, 20.0, 1.0, value=float(temperature)),
                "alpha": Slider(0.0, 1.0, 0.1, value=0.9),
                "teacher": Dropdown(list(teachers), value=first),
                "student": Dropdown(list(students))}
    explorer = Explorer(run, controls, baseline=caches[first].teacher, data=data, run="button",
                        title=f"distilling on {len(transfer.y_train)} digits, {recipe.num_epochs} epochs "
                              f"(baseline: the {first} teacher)")
    return DistillationLab(view, explorer, caches, transfer)
