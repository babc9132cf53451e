"""Photos: copied into the photo folder with SHA-256, location data stripped, pixels kept; bad files refused."""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin
from sqlalchemy import select

from stampside.app.domain.timepoints import check_photo_gate
from stampside.app.domain.treatment_protocol import default_protocol
from stampside.app.storage import Database
from stampside.app.storage.courses import start_course
from stampside.app.storage.patients import NewPatient, create_patient
from stampside.app.storage.photos import (
    GPS_IFD,
    PHOTOS_ENV_VAR,
    PhotoError,
    clean_image,
    current_photos,
    default_photo_root,
    list_photos,
    photo_sha256,
    photos_with_sha256,
    register_photo,
    registered_views,
    verify_photo,
)
from stampside.app.storage.schema import Photo

from .conftest import Seeded

PROTOCOL = default_protocol()
NOW = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
MAKE, EXIF_IFD, DATE_ORIGINAL = 0x010F, 0x8769, 0x9003


def gps_exif() -> Image.Exif:
    exif = Image.Exif()
    exif[MAKE] = "ScalpCam"
    exif[GPS_IFD] = {1: "N", 2: (52.0, 31.0, 12.5), 3: "E", 4: (13.0, 24.0, 1.0)}
    exif.get_ifd(EXIF_IFD)[DATE_ORIGINAL] = "2026:11:02 09:12:00"
    return exif


def picture() -> Image.Image:
    image = Image.new("RGB", (64, 48))
    image.putdata([(x * 4 % 256, y * 5 % 256, (x * y) % 256) for y in range(48) for x in range(64)])
    return image


XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><exif:GPSLatitude>52,31.2N</exif:GPSLatitude></x:xmpmeta>'


def jpeg_with_gps(path: Path) -> Path:
    picture().save(path, "JPEG", quality=90, exif=gps_exif().tobytes(), xmp=XMP)
    return path


def png_with_gps(path: Path) -> Path:
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", XMP.decode())
    picture().save(path, "PNG", exif=gps_exif().tobytes(), pnginfo=info)
    return path


def register(clinic: Database, seeded: Seeded, src: Path, root: Path, view: str = "vertex", point: str = "baseline"):  # type: ignore[no-untyped-def]
    with clinic.Session.begin() as s:
        return register_photo(
            s,
            src,
            root=root,
            patient_id=seeded.patient_id,
            course_id=seeded.course_id,
            time_point=point,
            view=view,
            protocol=PROTOCOL,
            now=NOW,
            registered_by="Dr Ada",
        )


def test_a_jpeg_is_copied_with_its_sha256_and_without_its_location(
    clinic: Database, seeded: Seeded, tmp_path: Path
) -> None:
    src = jpeg_with_gps(tmp_path / "IMG_0001.JPG")
    original = src.read_bytes()
    assert Image.open(src).getexif().get_ifd(GPS_IFD)
    root = tmp_path / "photos"
    photo = register(clinic, seeded, src, root)
    stored = photo.path(root)
    assert stored.is_file() and stored.parent.is_relative_to(root)
    assert stored.suffix == ".jpg" and photo.media_type == "image/jpeg"
    assert photo.sha256 == hashlib.sha256(stored.read_bytes()).hexdigest()
    assert (photo.original_name, photo.width, photo.height) == ("IMG_0001.JPG", 64, 48)
    assert src.read_bytes() == original  # the original is never changed
    with Image.open(stored) as copy, Image.open(io.BytesIO(original)) as before:
        exif = copy.getexif()
        assert exif.get_ifd(GPS_IFD) == {}
        assert GPS_IFD not in exif
        assert exif[MAKE] == "ScalpCam"  # the rest of the EXIF stays
        assert exif.get_ifd(EXIF_IFD)[DATE_ORIGINAL] == "2026:11:02 09:12:00"
        assert "xmp" not in copy.info
        assert copy.tobytes() == before.tobytes()  # pixels exactly as they were
    assert b"GPSLatitude" not in stored.read_bytes()
    assert verify_photo(root, photo)
    with clinic.Session.begin() as s:
        row = s.scalars(select(Photo)).one()
        assert (row.time_point, row.view, row.sha256, row.registered_by) == (
            "baseline",
            "vertex",
            photo.sha256,
            "Dr Ada",
        )
        assert not Path(row.stored_path).is_absolute()


def test_a_png_loses_its_gps_and_xmp_but_keeps_its_pixels(tmp_path: Path) -> None:
    data = png_with_gps(tmp_path / "scalp.png").read_bytes()
    clean = clean_image(data, "scalp.png")
    assert clean.media_type == "image/png"
    with Image.open(io.BytesIO(clean.data)) as copy, Image.open(io.BytesIO(data)) as before:
        assert copy.getexif().get_ifd(GPS_IFD) == {}
        assert copy.getexif()[MAKE] == "ScalpCam"
        assert "XML:com.adobe.xmp" not in copy.info
        assert copy.tobytes() == before.tobytes()


def test_a_tiff_is_stored_losslessly_without_its_location(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    picture().save(buffer, "TIFF", exif=gps_exif().tobytes())
    assert Image.open(io.BytesIO(buffer.getvalue())).getexif().get_ifd(GPS_IFD)
    clean = clean_image(buffer.getvalue(), "scan.tif")
    with Image.open(io.BytesIO(clean.data)) as copy:
        assert copy.getexif().get_ifd(GPS_IFD) == {}
        assert copy.tobytes() == picture().tobytes()


def test_a_file_that_is_not_an_image_is_refused_with_a_clear_message(
    clinic: Database, seeded: Seeded, tmp_path: Path
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not a photo", encoding="utf-8")
    with pytest.raises(PhotoError) as caught:
        register(clinic, seeded, notes, tmp_path / "photos")
    assert str(caught.value).startswith("notes.txt: not a photo Stampside can register")
    assert "JPEG, PNG or TIFF" in str(caught.value)
    assert not (tmp_path / "photos").exists()
    with clinic.Session.begin() as s:
        assert list_photos(s) == []


def test_other_image_formats_missing_files_and_unknown_views_are_refused(
    clinic: Database, seeded: Seeded, tmp_path: Path
) -> None:
    gif = tmp_path / "anim.gif"
    picture().convert("P").save(gif, "GIF")
    with pytest.raises(PhotoError, match="a GIF image; register JPEG, PNG or TIFF"):
        register(clinic, seeded, gif, tmp_path / "photos")
    with pytest.raises(PhotoError, match="no such file"):
        register(clinic, seeded, tmp_path / "missing.jpg", tmp_path / "photos")
    src = jpeg_with_gps(tmp_path / "a.jpg")
    with pytest.raises(PhotoError, match="'crown' is not a view"):
        register(clinic, seeded, src, tmp_path / "photos", view="crown")
    with pytest.raises(PhotoError, match="'week_2' is not a photo time point"):
        register(clinic, seeded, src, tmp_path / "photos", point="week_2")


def test_a_damaged_jpeg_is_refused(tmp_path: Path) -> None:
    data = jpeg_with_gps(tmp_path / "a.jpg").read_bytes()
    with pytest.raises(PhotoError, match=r"broken\.jpg"):
        clean_image(data[: len(data) // 3], "broken.jpg")


def test_the_baseline_set_completes_view_by_view(clinic: Database, seeded: Seeded, tmp_path: Path) -> None:
    root = tmp_path / "photos"
    views = [v.id for v in PROTOCOL.photos.views]
    for view in views[:-1]:
        register(clinic, seeded, jpeg_with_gps(tmp_path / f"{view}.jpg"), root, view=view)
    with clinic.Session.begin() as s:
        assert not check_photo_gate(PROTOCOL, 1, registered_views(s, seeded.course_id)).ok
    register(clinic, seeded, jpeg_with_gps(tmp_path / "last.jpg"), root, view=views[-1])
    again = register(clinic, seeded, png_with_gps(tmp_path / "vertex-again.png"), root, view="vertex")
    with clinic.Session.begin() as s:
        assert check_photo_gate(PROTOCOL, 1, registered_views(s, seeded.course_id)).ok
        assert current_photos(s, seeded.course_id)[("baseline", "vertex")].id == again.id
        assert len(list_photos(s, course_id=seeded.course_id)) == len(views) + 1


def test_a_file_already_registered_in_the_course_is_found_by_its_sha256(
    clinic: Database, seeded: Seeded, tmp_path: Path
) -> None:
    root = tmp_path / "photos"
    src = jpeg_with_gps(tmp_path / "IMG_0001.JPG")
    first = register(clinic, seeded, src, root, view="vertex")
    again = register(clinic, seeded, src, root, view="frontal", point="after_session_6")
    other = register(clinic, seeded, png_with_gps(tmp_path / "other.png"), root, view="mid_scalp")
    # The same file under another name: the digest is the cleaned copy's, as stored.
    copy = tmp_path / "copy-of-IMG_0001.jpg"
    copy.write_bytes(src.read_bytes())
    digest = photo_sha256(copy)
    assert digest == first.sha256 != hashlib.sha256(src.read_bytes()).hexdigest()
    assert src.read_bytes() == copy.read_bytes(), "reading the digest changes nothing"
    # Another patient's course with the same file is not this course's.
    with clinic.Session.begin() as s:
        stranger = create_patient(s, NewPatient.parse("P-0043"), now=NOW)
        stranger_course = start_course(s, stranger.id, now=NOW)
        register_photo(
            s,
            copy,
            root=root,
            patient_id=stranger.id,
            course_id=stranger_course,
            time_point="baseline",
            view="vertex",
            protocol=PROTOCOL,
            now=NOW,
        )
    with clinic.Session.begin() as s:
        found = photos_with_sha256(s, seeded.course_id, digest)
        assert [(p.id, p.time_point, p.view) for p in found] == [
            (first.id, "baseline", "vertex"),
            (again.id, "after_session_6", "frontal"),
        ]
        assert photos_with_sha256(s, seeded.course_id, digest.upper()) == found
        assert [p.id for p in photos_with_sha256(s, seeded.course_id, other.sha256)] == [other.id]
        assert [p.course_id for p in photos_with_sha256(s, stranger_course, digest)] == [stranger_course]
        assert photos_with_sha256(s, seeded.course_id, "0" * 64) == []
    # A file that is not a photo, or is not there, is refused as registering would refuse it.
    (tmp_path / "notes.txt").write_text("not a photo")
    with pytest.raises(PhotoError, match=r"notes\.txt"):
        photo_sha256(tmp_path / "notes.txt")
    with pytest.raises(PhotoError, match="no such file"):
        photo_sha256(tmp_path / "missing.jpg")


def test_a_tampered_copy_fails_verification(clinic: Database, seeded: Seeded, tmp_path: Path) -> None:
    root = tmp_path / "photos"
    photo = register(clinic, seeded, jpeg_with_gps(tmp_path / "a.jpg"), root)
    photo.path(root).write_bytes(b"changed")
    assert not verify_photo(root, photo)


def test_the_photo_folder_defaults_next_to_a_sqlite_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PHOTOS_ENV_VAR, raising=False)
    assert default_photo_root(f"sqlite:///{tmp_path}/clinic.db") == tmp_path / "clinic-photos"
    assert default_photo_root("postgresql://clinic@db/stampside").name == "photos"
    monkeypatch.setenv(PHOTOS_ENV_VAR, str(tmp_path / "elsewhere"))
    assert default_photo_root(f"sqlite:///{tmp_path}/clinic.db") == tmp_path / "elsewhere"
