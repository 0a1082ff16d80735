"""Checks on an uploaded file before it becomes a job: name, type (by content), completeness.

Each check raises :class:`UploadRejected` with the HTTP status for the page and one line saying
what is wrong with the file and what to do.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path
from typing import BinaryIO

#: Containers the pipeline reads (what an NLE exports for a rough cut).
VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".mkv", ".mxf")
#: Top-level box types an ISO base media file (mp4, mov, m4v) may open with.
ISO_FIRST_BOXES = {b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip", b"pnot", b"uuid"}
MATROSKA_MAGIC = b"\x1a\x45\xdf\xa3"
#: SMPTE 377M: an MXF file opens with a header partition pack, whose key starts so (then kind/status).
MXF_PARTITION_KEY = bytes.fromhex("060e2b34020501010d01020101")
#: ... and a complete one usually ends with a random index pack (its length in the last 4 bytes).
MXF_RIP_KEY = bytes.fromhex("060e2b34020501010d0102010111")


class UploadRejected(Exception):
    """An upload the server will not turn into a job; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def safe_stem(filename: str) -> str:
    """A file stem safe to use on disk and in URLs: ``"My Cut (v2).mov"`` -> ``"My_Cut_v2_"``.

    Only letters, digits, ``-``, ``_`` and inner dots survive; path parts are dropped.
    """
    name = re.split(r"[\\/]", filename)[-1]
    stem = name.rsplit(".", 1)[0] if "." in name else name
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._")[:80]
    return stem or "video"


def check_name(filename: str) -> str:
    """The lower-case suffix of an acceptable video file name (else 415)."""
    suffix = Path(re.split(r"[\\/]", filename or "")[-1]).suffix.lower()
    if suffix not in VIDEO_SUFFIXES:
        raise UploadRejected(415, f"{filename or 'the file'}: not a video file tempscore reads; give the rough cut "
                                  f"as {', '.join(s[1:] for s in VIDEO_SUFFIXES)}")
    return suffix


def container_kind(head: bytes) -> str | None:
    """``"iso"`` (mp4/mov/m4v), ``"matroska"`` (mkv), ``"mxf"`` or None, from a file's first 13 bytes."""
    if len(head) >= 8 and head[4:8] in ISO_FIRST_BOXES:
        return "iso"
    if head.startswith(MATROSKA_MAGIC):
        return "matroska"
    if head.startswith(MXF_PARTITION_KEY):
        return "mxf"
    return None


def check_mxf_end(path: Path) -> None:
    """An MXF file whose last 4 bytes do not point back at a random index pack may have been cut
    short; without one (it is optional) nothing is concluded here and the analysis decides."""
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(64)
        f.seek(max(0, size - 4))
        (rip_len,) = struct.unpack(">I", f.read(4).rjust(4, b"\0"))
        if 20 <= rip_len <= size:
            f.seek(size - rip_len)
            if f.read(len(MXF_RIP_KEY)) == MXF_RIP_KEY:
                return
    try:  # no random index pack: a footer partition the header points at must be inside the file
        footer = struct.unpack(">Q", head[16 + _ber_length(head[16:])[1] + 24:][:8])[0]
    except (struct.error, ValueError):
        raise UploadRejected(422, f"{path.name}: its MXF header is damaged; export it again") from None
    if footer >= size:
        raise UploadRejected(422, f"{path.name}: the MXF file is truncated (its footer would be at byte {footer} of "
                                  f"{size}); copy or export it again")


def _ber_length(data: bytes) -> tuple[int, int]:
    """(value, bytes used) of a KLV BER length."""
    if not data:
        raise ValueError("no length")
    if data[0] < 0x80:
        return data[0], 1
    n = data[0] & 0x7F
    if n == 0 or n > 8 or len(data) < 1 + n:
        raise ValueError("bad BER length")
    return int.from_bytes(data[1 : 1 + n], "big"), 1 + n


def check_iso_boxes(path: Path) -> None:
    """Walk the top-level boxes of an mp4/mov file: each must end inside the file, and the index
    (``moov``) must be there. A copy or export that stopped early fails here (422)."""
    size = path.stat().st_size
    seen: set[bytes] = set()
    offset = 0
    with path.open("rb") as f:
        while offset < size:
            f.seek(offset)
            head = f.read(16)
            if len(head) < 8:
                raise UploadRejected(422, f"{path.name}: ends in the middle of a box header: the file is truncated; "
                                          f"export or copy it again")
            box_size, kind = struct.unpack(">I4s", head[:8])
            if box_size == 1:
                if len(head) < 16:
                    raise UploadRejected(422, f"{path.name}: ends in the middle of a box header: the file is "
                                              f"truncated; export or copy it again")
                box_size = struct.unpack(">Q", head[8:16])[0]
            elif box_size == 0:  # the last box runs to the end of the file
                box_size = size - offset
            if box_size < 8:
                raise UploadRejected(422, f"{path.name}: has a damaged box at byte {offset}; export it again")
            if offset + box_size > size:
                name = kind.decode("latin-1")
                raise UploadRejected(422, f"{path.name}: ends inside its '{name}' box ({size} of "
                                          f"{offset + box_size} bytes): the file is truncated (an interrupted "
                                          f"copy, upload or export); export or copy it again")
            seen.add(kind)
            offset += box_size
    if b"moov" not in seen:
        raise UploadRejected(422, f"{path.name}: has no 'moov' index (written when an export finishes): the file "
                                  f"is incomplete; export it again")


def _ebml_vint(f: BinaryIO) -> tuple[int, int, bool]:
    """(value, length in bytes, all-ones "unknown size") of an EBML variable-size integer."""
    b = f.read(1)
    if not b:
        raise EOFError
    length, mask = 1, 0x80
    while length <= 8 and not b[0] & mask:
        length, mask = length + 1, mask >> 1
    if length > 8:
        raise ValueError("bad EBML length")
    rest = f.read(length - 1)
    if len(rest) < length - 1:
        raise EOFError
    value = b[0] & (mask - 1)
    for x in rest:
        value = (value << 8) | x
    return value, length, value == (1 << (7 * length)) - 1


def check_matroska_size(path: Path) -> None:
    """A Matroska file's Segment must fit in the file (its size is written when the export ends).
    A live-recorded file with an unknown Segment size cannot be checked this way and passes."""
    size = path.stat().st_size
    try:
        with path.open("rb") as f:
            for expect in (b"\x1a\x45\xdf\xa3", b"\x18\x53\x80\x67"):  # EBML header, then Segment
                ident = f.read(4)
                if ident != expect:
                    raise ValueError(f"unexpected element {ident.hex()}")
                value, _, unknown = _ebml_vint(f)
                if expect == b"\x18\x53\x80\x67":
                    if not unknown and f.tell() + value > size:
                        raise UploadRejected(422, f"{path.name}: is {f.tell() + value - size} bytes shorter than "
                                                  f"its header says: the file is truncated (an interrupted copy, upload "
                                                  f"or export); export or copy it again")
                    return
                f.seek(value, 1)
    except EOFError:
        raise UploadRejected(422, f"{path.name}: ends inside its header: the file is truncated; export or copy it "
                                  f"again") from None
    except ValueError as exc:
        raise UploadRejected(422, f"{path.name}: its Matroska header is damaged ({exc}); export it again") from None


def check_content(path: Path, display_name: str) -> None:
    """Type check by content (415 when the bytes are not a video container) and completeness (422)."""
    with path.open("rb") as f:
        head = f.read(16)
    if not head:
        raise UploadRejected(400, f"{display_name}: the file is empty; choose the exported rough cut")
    kind = container_kind(head)
    if kind is None:
        raise UploadRejected(415, f"{display_name}: not a video (its content is not an MP4/QuickTime, Matroska or "
                                  f"MXF file); export the rough cut as mp4, mov or mkv")
    try:
        {"iso": check_iso_boxes, "matroska": check_matroska_size, "mxf": check_mxf_end}[kind](path)
    except UploadRejected as exc:
        raise UploadRejected(exc.status, str(exc).replace(path.name, display_name, 1)) from None
