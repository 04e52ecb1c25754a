"""Lab state files (``.convdemo``): a lab saved as versioned JSON, and read back checked.

The format (``version`` 1)::

    {
      "format": "convdemo-lab",
      "version": 1,
      "image": {"source": {"kind": "file", "path": "photos/cat.png", "name": "cat.png"},
                "png": "<base64 PNG>"},            # or "npy": "<base64 .npy>", or neither
      "drawing": {"png": "<base64 PNG>"},          # the CNN panel's drawing, if any
      "settings": {"kernel": [[0, -1, 0], [0, 1, 0], [0, 0, 0]], "stride": 1,
                   "padding": "valid", "border": "zeros", "channels": "separate",
                   "flip": false, "bias": 0.0, "dilation": 1, "transposed": false,
                   "output_padding": 0, "relu": false, "pool": "none", "pool_size": 2,
                   "pool_stride": null, "display": "diverging"},
      "model": "digits", "layer": "conv2d",
      "inspect": {"pixel": [3, 4], "feature_map": null},
      "view": {"tab": "live", "live": "output", "input_channel": "all",
               "display_auto": true, "cnn_input": "photo", "scan_speed": 2.0},
      "kernel_source": "", "channels_before_filter": null
    }

An image is embedded as an 8-bit PNG when that holds it exactly (every image loaded from an
ordinary 8-bit file), else as a float32 ``.npy``: a round trip reproduces the exact output.
A sample is referenced by name; a file by path (relative to the state file when it lies
beside or below it), with a clear message when it is missing and nothing is embedded.

Every value is checked on the way in. :func:`state_from_dict` either raises one sentence
(:class:`StateFileError`) or, with ``lenient=True`` (restoring the window's saved state),
drops each bad value with a note and keeps the default, so a damaged value can never stop the
window from starting.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import math
from pathlib import Path

import numpy as np
from PIL import Image

from convdemo import fileio, imaging, limits
from convdemo.lab import ImageSource, LabState, View
from convdemo.pipeline import CHANNEL_MODES, POOL_MODES, Settings, freeze_kernel

__all__ = [
    "FORMAT",
    "SUFFIX",
    "VERSION",
    "StateFileError",
    "decode_image",
    "encode_image",
    "load",
    "save",
    "settings_from_dict",
    "settings_to_dict",
    "state_from_dict",
    "state_to_dict",
]

FORMAT = "convdemo-lab"
VERSION = 1
SUFFIX = ".convdemo"
#: a state file larger than this is refused before it is read (an embedded 40 MP float32
#: image, base64-encoded, is about 640 MB)
MAX_FILE_BYTES = 1 << 30

_TOP_KEYS = {"format", "version", "image", "drawing", "settings", "model", "layer", "inspect",
             "view", "kernel_source", "channels_before_filter"}
_PADDINGS = ("valid", "same", "full")
_BORDERS = ("zeros", "reflect", "replicate", "wrap")


class StateFileError(ValueError):
    """A state file (or dict) that cannot be used; the text is one sentence."""


# ---------------------------------------------------------------------------- settings


def settings_to_dict(settings: Settings) -> dict:
    """Settings as plain JSON values (kernel as nested lists of floats)."""
    d = {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)}
    d["kernel"] = np.asarray(settings.kernel, dtype=np.float64).tolist()
    if isinstance(d["padding"], tuple):
        d["padding"] = list(d["padding"])
    return d


class _Notes:
    """Collects problems: raise at the first (strict) or note and carry on (lenient)."""

    def __init__(self, where: str, lenient: bool) -> None:
        self.where = where
        self.lenient = lenient
        self.items: list[str] = []

    def bad(self, text: str) -> None:
        """A value that cannot be used: an error, or (lenient) a note."""
        if not self.lenient:
            raise StateFileError(f"{self.where}: {text}")
        self.items.append(text)

    def note(self, text: str) -> None:
        """Something ignored (an unknown key): a note either way."""
        self.items.append(text)


def _int_in(value, name: str) -> int:
    lo, hi = limits.RANGES[name]
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(f"{name} must be a whole number from {lo} to {hi}, not {_show(value)}")
    return value


def _choice(value, name: str, allowed) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}, not {_show(value)}")
    return value


def _flag(value, name: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false, not {_show(value)}")
    return value


def _number(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            not math.isfinite(value) or abs(value) > limits.F32_MAX:
        raise ValueError(f"{name} must be a finite number, not {_show(value)}")
    return float(value)


def _kernel(value) -> tuple:
    if not isinstance(value, list) or not value:
        raise ValueError(f"kernel must be rows of numbers, not {_show(value)}")
    try:
        k = np.array(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError, RecursionError):
        raise ValueError("kernel must be rows of numbers of equal length") from None
    if k.dtype != np.float64 or k.ndim not in (2, 3):
        raise ValueError(f"kernel must be rows of numbers (2-D, or 3-D with one plane per "
                         f"channel), not an array of shape {k.shape}")
    side = limits.MAX_KERNEL_SIDE
    if not (1 <= k.shape[0] <= side and 1 <= k.shape[1] <= side):
        raise ValueError(f"kernel must be 1 to {side} cells on each side, not "
                         f"{k.shape[0]}x{k.shape[1]}")
    if k.ndim == 3 and k.shape[2] != 3:
        raise ValueError(f"a per-channel kernel must have 3 planes (R, G, B), not {k.shape[2]}")
    if not np.all(np.isfinite(k)) or np.abs(k).max() > limits.F32_MAX:
        raise ValueError("kernel weights must be finite numbers (no NaN or infinity)")
    return freeze_kernel(k)


def _padding(value):
    if isinstance(value, str):
        return _choice(value, "padding", _PADDINGS)
    return _int_in(value, "padding")


_SETTING_READERS = {
    "kernel": _kernel,
    "stride": lambda v: _int_in(v, "stride"),
    "padding": _padding,
    "border": lambda v: _choice(v, "border", _BORDERS),
    "channels": lambda v: _choice(v, "channels", CHANNEL_MODES),
    "flip": lambda v: _flag(v, "flip"),
    "bias": lambda v: _number(v, "bias"),
    "dilation": lambda v: _int_in(v, "dilation"),
    "transposed": lambda v: _flag(v, "transposed"),
    "output_padding": lambda v: _int_in(v, "output_padding"),
    "relu": lambda v: _flag(v, "relu"),
    "pool": lambda v: _choice(v, "pool", POOL_MODES),
    "pool_size": lambda v: _int_in(v, "pool_size"),
    "pool_stride": lambda v: None if v is None else _int_in(v, "pool_stride"),
    "display": lambda v: _choice(v, "display", imaging.DISPLAY_MODES),
}


def settings_from_dict(d, *, lenient: bool = False, where: str = "the settings",
                       notes: list[str] | None = None) -> Settings:
    """Settings from :func:`settings_to_dict`'s output, every value checked.

    Missing keys keep their defaults. Strict (default): the first bad value raises
    :class:`StateFileError`. ``lenient``: a bad value keeps its default and a sentence is
    appended to ``notes``.
    """
    col = _Notes(where, lenient)
    fields = _read_settings(d, col)
    if notes is not None:
        notes.extend(col.items)
    return Settings().replace(**fields)


def _read_settings(d, col: _Notes) -> dict:
    if not isinstance(d, dict):
        col.bad(f"settings must be an object, not {_show(d)}")
        return {}
    fields = {}
    for key, value in d.items():
        reader = _SETTING_READERS.get(key)
        if reader is None:
            col.note(f"ignored the unknown setting {str(key)[:40]!r}")
            continue
        try:
            fields[key] = reader(value)
        except ValueError as exc:
            col.bad(f"{exc} (the default is kept)" if col.lenient else str(exc))
    k = fields.get("kernel", Settings().kernel)
    channels = fields.get("channels", Settings().channels)
    if len(np.shape(k)) == 3 and channels != "sum":
        col.bad("a per-channel kernel needs channels = sum")
        fields["channels"] = "sum"
    return fields


# ---------------------------------------------------------------------------- images


def encode_image(image: np.ndarray) -> dict:
    """``{"png": base64}`` when an 8-bit PNG holds ``image`` exactly, else ``{"npy": ...}``."""
    a = np.asarray(image, dtype=np.float32)
    u8 = np.clip(np.rint(a * 255.0), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    if np.array_equal(u8.astype(np.float32) / 255.0, a):
        Image.fromarray(u8, "L" if a.ndim == 2 else "RGB").save(buf, format="PNG")
        return {"png": base64.b64encode(buf.getvalue()).decode("ascii")}
    np.save(buf, np.ascontiguousarray(a), allow_pickle=False)
    return {"npy": base64.b64encode(buf.getvalue()).decode("ascii")}


def decode_image(d: dict) -> np.ndarray:
    """The image of an :func:`encode_image` dict: float32 (H, W) or (H, W, 3) in 0..1."""
    try:
        if "png" in d:
            raw = base64.b64decode(str(d["png"]), validate=True)
            with Image.open(io.BytesIO(raw)) as im:
                return imaging.image_from_pil(im, max_pixels=limits.MAX_PIXELS).array
        if "npy" in d:
            raw = base64.b64decode(str(d["npy"]), validate=True)
            a = np.load(io.BytesIO(raw), allow_pickle=False)
            if a.dtype != np.float32 or a.ndim not in (2, 3) or \
                    (a.ndim == 3 and a.shape[2] != 3) or 0 in a.shape[:2]:
                raise ValueError(f"an array of {a.dtype} {a.shape}, not an image")
            if not np.all(np.isfinite(a)):
                raise ValueError("the image holds NaN or infinity")
            return np.ascontiguousarray(np.clip(a, 0.0, 1.0))
    except (ValueError, OSError, EOFError, SyntaxError) as exc:
        raise ValueError(f"the embedded image is damaged ({str(exc).strip() or 'unreadable'})") \
            from None
    raise ValueError("no image is embedded")


def _path_for(path: str, base_dir: Path | None) -> str:
    """``path`` relative to ``base_dir`` when it lies inside it, else absolute."""
    p = Path(path)
    if base_dir is not None:
        try:
            return Path(p.resolve()).relative_to(Path(base_dir).resolve()).as_posix()
        except (ValueError, OSError):
            pass
    return str(p.resolve()) if p.is_absolute() or base_dir is not None else str(p)


# ---------------------------------------------------------------------------- states


def state_to_dict(state: LabState, *, embed_image: bool = True,
                  base_dir: Path | None = None) -> dict:
    """The state as JSON values.

    ``embed_image``: put the image in the file (always, when it came from nowhere a path can
    name: pasted, dropped, drawn, a video frame). Samples are referenced by name. Paths are
    written relative to ``base_dir`` when the image lies inside it.
    """
    out: dict = {"format": FORMAT, "version": VERSION}
    if state.image is not None:
        src = state.source
        source = {"kind": src.kind, "path": src.path, "name": src.name}
        image: dict = {}
        if src.kind == "file" and src.path:
            source["path"] = _path_for(src.path, base_dir)
        if src.kind not in ("sample", "file") or (src.kind == "file" and embed_image):
            image.update(encode_image(state.image))
        if src.kind not in ("sample", "file"):
            source["kind"] = "embedded"
            source["path"] = ""
        image["source"] = source
        out["image"] = image
    if state.drawing is not None:
        out["drawing"] = encode_image(state.drawing)
    out["settings"] = settings_to_dict(state.settings)
    out["model"] = state.model
    out["layer"] = state.layer
    out["inspect"] = {"pixel": None if state.pixel is None else list(state.pixel),
                      "feature_map": state.feature_map}
    out["view"] = dataclasses.asdict(state.view)
    out["kernel_source"] = state.kernel_source
    out["channels_before_filter"] = state.channels_before_filter
    return out


def state_from_dict(d, *, base_dir: Path | None = None, lenient: bool = False,
                    where: str = "the lab state", load_image: bool = True) -> \
        tuple[LabState, list[str]]:
    """A :class:`LabState` from :func:`state_to_dict`'s output, and notes.

    Parameters
    ----------
    d : dict
    base_dir : Path, optional
        Folder that relative image paths are read from (the state file's folder).
    lenient : bool
        False: a bad value raises :class:`StateFileError` (one sentence). True: each bad value
        keeps its default and is described in the notes.
    where : str
        Starts each message ("lab.convdemo", "the saved window state").
    load_image : bool
        Read the referenced or embedded image (False: leave ``image`` None; the caller only
        wants the settings).

    Returns
    -------
    (LabState, list of str)
        The state, and sentences about what was ignored, dropped or missing.
    """
    col = _Notes(where, lenient)
    check_header(d, FORMAT, VERSION, where, "lab state", StateFileError)
    unknown = sorted(str(k) for k in d if k not in _TOP_KEYS)
    notes: list[str] = []
    if unknown:
        notes.append(f"ignored unknown entr{'y' if len(unknown) == 1 else 'ies'} "
                     f"{', '.join(repr(k) for k in unknown[:5])}")
    fields: dict = {}
    if "settings" in d:
        fields["settings"] = Settings().replace(**_read_settings(d["settings"], col))
    for key in ("model", "layer", "kernel_source"):
        if key in d:
            value = d[key]
            if isinstance(value, str) and len(value) <= 4096 and (value or key != "model"):
                fields[key] = value
            else:
                col.bad(f"{key} must be text, not {_show(value)}")
    if "channels_before_filter" in d:
        value = d["channels_before_filter"]
        if value is None or value in CHANNEL_MODES:
            fields["channels_before_filter"] = value
        else:
            col.bad(f"channels_before_filter must be a channel mode, not {_show(value)}")
    if "inspect" in d:
        fields.update(_read_inspect(d["inspect"], col))
    if "view" in d:
        fields["view"] = _read_view(d["view"], col)
    image_note = None
    if "image" in d and load_image:
        try:
            fields["image"], fields["source"], image_note = _read_image(d["image"], base_dir)
        except ValueError as exc:
            col.bad(str(exc))
    if "drawing" in d and load_image:
        try:
            drawing = decode_image(d["drawing"]) if isinstance(d["drawing"], dict) else None
            if drawing is None or drawing.ndim != 2:
                raise ValueError("the drawing must be an embedded grey image")
            fields["drawing"] = drawing
        except ValueError as exc:
            col.bad(str(exc))
    state = LabState(**fields)
    settings = state.settings
    if state.image is not None and state.image.ndim == 2 and np.ndim(settings.kernel) == 3:
        col.bad("a per-channel kernel needs a colour image; its R plane is used")
        state = state.replace(settings=settings.replace(kernel=np.asarray(settings.kernel)
                                                         [:, :, 0]))
    if image_note:
        notes.append(image_note)
    return state, notes + col.items


def check_header(d, fmt: str, version: int, where: str, what: str,
                 error: type[ValueError] = ValueError) -> None:
    """Raise ``error`` (one sentence) unless ``d`` is a JSON object of format ``fmt`` with a
    version from 1 to ``version`` (the one header check of lab states and lessons)."""
    if not isinstance(d, dict):
        raise error(f"{where}: is not a convdemo {what} (a JSON object)")
    if d.get("format") != fmt:
        raise error(f"{where}: is not a convdemo {what} (its format is "
                    f"{_show(d.get('format'))}, expected {fmt!r})")
    got = d.get("version")
    if isinstance(got, bool) or not isinstance(got, int) or got < 1:
        raise error(f"{where}: has no valid version number ({_show(got)})")
    if got > version:
        raise error(f"{where}: was written by a newer convdemo ({what} version {got}; "
                    f"this one reads version {version}); update convdemo")


def _read_inspect(d, col: _Notes) -> dict:
    out: dict = {}
    if not isinstance(d, dict):
        col.bad(f"inspect must be an object, not {_show(d)}")
        return out
    pixel = d.get("pixel")
    if pixel is None:
        out["pixel"] = None
    elif isinstance(pixel, list) and len(pixel) == 2 and all(
            isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 1 << 20 for v in pixel):
        out["pixel"] = (pixel[0], pixel[1])
    else:
        col.bad(f"the inspected pixel must be [row, col], not {_show(pixel)}")
    fmap = d.get("feature_map")
    if fmap is None or (isinstance(fmap, int) and not isinstance(fmap, bool)
                        and 0 <= fmap < 4096):
        out["feature_map"] = fmap
    else:
        col.bad(f"the inspected feature map must be a number, not {_show(fmap)}")
    return out


def _read_view(d, col: _Notes) -> View:
    if not isinstance(d, dict):
        col.bad(f"view must be an object, not {_show(d)}")
        return View()
    fields: dict = {}
    names = {f.name for f in dataclasses.fields(View)}
    for key, value in d.items():
        if key not in names:
            col.note(f"ignored the unknown view entry {str(key)[:40]!r}")
            continue
        try:
            View(**{key: value})
        except (ValueError, TypeError) as exc:
            col.bad(str(exc))
            continue
        fields[key] = value
    return View(**fields)


def _read_image(d, base_dir: Path | None) -> tuple[np.ndarray, ImageSource, str | None]:
    if not isinstance(d, dict):
        raise ValueError(f"image must be an object, not {_show(d)}")
    src = d.get("source", {})
    if not isinstance(src, dict):
        raise ValueError(f"the image's source must be an object, not {_show(src)}")
    kind, path, name = src.get("kind", "embedded"), src.get("path", ""), src.get("name", "")
    if not all(isinstance(v, str) and len(v) <= 4096 for v in (kind, path, name)):
        raise ValueError("the image's source must hold text (kind, path, name)")
    embedded = "png" in d or "npy" in d
    if kind == "sample":
        from convdemo import resources

        sample = resources.assets_dir() / "samples" / Path(path).name
        if not sample.is_file():
            raise ValueError(f"the sample photo {path!r} is not shipped with this convdemo")
        loaded = imaging.load_image(sample, max_pixels=limits.MAX_PIXELS)
        return loaded.array, ImageSource("sample", sample.name, name or sample.name), None
    if kind == "file":
        p = Path(path)
        if not p.is_absolute() and base_dir is not None:
            p = Path(base_dir) / p
        if p.is_file():
            loaded = imaging.load_image(p, max_pixels=limits.MAX_PIXELS)
            return loaded.array, ImageSource("file", str(p), name or p.name), None
        if embedded:
            return decode_image(d), ImageSource("file", str(p), name or p.name), (
                f"the image file {p} is missing; the copy saved in the lab is used")
        raise ValueError(f"the image file {p} is missing (and no copy is embedded); put it "
                         "back, or open the lab and choose another image")
    if kind in ("embedded", "pasted", "dropped", "drawn", "generated", "video", "camera") \
            and embedded:
        return decode_image(d), ImageSource("embedded", "", name or "saved image"), None
    raise ValueError(f"the image's source kind {kind!r} is unknown or has no image data")


# ---------------------------------------------------------------------------- files


def save(path, state: LabState, *, embed_image: bool = True) -> Path:
    """Write ``state`` to ``path`` (JSON, atomically); returns the path."""
    path = Path(path)
    d = state_to_dict(state, embed_image=embed_image, base_dir=path.parent.resolve())
    data = json.dumps(d, indent=1).encode("utf-8") + b"\n"
    return fileio.atomic_write(path, lambda fh: fh.write(data))


def read_json(path, *, what: str = "lab state", max_bytes: int = MAX_FILE_BYTES):
    """The JSON value in ``path``, size- and depth-checked; errors are one sentence."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > max_bytes:
            raise StateFileError(f"cannot open {p}: it is {size / 2**20:.0f} MB, too large for "
                                 f"a {what} file")
        text = p.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise StateFileError(f"cannot open {p}: no such file") from None
    except IsADirectoryError:
        raise StateFileError(f"cannot open {p}: it is a folder") from None
    except OSError as exc:
        raise StateFileError(f"cannot open {p}: {fileio.why(exc)}") from None
    except UnicodeDecodeError:
        raise StateFileError(f"cannot open {p}: it is not a {what} file (not UTF-8 text)") \
            from None
    try:
        return json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise StateFileError(f"cannot open {p}: its JSON is nested too deeply to be a {what}") \
            from None
    except (json.JSONDecodeError, ValueError) as exc:
        raise StateFileError(f"cannot open {p}: it is not a {what} file (not valid JSON: "
                             f"{str(exc).splitlines()[0]})") from None


def load(path) -> tuple[LabState, list[str]]:
    """Read a state file: the state (image loaded) and notes. One sentence on any problem."""
    p = Path(path)
    d = read_json(p)
    return state_from_dict(d, base_dir=p.parent, where=str(p))


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."

