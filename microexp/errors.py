"""Typed errors whose messages are written for the person who supplied the input.

Every failure a user can cause (a bad file, no face, a clip that is too long) raises a
subclass of :class:`MicroExpError`; the CLI and the app print ``str(error)`` and nothing else.
"""


class MicroExpError(Exception):
    """Base class: the message is user-facing and says what to do."""


class VideoError(MicroExpError):
    """The file could not be turned into frames."""


class EmptyFileError(VideoError):
    """The file has zero bytes."""


class NotAVideoError(VideoError):
    """The bytes are not a decodable video or image sequence (wrong format, truncated, corrupt)."""


class NoVideoStreamError(VideoError):
    """The container holds no video stream (e.g. audio only)."""


class TooFewFramesError(VideoError):
    """A still image or a clip with fewer frames than motion analysis needs."""


class VideoTooLargeError(VideoError):
    """File size or frame dimensions over the configured limits."""


class VideoTooLongError(VideoError):
    """Duration or frame count over the configured limits."""


class FaceError(MicroExpError):
    """The face pipeline could not find one trackable face."""


class NoFaceError(FaceError):
    """No face was detected in (enough of) the clip."""


class MultipleFacesError(FaceError):
    """Several faces of similar size: the clip is ambiguous about whom to analyse."""


class FaceModelError(MicroExpError):
    """The MediaPipe face landmarker model file could not be found or fetched."""


class ModelError(MicroExpError):
    """A model directory or Hub repo could not be loaded (missing files, wrong format)."""


class DatasetError(MicroExpError):
    """A dataset folder or annotation file is missing or not in the documented layout."""
