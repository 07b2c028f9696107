"""A picture's metadata blocks, read without trusting them: its EXIF and its XMP packet.

Both come from the image Pillow opened (``Image.open``, before any pixel is decoded):
Pillow keeps the raw EXIF block as ``info["exif"]`` for JPEG (APP1 ``Exif\\0\\0``), PNG
(``eXIf``), WebP (``EXIF`` chunk) and HEIC (pillow-heif), and the XMP packet as
``info["xmp"]`` (JPEG APP1 ``http://ns.adobe.com/xap/1.0/``, PNG iTXt
``XML:com.adobe.xmp``, WebP ``XMP `` chunk, HEIC ``mime`` item). TIFF keeps its tags in
the image itself (``getexif``).

A damaged block is never an error here: what can be read is returned, what cannot is
said in one logged line, so a bad block never fails an import (issue 20).
"""

from __future__ import annotations

import logging
import warnings
import xml.etree.ElementTree as ET

from PIL import Image

log = logging.getLogger(__name__)

EXIF_IFD = 0x8769  # ExifIFDPointer (EXIF 2.32 / CIPA DC-008 4.6.3): the Exif private tags
GPS_IFD = 0x8825  # GPSInfoIFDPointer: the GPS tags (place.py)
# the XMP packet a JPEG can hold in one APP1 segment is at most 65,502 bytes (XMP Part 3,
# 1.1.3); other containers are not bounded by their format, so a bound is set here
XMP_MAX_BYTES = 1 << 20


def exif_of(image: Image.Image, name: str = "picture") -> Image.Exif | None:
    """The picture's EXIF (IFD0, with ``get_ifd(EXIF_IFD)`` and ``get_ifd(GPS_IFD)``
    readable), or None when it has none or none could be read.

    The raw block is loaded afresh (``Image.Exif().load``) rather than through
    ``image.getexif()``, whose result Pillow caches once read (imaging.decode reads the
    orientation there), and without ``getexif``'s fallback for a PNG, which is to decode
    the whole image in case an ``eXIf`` chunk follows the pixels. Pillow reports a
    truncated or corrupt block as a ``UserWarning`` ("Corrupt EXIF data", "Truncated
    File Read") and keeps the entries it could read, so the warning is turned into the
    one logged reason. The sub-IFDs are read here too, as Pillow reads them lazily and
    would warn later. (``warnings.catch_warnings`` is process-wide on Python 3.11: a
    warning another thread raises meanwhile may be caught here too; it is then logged,
    not lost.)"""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            raw = image.info.get("exif")
            if isinstance(raw, bytes | bytearray) and raw:
                exif = Image.Exif()
                exif.load(bytes(raw))
            elif raw:
                log.warning("%s: EXIF block is not bytes (%s); ignored", name, type(raw).__name__)
                return None
            elif image.format == "TIFF":
                exif = image.getexif()  # TIFF: the tags are the image's own
            else:  # (PNG's getexif would decode every pixel to look after the image data)
                return None
            for pointer in (EXIF_IFD, GPS_IFD):
                if pointer in exif:
                    exif.get_ifd(pointer)
        except Exception as exc:  # any damage: never fail an import over metadata
            log.warning("%s: EXIF block unreadable (%s: %s); ignored", name,
                        type(exc).__name__, exc)
            return None
    damage = [w for w in caught if issubclass(w.category, UserWarning)]
    if damage:
        log.warning("%s: EXIF block damaged (%s); using the entries that could be read",
                    name, str(damage[0].message).strip())
    return exif if len(exif) else None


def xmp_of(image: Image.Image, name: str = "picture") -> ET.Element | None:
    """The picture's XMP packet (``info["xmp"]``) parsed, or None."""
    packet = image.info.get("xmp")
    if not packet:
        return None
    return parse_xmp(packet, name)


def parse_xmp(packet: bytes | str, name: str = "picture") -> ET.Element | None:
    """An XMP packet (XMP Part 1: RDF/XML, optionally wrapped in ``<?xpacket?>``
    processing instructions and padded) as an ElementTree element, or None with the
    reason logged.

    Parsed with the standard library's ElementTree because Pillow's ``getxmp()`` needs
    defusedxml, which is not among this project's dependencies. The hazards defusedxml
    guards against are closed here instead: the packet is bounded (``XMP_MAX_BYTES``),
    a packet with a DTD (``<!DOCTYPE``/``<!ENTITY``) is refused outright (XMP is plain
    RDF/XML and never declares entities, so no entity is ever expanded), and ElementTree
    resolves no external entity."""
    try:
        data = packet.encode("utf-8") if isinstance(packet, str) else bytes(packet)
    except (UnicodeError, TypeError, ValueError) as exc:
        log.warning("%s: XMP packet is not text (%s); ignored", name, exc)
        return None
    if len(data) > XMP_MAX_BYTES:
        log.warning("%s: XMP packet of %d bytes is over %d; ignored", name, len(data),
                    XMP_MAX_BYTES)
        return None
    data = data.strip(b"\x00 \t\r\n")
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        log.warning("%s: XMP packet declares a DTD, which XMP never does; ignored", name)
        return None
    try:
        return ET.fromstring(data)
    except (ET.ParseError, ValueError) as exc:
        log.warning("%s: XMP packet is not well-formed XML (%s); ignored", name, exc)
        return None


RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"


def xmp_property(root: ET.Element, namespace: str, local: str) -> str | None:
    """A simple XMP property's value, in either RDF form XMP writers use: an attribute
    of an ``rdf:Description`` (``exif:DateTimeOriginal="..."``) or a child element of
    it (``<exif:DateTimeOriginal>...</...>``; a single ``rdf:li`` inside is taken too)."""
    key = f"{{{namespace}}}{local}"
    for description in root.iter(f"{{{RDF}}}Description"):
        if key in description.attrib:
            return description.attrib[key].strip()
        element = description.find(key)
        if element is not None:
            item = element.find(f".//{{{RDF}}}li")
            text = (item if item is not None else element).text
            if text and text.strip():
                return text.strip()
    return None
