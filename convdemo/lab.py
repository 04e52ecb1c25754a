"""The lab: everything the window shows, in one evented object with undo, redo and reset.

No Qt here. Every widget of the window is a *view* of a :class:`Lab`: it draws what the lab
says, and a user's action changes the lab (never another widget). The lab then tells every
view what changed through :attr:`Lab.events` (a plain list of callbacks, in the manner of
napari's evented models).

The state is one frozen :class:`LabState`: the image and where it came from, the
:class:`convdemo.pipeline.Settings`, the chosen model and layer, the inspected pixel and
feature map, and the :class:`View`. A change replaces it with a new one. Changes a user
would want to take back (kernel cells, presets, controls, loaded filters, opened images,
the model) go on the undo history; navigation (the hovered pixel, the tab shown) does not.

The defaults live here and in ``pipeline.Settings``, nowhere else: the window, ``convdemo
apply``, state files and lessons all start from ``LabState()``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from convdemo import kernels
from convdemo.pipeline import CHANNEL_MODES, Settings, freeze_kernel

__all__ = [
    "CNN_INPUTS",
    "IMAGE_KINDS",
    "INPUT_CHANNELS",
    "LIVE_VIEWS",
    "TABS",
    "Change",
    "Events",
    "ImageSource",
    "Lab",
    "LabState",
    "View",
]

#: where an image can come from
IMAGE_KINDS = ("none", "sample", "file", "pasted", "dropped", "embedded", "drawn", "generated",
               "video", "camera")
#: the main area's tabs
TABS = ("live", "scan")
#: what the Live tab shows beside the input: the output, one RGB neuron (the R, G and B partial
#: maps and their sum), or the convolution beside its pooled map
LIVE_VIEWS = ("output", "neuron", "pool")
#: which plane of the input the input view shows
INPUT_CHANNELS = ("all", "R", "G", "B", "grey")
#: what the CNN panel looks at
CNN_INPUTS = ("photo", "draw")
#: scan speed limits, in steps per second
SCAN_SPEEDS = (0.5, 60.0)

#: fields of LabState that the undo history records
UNDOABLE = frozenset({"image", "source", "settings", "model", "layer", "kernel_source",
                      "channels_before_filter", "drawing"})
#: fields holding arrays (compared by identity)
_ARRAYS = ("image", "drawing")


@dataclass(frozen=True)
class ImageSource:
    """Where the lab's image came from.

    ``kind`` is one of :data:`IMAGE_KINDS`; ``path`` is the file's path (``file``) or the
    sample's file name (``sample``); ``name`` is what the title bar shows.
    """

    kind: str = "none"
    path: str = ""
    name: str = ""

    def __post_init__(self) -> None:
        if self.kind not in IMAGE_KINDS:
            raise ValueError(f"image source kind must be one of {', '.join(IMAGE_KINDS)}, "
                             f"not {self.kind!r}")


@dataclass(frozen=True)
class View:
    """How the lab is shown (not what is computed)."""

    tab: str = "live"
    live: str = "output"
    input_channel: str = "all"
    #: presets and learned filters may choose the display mode until the user picks one
    display_auto: bool = True
    cnn_input: str = "photo"
    scan_speed: float = 2.0

    def __post_init__(self) -> None:
        for name, allowed in (("tab", TABS), ("live", LIVE_VIEWS),
                              ("input_channel", INPUT_CHANNELS), ("cnn_input", CNN_INPUTS)):
            value = getattr(self, name)
            if value not in allowed:
                raise ValueError(f"view {name} must be one of {', '.join(allowed)}, "
                                 f"not {value!r}")
        if not isinstance(self.display_auto, bool):
            raise ValueError(f"view display_auto must be true or false, not "
                             f"{self.display_auto!r}")
        speed = self.scan_speed
        if isinstance(speed, bool) or not isinstance(speed, (int, float)) or \
                not SCAN_SPEEDS[0] <= speed <= SCAN_SPEEDS[1]:
            raise ValueError(f"view scan_speed must be {SCAN_SPEEDS[0]:g} to "
                             f"{SCAN_SPEEDS[1]:g} steps per second, not {speed!r}")


@dataclass(frozen=True)
class LabState:
    """Everything the lab shows, frozen.

    Attributes
    ----------
    image : numpy.ndarray or None
        float32 ``(H, W)`` or ``(H, W, 3)`` in 0..1, read-only (views and the background
        worker share it). Compared by identity, not by value.
    source : ImageSource
    settings : pipeline.Settings
    model : str
        A shipped model's name or the path of a model file.
    layer : str
        The CNN layer whose feature maps are shown.
    pixel : (int, int) or None
        The inspected convolution-output pixel (row, col).
    feature_map : int or None
        The inspected CNN feature map.
    view : View
    drawing : numpy.ndarray or None
        The CNN panel's drawing: float32 ``(H, W)`` in 0..1, white ink on black, read-only.
    kernel_source : str
        Where the kernel came from when it was not typed, e.g. "learned digits filter, run on
        grey" ("" for presets and typing).
    channels_before_filter : str or None
        The channel mode that "Use this filter" replaced with "gray"; a preset puts it back.
    """

    image: np.ndarray | None = field(default=None, compare=False, repr=False)
    source: ImageSource = ImageSource()
    settings: Settings = Settings()
    model: str = "digits"
    layer: str = "conv2d"
    pixel: tuple[int, int] | None = None
    feature_map: int | None = None
    view: View = View()
    kernel_source: str = ""
    channels_before_filter: str | None = None
    drawing: np.ndarray | None = field(default=None, compare=False, repr=False)

    def replace(self, **changes) -> LabState:
        return dataclasses.replace(self, **changes)

    def differs(self, other: LabState) -> frozenset[str]:
        """The names of the fields that differ (the image by identity)."""
        names = {f.name for f in dataclasses.fields(self)
                 if f.name not in _ARRAYS and getattr(self, f.name) != getattr(other, f.name)}
        names.update(n for n in _ARRAYS if getattr(self, n) is not getattr(other, n))
        return frozenset(names)

    @property
    def per_channel(self) -> bool:
        """Whether the kernel has one plane per input channel (one CNN neuron)."""
        return len(np.shape(self.settings.kernel)) == 3


@dataclass(frozen=True)
class Change:
    """What one change did, as the lab's event carries it.

    ``fields`` names the :class:`LabState` fields that changed; ``settings_fields`` the
    :class:`Settings` fields among them; ``kind`` is "edit", "undo", "redo", "reset" or
    "load"; ``description`` says it in words ("preset edge", "stride 2"); ``message`` is a
    sentence for the status bar, when the change has something to say.
    """

    old: LabState
    new: LabState
    fields: frozenset[str]
    settings_fields: frozenset[str]
    kind: str = "edit"
    description: str = ""
    message: str = ""


class Events:
    """A list of callbacks, each called with every :class:`Change`, in connection order."""

    def __init__(self) -> None:
        self._callbacks: list[Callable[[Change], None]] = []

    def connect(self, callback: Callable[[Change], None]) -> Callable[[Change], None]:
        self._callbacks.append(callback)
        return callback

    def disconnect(self, callback: Callable[[Change], None]) -> None:
        try:
            self._callbacks.remove(callback)
        except ValueError:
            pass

    def emit(self, change: Change) -> None:
        for callback in list(self._callbacks):
            callback(change)


@dataclass
class _Entry:
    before: LabState
    after: LabState
    description: str
    merge: str | None = None


def _settings_diff(a: Settings, b: Settings) -> frozenset[str]:
    return frozenset(f.name for f in dataclasses.fields(a) if getattr(a, f.name) !=
                     getattr(b, f.name))


def image_bytes(state: LabState) -> int:
    return 0 if state.image is None else int(state.image.nbytes)


class Lab:
    """The evented lab state with its undo history.

    Parameters
    ----------
    state : LabState, optional
        Where to start (default: ``LabState()``).
    history : int
        At most this many undo steps are kept.
    history_image_bytes : int
        Undo steps holding images other than the current one are dropped, oldest first, once
        those images take more than this many bytes (a 40 MP photo is 480 MB as float32).
    """

    def __init__(self, state: LabState | None = None, *, history: int = 200,
                 history_image_bytes: int = 1 << 30) -> None:
        self._state = state if state is not None else LabState()
        self._undo: list[_Entry] = []
        self._redo: list[_Entry] = []
        self._limit = history
        self._image_limit = history_image_bytes
        self.events = Events()

    # ----------------------------------------------------------------------- reading
    @property
    def state(self) -> LabState:
        return self._state

    @property
    def image(self) -> np.ndarray | None:
        return self._state.image

    @property
    def settings(self) -> Settings:
        return self._state.settings

    @property
    def view(self) -> View:
        return self._state.view

    def can_undo(self) -> bool:
        return bool(self._undo)

    def can_redo(self) -> bool:
        return bool(self._redo)

    def undo_description(self) -> str:
        return self._undo[-1].description if self._undo else ""

    def redo_description(self) -> str:
        return self._redo[-1].description if self._redo else ""

    # ----------------------------------------------------------------------- changing
    def change(self, description: str = "", *, merge: str | None = None, message: str = "",
               record: bool | None = None, kind: str = "edit", **fields) -> Change | None:
        """Replace some fields of the state; tell every view. Returns the change, or None
        when nothing changed.

        ``record`` puts the change on the undo history (default: when it touches an
        undoable field). Consecutive changes with the same ``merge`` key are one undo step
        (typing in one kernel cell, dragging a spin box).
        """
        if "settings" in fields:
            _check_settings(fields["settings"], fields.get("image", self._state.image))
        new = self._state.replace(**fields)
        return self._commit(new, description, merge=merge, message=message, record=record,
                            kind=kind)

    def set_settings(self, description: str = "", *, merge: str | None = None,
                     message: str = "", **fields) -> Change | None:
        """Change some :class:`Settings` fields (kernels may be arrays).

        A channel mode chosen here is the user's choice: a later preset no longer puts back
        the mode "Use this filter" replaced. A non-"sum" channel mode with a per-channel
        kernel keeps its first plane (one kernel for every channel).
        """
        settings = self._state.settings.replace(**fields)
        extra: dict = {}
        if "channels" in fields:
            extra["channels_before_filter"] = None
            if settings.channels != "sum" and np.ndim(settings.kernel) == 3:
                settings = settings.replace(kernel=np.asarray(settings.kernel)[:, :, 0])
                message = message or (f"Channels {settings.channels}: one kernel for every "
                                      "channel now (the R plane's); Ctrl+Z brings the three "
                                      "planes back.")
        if "kernel" in fields:
            extra["kernel_source"] = ""
        return self.change(description, merge=merge, message=message, settings=settings,
                           **extra)

    def set_image(self, image: np.ndarray, source: ImageSource, *,
                  message: str = "") -> Change | None:
        """A new image (float32 0..1, ``(H, W)`` or ``(H, W, 3)``); made read-only here.

        A per-channel kernel on a grey image keeps its first plane; the inspected pixel goes;
        the CNN panel looks at the new image (its Photo tab).
        """
        image, settings = self._fitted(image, "the lab's image")
        view = dataclasses.replace(self._state.view, cnn_input="photo")
        return self.change(f"open {source.name or source.kind}", image=image, source=source,
                           settings=settings, pixel=None, view=view, message=message)

    def set_frame(self, image: np.ndarray, source: ImageSource) -> Change | None:
        """A frame of a video or the camera: like :meth:`set_image`, but not recorded for
        undo (30 frames a second would fill the history) and the inspected pixel stays."""
        image, settings = self._fitted(image, "a frame")
        return self.change(f"frame of {source.name or source.kind}", image=image,
                           source=source, settings=settings, record=False)

    def _fitted(self, image, what: str):
        """``image`` checked and made read-only, and the settings fitted to it (a grey image
        takes a per-channel kernel's first plane)."""
        image = np.asarray(image)
        if image.dtype != np.float32 or image.ndim not in (2, 3) or \
                (image.ndim == 3 and image.shape[2] != 3) or 0 in image.shape[:2]:
            raise ValueError(f"{what} must be float32 (H, W) or (H, W, 3) with at least one "
                             f"pixel, not {image.dtype} {image.shape}")
        if image.flags.writeable:
            image = image.view()
            image.flags.writeable = False
        settings = self._state.settings
        if image.ndim == 2 and np.ndim(settings.kernel) == 3:
            settings = settings.replace(kernel=np.asarray(settings.kernel)[:, :, 0])
        return image, settings

    def set_view(self, **fields) -> Change | None:
        """Change how the lab is shown (not recorded for undo)."""
        return self.change("view", view=dataclasses.replace(self._state.view, **fields))

    def set_drawing(self, drawing: np.ndarray | None, description: str = "draw") -> \
            Change | None:
        """The CNN panel's drawing (float32 (H, W) in 0..1, or None for a cleared canvas)."""
        if drawing is not None:
            drawing = np.asarray(drawing)
            if drawing.dtype != np.float32 or drawing.ndim != 2:
                raise ValueError(f"a drawing must be float32 (H, W), not {drawing.dtype} "
                                 f"{drawing.shape}")
            if drawing.flags.writeable:
                drawing = drawing.view()
                drawing.flags.writeable = False
        return self.change(description, drawing=drawing)

    def inspect(self, pixel: tuple[int, int] | None) -> Change | None:
        """The hovered or chosen convolution-output pixel (not recorded for undo)."""
        pixel = None if pixel is None else (int(pixel[0]), int(pixel[1]))
        return self.change("inspect", pixel=pixel)

    # ------------------------------------------------------------------ lab actions
    def apply_preset(self, name: str) -> Change | None:
        """A preset gives exactly the lecture's result on the current image: its kernel,
        bias 0, flip off, and the channel mode from before "Use this filter" (if a filter
        switched it to grey). With per-channel kernels every plane gets the preset, and the
        change says so. Until the user picks a display, zero-sum presets show diverging.
        """
        if name not in kernels.PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose one of: "
                             f"{', '.join(kernels.PRESETS)}")
        state = self._state
        values = kernels.PRESETS[name].array()
        message = ""
        if state.per_channel:
            values = np.repeat(values[:, :, None], np.shape(state.settings.kernel)[2], axis=2)
            message = (f"{name} went into all three kernels (R, G and B) of the neuron; Ctrl+Z "
                       "brings the old ones back.")
        fields: dict = {"kernel": freeze_kernel(values), "bias": 0.0, "flip": False}
        if state.channels_before_filter is not None:
            fields["channels"] = state.channels_before_filter
        if state.view.display_auto:
            zero_sum = abs(float(kernels.PRESETS[name].array().sum())) < 1e-9
            fields["display"] = "diverging" if zero_sum else "clip"
        return self.change(f"preset {name}", message=message,
                           settings=state.settings.replace(**fields),
                           kernel_source="", channels_before_filter=None)

    def use_filter(self, kernel, bias: float, source: str) -> Change | None:
        """A learned 3x3 filter and its bias, run on the grey image (as the network saw its
        training images). The channel mode it replaces comes back with the next preset."""
        kernel = np.asarray(kernel, dtype=np.float64)
        if kernel.ndim != 2 or kernel.shape[0] != kernel.shape[1] or kernel.shape[0] % 2 == 0:
            raise ValueError(f"a learned filter must be a square of odd size, not "
                             f"{kernel.shape}")
        state = self._state
        fields: dict = {"kernel": freeze_kernel(kernel), "bias": float(bias), "flip": False,
                        "channels": "gray"}
        if state.view.display_auto:
            fields["display"] = "diverging"
        before = state.channels_before_filter
        if before is None and state.settings.channels != "gray":
            before = state.settings.channels
        return self.change(
            "use a learned filter", settings=state.settings.replace(**fields),
            kernel_source=source, channels_before_filter=before,
            message="Loaded the learned filter; it runs on the grey image, as the network saw "
                    "its training images. Turn on ReLU to see what the network passes on.")

    def set_per_channel(self, on: bool) -> Change | None:
        """Per-channel kernels (one CNN neuron: R, G and B each weighted, then summed)."""
        state = self._state
        if on == state.per_channel:
            return None
        k = np.asarray(state.settings.kernel, dtype=np.float64)
        if on:
            if state.image is not None and state.image.ndim != 3:
                raise ValueError("per-channel kernels need a colour image; this one is grey")
            settings = state.settings.replace(kernel=np.repeat(k[:, :, None], 3, axis=2),
                                              channels="sum")
            return self.change("per-channel kernels on", settings=settings,
                               channels_before_filter=None)
        same = all(np.array_equal(k[:, :, 0], k[:, :, i]) for i in range(1, k.shape[2]))
        message = "" if same else ("One kernel for every channel now (the R plane's); Ctrl+Z "
                                   "brings the G and B planes back.")
        return self.change("per-channel kernels off", message=message,
                           settings=state.settings.replace(kernel=k[:, :, 0]))

    def set_cell(self, row: int, col: int, value: float, plane: int | None = None) -> \
            Change | None:
        """One kernel weight (``plane`` for per-channel kernels); typing in one cell is one
        undo step."""
        k = np.array(self._state.settings.kernel, dtype=np.float64)
        if plane is None:
            k[row, col, ...] = value
        else:
            k[row, col, plane] = value
        return self.set_settings(f"kernel cell ({row}, {col})", kernel=k,
                                 merge=f"cell {plane} {row} {col}")

    def resize_kernel(self, size: int) -> Change | None:
        """Grow (zero-padding) or shrink (cropping) the kernel about its centre."""
        if size not in range(1, 16, 2):
            raise ValueError(f"kernel size must be odd, 1 to 15, not {size}")
        k = np.asarray(self._state.settings.kernel, dtype=np.float64)
        old = k.shape[0]
        if size >= old:
            p = (size - old) // 2
            widths = [(p, p), (p, p)] + [(0, 0)] * (k.ndim - 2)
            k = np.pad(k, widths)
        else:
            c = (old - size) // 2
            k = k[c : c + size, c : c + size]
        return self.set_settings(f"kernel {size}×{size}", kernel=k)

    def normalize(self) -> Change | None:
        """Divide every weight by the sum, so the sum becomes 1."""
        k = np.asarray(self._state.settings.kernel, dtype=np.float64)
        total = float(k.sum())
        if abs(total) < 1e-12:
            raise ValueError("the kernel's sum is 0, so Normalize cannot divide by it")
        return self.set_settings("normalize", kernel=k / total)

    def reset(self) -> Change | None:
        """Everything back to the defaults, except the image (one undo step)."""
        state = self._state
        fresh = LabState(image=state.image, source=state.source, drawing=state.drawing,
                         view=View(tab=state.view.tab))
        return self._commit(fresh, "reset to defaults", record=True, kind="reset",
                            message="Everything is back to the defaults (the image stays); "
                                    "Ctrl+Z undoes the reset.")

    def load(self, state: LabState, description: str = "open a lab") -> Change | None:
        """Replace the whole state (a state file, a lesson step); one undo step."""
        if state.image is not None and state.image.flags.writeable:
            image = state.image.view()
            image.flags.writeable = False
            state = state.replace(image=image)
        _check_settings(state.settings, state.image)
        return self._commit(state, description, record=True, kind="load")

    # ---------------------------------------------------------------------- history
    def undo(self) -> Change | None:
        if not self._undo:
            return None
        entry = self._undo.pop()
        self._redo.append(entry)
        return self._switch(entry.before, entry.after, "undo", entry.description)

    def redo(self) -> Change | None:
        if not self._redo:
            return None
        entry = self._redo.pop()
        self._undo.append(entry)
        return self._switch(entry.after, entry.before, "redo", entry.description)

    def clear_history(self) -> None:
        self._undo.clear()
        self._redo.clear()

    # ---------------------------------------------------------------------- internals
    def _switch(self, target: LabState, recorded: LabState, kind: str, description: str) \
            -> Change | None:
        # navigation (the view, the inspected pixel) is not history: keep today's
        current = self._state
        target = target.replace(view=current.view)
        if current.image is not recorded.image:
            # frames came (a video, the camera) since this step: the live picture stays
            target = target.replace(image=current.image, source=current.source)
        if target.image is current.image:
            target = target.replace(pixel=current.pixel)
        old, self._state = current, target
        change = Change(old, target, target.differs(old),
                        _settings_diff(old.settings, target.settings), kind,
                        description, f"{'Undid' if kind == 'undo' else 'Redid'}: {description}.")
        self.events.emit(change)
        return change

    def _commit(self, new: LabState, description: str, *, merge: str | None = None,
                message: str = "", record: bool | None = None, kind: str = "edit") \
            -> Change | None:
        old = self._state
        names = new.differs(old)
        if not names:
            return None
        if record is None:
            record = bool(names & UNDOABLE)
        if record:
            top = self._undo[-1] if self._undo else None
            if merge is not None and top is not None and top.merge == merge and not self._redo:
                top.after = new
            else:
                self._undo.append(_Entry(old, new, description, merge))
                self._trim()
            self._redo.clear()
        elif self._undo:
            # keep the history's "after" in step with navigation fields, so undo/redo never
            # resurrects an old view
            self._undo[-1].after = self._undo[-1].after.replace(view=new.view)
        self._state = new
        change = Change(old, new, names, _settings_diff(old.settings, new.settings), kind,
                        description, message)
        self.events.emit(change)
        return change

    def history_bytes(self) -> int:
        """Bytes of the images only the undo history holds (not the current one)."""
        current = self._state.image
        seen: dict[int, int] = {}
        for entry in self._undo + self._redo:
            for s in (entry.before, entry.after):
                if s.image is not None and s.image is not current:
                    seen[id(s.image)] = s.image.nbytes
        return sum(seen.values())

    def history_length(self) -> int:
        """Undo steps kept."""
        return len(self._undo)

    def _trim(self) -> None:
        del self._undo[:-self._limit]
        while len(self._undo) > 1 and self.history_bytes() > self._image_limit:
            del self._undo[0]


def _check_settings(settings: Settings, image) -> None:
    """A ValueError (one sentence) for settings the engine cannot run on any image."""
    if not isinstance(settings, Settings):
        raise ValueError(f"settings must be a pipeline.Settings, not {type(settings).__name__}")
    if settings.channels not in CHANNEL_MODES:
        raise ValueError(f"channels must be one of {', '.join(CHANNEL_MODES)}, not "
                         f"{settings.channels!r}")
    k = np.shape(settings.kernel)
    if len(k) == 3:
        if settings.channels != "sum":
            raise ValueError("per-channel kernels go with channels = sum (one neuron)")
        if image is not None and (image.ndim != 3 or image.shape[2] != k[2]):
            raise ValueError(f"a kernel with {k[2]} planes needs an image with {k[2]} "
                             "channels")
