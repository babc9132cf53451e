"""Photos: register a file for a time point and a view, as a cleaned copy in the clinic's photo folder.

:func:`register_photo` reads the file, refuses anything that is not a JPEG, PNG or TIFF
image Pillow can decode (with a message that names the file and says what to do), strips
location data, writes the cleaned copy into the photo folder (0600, in the patient's folders
0700: :mod:`stampside.app.storage.private_files`) and stores its SHA-256 with the time point, the view,
the original file name and the image size. The original file is never changed.

Location stripping keeps the pixels exactly (checked by decoding both and comparing):

- JPEG: the segments are rewritten without decoding the image: the EXIF block loses its GPS
  directory (camera, time and orientation stay), and XMP and IPTC/Photoshop blocks (which can
  carry a location too) are dropped. The compressed image data is copied byte for byte.
- PNG: the ``eXIf`` chunk loses its GPS directory; text chunks (where XMP and raw EXIF
  profiles live) are dropped; image chunks are copied byte for byte.
- TIFF: re-saved losslessly by Pillow with no metadata but resolution and colour profile.

The photo folder is the ``root`` passed in; :func:`default_photo_root` picks
``$STAMPSIDE_PHOTOS``, else a ``<db name>-photos`` folder next to a SQLite database file,
else ``photos`` in the user data dir; it is created 0700 when missing and otherwise left as
the clinic set it. Stored paths are relative to the root (forward slashes), so the folder can
move with the database.
"""

from __future__ import annotations

import hashlib
import io
import os
import struct
import zlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath

import platformdirs
from PIL import Image, UnidentifiedImageError
from sqlalchemy import select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session

from stampside.app.domain.treatment_protocol import TreatmentProtocol
from stampside.app.storage.location import APP_NAME
from stampside.app.storage.private_files import make_private_folder, write_private_bytes
from stampside.app.storage.schema import Course, Patient, Photo

__all__ = [
    "MAX_PHOTO_BYTES",
    "PHOTOS_ENV_VAR",
    "CleanImage",
    "PhotoError",
    "PhotoView",
    "clean_image",
    "current_photos",
    "default_photo_root",
    "get_photo",
    "list_photos",
    "photo_sha256",
    "photos_with_sha256",
    "register_photo",
    "registered_views",
    "verify_photo",
]

#: The environment variable that names the photo folder.
PHOTOS_ENV_VAR = "STAMPSIDE_PHOTOS"
#: Larger files are refused (a scalp photo is a few MB).
MAX_PHOTO_BYTES = 100 * 1024 * 1024
GPS_IFD = 0x8825

_FORMATS = {"JPEG": ("image/jpeg", ".jpg"), "PNG": ("image/png", ".png"), "TIFF": ("image/tiff", ".tif")}


class PhotoError(ValueError):
    """A photo cannot be registered; the message names the file and says what to do."""


def default_photo_root(database_url: str | URL | None = None) -> Path:
    """Where photos go: ``$STAMPSIDE_PHOTOS``, else next to a SQLite file, else the user data dir."""
    from_env = os.environ.get(PHOTOS_ENV_VAR, "").strip()
    if from_env:
        return Path(from_env).expanduser().absolute()
    if database_url is not None:
        url = make_url(database_url) if isinstance(database_url, str) else database_url
        if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
            db = Path(url.database).expanduser().absolute()
            return db.with_name(f"{db.stem}-photos")
    return platformdirs.user_data_path(APP_NAME, appauthor=False) / "photos"


# --- cleaning --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CleanImage:
    """An image's bytes with location data removed, and what it is."""

    data: bytes
    format: str  # JPEG, PNG or TIFF
    media_type: str
    extension: str
    width: int
    height: int


def _open(data: bytes, name: str) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError) as exc:
        detail = str(exc) if isinstance(exc, Image.DecompressionBombError) else "it is not an image Pillow can read"
        raise PhotoError(
            f"{name}: not a photo Stampside can register ({detail}); choose a JPEG, PNG or TIFF file"
        ) from None
    return image


def _exif_without_gps(raw: bytes) -> bytes | None:
    """EXIF (``Exif\\0\\0`` + TIFF) without its GPS directory; ``None`` when it cannot be read (drop it)."""
    try:
        exif = Image.Exif()
        exif.load(raw)
        if GPS_IFD in exif:
            del exif[GPS_IFD]
        return exif.tobytes()
    except Exception:  # a damaged EXIF block is dropped whole rather than kept with a location
        return None


def _clean_jpeg(data: bytes) -> bytes:
    if data[:2] != b"\xff\xd8":
        raise ValueError("no JPEG start marker")
    out = bytearray(data[:2])
    pos = 2
    while pos < len(data):
        if data[pos] != 0xFF:
            raise ValueError("JPEG segment expected")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xDA or marker == 0xD9:  # start of scan (or end): the rest is image data
            out += data[pos:]
            return bytes(out)
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            out += data[pos : pos + 2]
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        payload = data[pos + 4 : pos + 2 + length]
        segment_end = pos + 2 + length
        if marker == 0xE1 and payload.startswith(b"Exif\x00\x00"):
            cleaned = _exif_without_gps(payload)
            if cleaned is not None and len(cleaned) + 2 <= 0xFFFF:
                out += b"\xff\xe1" + struct.pack(">H", len(cleaned) + 2) + cleaned
        elif marker == 0xE1 or marker == 0xED:  # XMP and other APP1; IPTC/Photoshop APP13
            pass
        else:
            out += data[pos:segment_end]
        pos = segment_end
    raise ValueError("JPEG ends before its image data")


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_TEXT = {b"tEXt", b"zTXt", b"iTXt"}


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _clean_png(data: bytes) -> bytes:
    if not data.startswith(_PNG_SIGNATURE):
        raise ValueError("no PNG signature")
    out = bytearray(_PNG_SIGNATURE)
    pos = len(_PNG_SIGNATURE)
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        payload = data[pos + 8 : pos + 8 + length]
        end = pos + 12 + length
        if kind == b"eXIf":
            cleaned = _exif_without_gps(b"Exif\x00\x00" + payload)
            if cleaned is not None:
                out += _png_chunk(kind, cleaned.removeprefix(b"Exif\x00\x00"))
        elif kind not in _PNG_TEXT:
            out += data[pos:end]
        pos = end
        if kind == b"IEND":
            break
    return bytes(out)


def _clean_tiff(image: Image.Image) -> bytes:
    if getattr(image, "n_frames", 1) > 1:
        raise PhotoError("multi-page TIFF")
    keep = {}
    for key in ("dpi", "icc_profile"):
        if key in image.info:
            keep[key] = image.info[key]
    buffer = io.BytesIO()
    image.save(buffer, format="TIFF", compression="tiff_lzw", **keep)
    return buffer.getvalue()


def _has_gps(image: Image.Image) -> bool:
    return bool(image.getexif().get_ifd(GPS_IFD))


def clean_image(data: bytes, name: str = "photo") -> CleanImage:
    """``data`` with location metadata removed and pixels unchanged; :class:`PhotoError` if it cannot be.

    ``name`` is the file name used in messages.
    """
    image = _open(data, name)
    kind = image.format or ""
    if kind not in _FORMATS:
        raise PhotoError(f"{name}: a {kind or 'unknown'} image; register JPEG, PNG or TIFF photos (export it as JPEG)")
    try:
        if kind == "JPEG":
            cleaned = _clean_jpeg(data)
        elif kind == "PNG":
            cleaned = _clean_png(data)
        else:
            cleaned = _clean_tiff(image)
    except PhotoError as exc:
        raise PhotoError(f"{name}: {exc} is not supported; export the page as JPEG or PNG") from None
    except (ValueError, struct.error) as exc:
        raise PhotoError(f"{name}: the {kind} file is damaged ({exc}); export it again from the camera") from None
    stored = _open(cleaned, name)
    if stored.size != image.size or stored.mode != image.mode or stored.tobytes() != image.tobytes():
        raise PhotoError(f"{name}: removing the location would change the image; export it as JPEG or PNG")
    if _has_gps(stored):
        raise PhotoError(f"{name}: the location could not be removed; export it without location data")
    media_type, extension = _FORMATS[kind]
    return CleanImage(cleaned, kind, media_type, extension, image.width, image.height)


# --- registering ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PhotoView:
    """A registered photo; ``stored_path`` is relative to the photo folder."""

    id: int
    patient_id: int
    course_id: int | None
    time_point: str
    view: str
    stored_path: str
    sha256: str
    original_name: str
    media_type: str
    width: int
    height: int
    size_bytes: int
    taken_at: datetime | None
    registered_at: datetime
    registered_by: str | None

    def path(self, root: Path) -> Path:
        """The stored copy's full path under ``root``."""
        return root.joinpath(*PurePosixPath(self.stored_path).parts)


def _view(row: Photo) -> PhotoView:
    return PhotoView(
        id=row.id,
        patient_id=row.patient_id,
        course_id=row.course_id,
        time_point=row.time_point,
        view=row.view,
        stored_path=row.stored_path,
        sha256=row.sha256,
        original_name=row.original_name,
        media_type=row.media_type,
        width=row.width,
        height=row.height,
        size_bytes=row.size_bytes,
        taken_at=row.taken_at,
        registered_at=row.registered_at,
        registered_by=row.registered_by,
    )


def _read_clean(src: Path) -> CleanImage:
    """The photo file at ``src``, read and cleaned; :class:`PhotoError` naming the file when it cannot be."""
    name = src.name or str(src)
    try:
        size = src.stat().st_size
        if size > MAX_PHOTO_BYTES:
            raise PhotoError(f"{name}: {size / 1e6:.0f} MB is too big (at most {MAX_PHOTO_BYTES / 1e6:.0f} MB)")
        data = src.read_bytes()
    except IsADirectoryError:
        raise PhotoError(f"{src}: is a folder; choose a photo file") from None
    except FileNotFoundError:
        raise PhotoError(f"{src}: no such file; check the path") from None
    except PermissionError:
        raise PhotoError(f"{src}: cannot be read (permission denied)") from None
    except OSError as exc:
        raise PhotoError(f"{src}: cannot be read ({exc.strerror or exc})") from None
    return clean_image(data, name)


def photo_sha256(src_path: Path | str) -> str:
    """The SHA-256 the photo at ``src_path`` would be registered with (that of its cleaned copy).

    Raises :class:`PhotoError`, like :func:`register_photo`, for a file that cannot be registered.
    """
    return hashlib.sha256(_read_clean(Path(src_path).expanduser()).data).hexdigest()


def register_photo(
    session: Session,
    src_path: Path | str,
    *,
    root: Path,
    patient_id: int,
    course_id: int | None,
    time_point: str,
    view: str,
    protocol: TreatmentProtocol,
    now: datetime,
    registered_by: str | None = None,
    taken_at: datetime | None = None,
) -> PhotoView:
    """Copy ``src_path`` (cleaned of location data) into ``root`` and record it for the time point and view.

    A later photo of the same course, time point and view supersedes the earlier one
    (:func:`current_photos`); both stay stored. Raises :class:`PhotoError` with a message for a
    person when the file is missing, too big, not a supported image, or the time point or view
    is not the protocol's.
    """
    src = Path(src_path).expanduser()
    name = src.name or str(src)
    try:
        point = protocol.photos.time_point(time_point)
    except KeyError:
        known = ", ".join(p.id for p in protocol.photos.time_points)
        raise PhotoError(f"{time_point!r} is not a photo time point of the protocol ({known})") from None
    if view not in protocol.photos.views_for(point):
        known = ", ".join(protocol.photos.views_for(point))
        raise PhotoError(f"{view!r} is not a view of the {point.label} set ({known})")
    patient = session.get(Patient, patient_id)
    if patient is None:
        raise PhotoError(f"no patient with id {patient_id}")
    if course_id is not None:
        course = session.get(Course, course_id)
        if course is None or course.patient_id != patient_id:
            raise PhotoError(f"course {course_id} is not a course of patient {patient.code}")
    clean = _read_clean(src)
    digest = hashlib.sha256(clean.data).hexdigest()
    folder = PurePosixPath(patient.code, f"course-{course_id}" if course_id is not None else "no-course", point.id)
    relative = folder / f"{view}-{digest[:16]}{clean.extension}"
    target = root.joinpath(*relative.parts)
    try:
        make_private_folder(root, own=False)
        for depth in range(1, len(folder.parts) + 1):  # the patient's folders are the app's: 0700
            make_private_folder(root.joinpath(*folder.parts[:depth]))
        if not (target.exists() and hashlib.sha256(target.read_bytes()).hexdigest() == digest):
            write_private_bytes(target, clean.data)
    except OSError as exc:
        raise PhotoError(
            f"cannot write the photo into {root}: {exc.strerror or exc}; check the folder or set {PHOTOS_ENV_VAR}"
        ) from None
    row = Photo(
        patient_id=patient_id,
        course_id=course_id,
        time_point=point.id,
        view=view,
        stored_path=str(relative),
        sha256=digest,
        original_name=name[:255],
        media_type=clean.media_type,
        width=clean.width,
        height=clean.height,
        size_bytes=len(clean.data),
        taken_at=taken_at,
        registered_at=now,
        registered_by=(registered_by or "").strip() or None,
    )
    session.add(row)
    session.flush()
    return _view(row)


def get_photo(session: Session, photo_id: int) -> PhotoView:
    row = session.get(Photo, photo_id)
    if row is None:
        raise PhotoError(f"no photo with id {photo_id}")
    return _view(row)


def list_photos(
    session: Session,
    *,
    course_id: int | None = None,
    patient_id: int | None = None,
    time_point: str | None = None,
) -> list[PhotoView]:
    """Registered photos, oldest first, filtered by course, patient and time point."""
    query = select(Photo).order_by(Photo.registered_at, Photo.id)
    if course_id is not None:
        query = query.where(Photo.course_id == course_id)
    if patient_id is not None:
        query = query.where(Photo.patient_id == patient_id)
    if time_point is not None:
        query = query.where(Photo.time_point == time_point)
    return [_view(row) for row in session.scalars(query)]


def photos_with_sha256(session: Session, course_id: int, sha256: str) -> list[PhotoView]:
    """The photos of a course stored with this SHA-256 (any time point and view, superseded ones too), oldest first.

    With :func:`photo_sha256` it tells whether a file is already registered before it is registered again.
    """
    query = (
        select(Photo)
        .where(Photo.course_id == course_id, Photo.sha256 == sha256.strip().lower())
        .order_by(Photo.registered_at, Photo.id)
    )
    return [_view(row) for row in session.scalars(query)]


def current_photos(session: Session, course_id: int) -> dict[tuple[str, str], PhotoView]:
    """The newest photo of each (time point, view) of a course."""
    current: dict[tuple[str, str], PhotoView] = {}
    for photo in list_photos(session, course_id=course_id):
        current[(photo.time_point, photo.view)] = photo
    return current


def registered_views(session: Session, course_id: int) -> dict[str, set[str]]:
    """The views registered per time point of a course (for :mod:`stampside.app.domain.timepoints`)."""
    views: dict[str, set[str]] = {}
    for time_point, view in current_photos(session, course_id):
        views.setdefault(time_point, set()).add(view)
    return views


def verify_photo(root: Path, photo: PhotoView) -> bool:
    """Whether the stored copy is there and still has the SHA-256 recorded for it."""
    try:
        return hashlib.sha256(photo.path(root).read_bytes()).hexdigest() == photo.sha256
    except OSError:
        return False
