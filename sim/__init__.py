"""cascadesim: a discrete-event simulator of cascaded snapshot mirroring and soft locks."""

__version__ = "0.2.0"

from sim import native as _native

_native.install()
