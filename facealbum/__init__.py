"""facealbum: a photo album that knows who is in the pictures."""

__version__ = "0.1.0"
