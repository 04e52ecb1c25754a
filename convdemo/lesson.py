"""Lessons: a sequence of saved lab states, each with a title and a caption (no Qt).

A lesson is what a teacher steps through in front of a class: each step is a whole lab state
(the image, the kernel and every setting, the model, the view), saved in the
:mod:`convdemo.statefile` format, plus a title and a few sentences of caption. The window
shows a step by loading its state; the class may change anything, and the next step starts
from its own saved state again.

The file is JSON, versioned (``version`` 1)::

    {
      "format": "convdemo-lesson",
      "version": 1,
      "title": "Convolution, from a photo to a CNN",
      "steps": [
        {"title": "A kernel is a small grid of weights",
         "caption": "Each output pixel is ...",
         "state": {"format": "convdemo-lab", "version": 1, ...}},
        ...
      ]
    }

The ``state`` of a step is exactly what :func:`convdemo.statefile.state_to_dict` writes;
this module passes it to :func:`convdemo.statefile.state_from_dict` and otherwise never
looks inside. Images of shipped samples are referenced by name (``{"kind": "sample",
"path": "chelsea.png"}``); other images are embedded, or referenced relative to the lesson's
folder. :func:`load` checks every step (including that its image can be read) and fails
with one sentence; :func:`save` writes atomically. Shipped lessons live in
``assets/lessons/`` and are found by name (``lecture``) with
:func:`convdemo.resources.lesson_path`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from convdemo import fileio, resources, statefile
from convdemo.lab import LabState

__all__ = [
    "FORMAT",
    "VERSION",
    "Lesson",
    "LessonError",
    "Step",
    "lesson_from_dict",
    "lesson_to_dict",
    "load",
    "save",
]

FORMAT = "convdemo-lesson"
VERSION = 1
#: a lesson file larger than this is refused before it is read (steps embed images)
MAX_FILE_BYTES = 256 << 20
MAX_STEPS = 500
MAX_TITLE = 200
MAX_CAPTION = 4000
_TOP_KEYS = {"format", "version", "title", "steps"}
_STEP_KEYS = {"title", "caption", "state"}


class LessonError(ValueError):
    """A lesson file (or dict) that cannot be used; the text is one sentence."""


@dataclass(frozen=True)
class Step:
    """One step: a title, a caption (a few sentences) and a lab state as
    :func:`convdemo.statefile.state_to_dict` writes it."""

    title: str
    caption: str
    state: dict = field(repr=False)

    @classmethod
    def from_state(cls, state: LabState, title: str, caption: str = "", *,
                   embed_image: bool = True, base_dir: Path | None = None) -> Step:
        """A step holding ``state`` ("Add this as a step"); see
        :func:`convdemo.statefile.state_to_dict` for ``embed_image`` and ``base_dir``."""
        _check_text(title, "a step's title", MAX_TITLE, empty=False)
        _check_text(caption, "a step's caption", MAX_CAPTION)
        return cls(title, caption, statefile.state_to_dict(state, embed_image=embed_image,
                                                           base_dir=base_dir))


@dataclass(frozen=True)
class Lesson:
    """A titled sequence of :class:`Step`. ``base_dir`` is the folder relative image paths
    are read from (the lesson file's folder)."""

    title: str
    steps: tuple[Step, ...]
    base_dir: Path | None = None

    def __len__(self) -> int:
        return len(self.steps)

    def lab_state(self, index: int) -> tuple[LabState, list[str]]:
        """Step ``index``'s (0-based) lab state, with its image loaded, and notes (e.g. a
        missing image file replaced by its embedded copy)."""
        if isinstance(index, bool) or not isinstance(index, int) or \
                not 0 <= index < len(self.steps):
            raise IndexError(f"this lesson has steps 1 to {len(self.steps)}, not {index!r} "
                             "(steps count from 0 here)")
        return statefile.state_from_dict(self.steps[index].state, base_dir=self.base_dir,
                                         where=f"{self.title}, step {index + 1}")

    def with_step(self, step: Step, at: int | None = None) -> Lesson:
        """A copy with ``step`` added at position ``at`` (the end by default)."""
        steps = list(self.steps)
        steps.insert(len(steps) if at is None else at, step)
        if len(steps) > MAX_STEPS:
            raise LessonError(f"a lesson holds at most {MAX_STEPS} steps")
        return replace(self, steps=tuple(steps))


def lesson_to_dict(lesson: Lesson) -> dict:
    """The lesson as JSON values."""
    return {"format": FORMAT, "version": VERSION, "title": lesson.title,
            "steps": [{"title": s.title, "caption": s.caption, "state": s.state}
                      for s in lesson.steps]}


def lesson_from_dict(d, *, where: str = "the lesson", base_dir: Path | None = None,
                     check_states: bool = True) -> Lesson:
    """A :class:`Lesson` from :func:`lesson_to_dict`'s output.

    Parameters
    ----------
    d : dict
    where : str
        Starts each message (the file's name).
    base_dir : Path, optional
        The folder relative image paths are read from.
    check_states : bool
        Read every step's state with :func:`convdemo.statefile.state_from_dict`, images
        included, so that a bad step fails now, naming its number.

    Raises
    ------
    LessonError
        One sentence naming what is wrong (and the step).
    """
    statefile.check_header(d, FORMAT, VERSION, where, "lesson", LessonError)
    _no_unknown(d, _TOP_KEYS, where, "a lesson holds format, version, title and steps")
    try:
        title = _check_text(d.get("title"), "its title", MAX_TITLE, empty=False)
    except ValueError as exc:
        raise LessonError(f"{where}: {exc}") from None
    raw = d.get("steps")
    if not isinstance(raw, list) or not raw:
        raise LessonError(f"{where}: its steps must be a non-empty list, not {_show(raw)}")
    if len(raw) > MAX_STEPS:
        raise LessonError(f"{where}: has {len(raw)} steps; a lesson holds at most {MAX_STEPS}")
    steps = []
    for i, s in enumerate(raw, start=1):
        at = f"{where}, step {i}"
        if not isinstance(s, dict):
            raise LessonError(f"{at}: must be an object with a title, a caption and a state, "
                              f"not {_show(s)}")
        _no_unknown(s, _STEP_KEYS, at, "a step holds title, caption and state")
        try:
            step_title = _check_text(s.get("title"), "its title", MAX_TITLE, empty=False)
            caption = _check_text(s.get("caption", ""), "its caption", MAX_CAPTION)
        except ValueError as exc:
            raise LessonError(f"{at}: {exc}") from None
        state = s.get("state")
        if not isinstance(state, dict):
            raise LessonError(f"{at}: has no lab state (an object saved by convdemo)")
        if check_states:
            try:
                statefile.state_from_dict(state, base_dir=base_dir, where=at)
            except ValueError as exc:  # StateFileError, or an image that cannot be read
                text = str(exc)
                raise LessonError(text if text.startswith(at) else f"{at}: {text}") from None
        steps.append(Step(step_title, caption, state))
    return Lesson(title, tuple(steps), base_dir)


def load(name_or_path) -> Lesson:
    """Read a lesson: a shipped one by name (``"lecture"``) or a file by path. Every step is
    checked; any problem is one sentence (:class:`LessonError`)."""
    try:
        path = resources.lesson_path(name_or_path)
    except (FileNotFoundError, ValueError) as exc:
        raise LessonError(str(exc)) from None
    try:
        d = statefile.read_json(path, what="lesson", max_bytes=MAX_FILE_BYTES)
    except statefile.StateFileError as exc:
        raise LessonError(str(exc)) from None
    return lesson_from_dict(d, where=str(path), base_dir=path.parent)


def save(path, lesson: Lesson) -> Path:
    """Write ``lesson`` to ``path`` as JSON, atomically; returns the path."""
    text = json.dumps(lesson_to_dict(lesson), indent=1, ensure_ascii=False)
    # rows of numbers (kernel rows, the inspected pixel) on one line each, for a reader
    text = re.sub(r"\[\s*(-?[0-9][-0-9.eE+]*(?:,\s*-?[0-9][-0-9.eE+]*)*)\s*\]",
                  lambda m: "[" + ", ".join(v.strip() for v in m.group(1).split(",")) + "]",
                  text)
    data = text.encode("utf-8") + b"\n"
    return fileio.atomic_write(Path(path), lambda fh: fh.write(data))


def _no_unknown(d: dict, allowed: set, where: str, holds: str) -> None:
    unknown = sorted(str(k) for k in d if k not in allowed)
    if unknown:
        raise LessonError(f"{where}: has an unknown entry {unknown[0][:40]!r} ({holds})")


def _check_text(value, what: str, limit: int, empty: bool = True) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{what} must be text, not {_show(value)}")
    if not empty and not value.strip():
        raise ValueError(f"{what} is empty")
    if len(value) > limit:
        raise ValueError(f"{what} is {len(value)} characters long; at most {limit} are allowed")
    return value


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
