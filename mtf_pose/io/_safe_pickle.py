"""Reading ``.npy`` members that hold Python objects (VideoPose3D's dicts) without running a pickle.

``np.load(allow_pickle=True)`` runs arbitrary code from the file. Here object members are unpickled by
an :class:`pickle.Unpickler` that resolves only the globals NumPy needs to rebuild arrays, dtypes and
scalars; plain containers (dict, list, str, numbers) need no globals at all. Anything else in the stream
(a class, a function, ``os.system``) is refused with :class:`KeypointReadError` before it is resolved.
"""

from __future__ import annotations

import pickle
from typing import IO, Any

import numpy as np

from mtf_pose.io.base import KeypointReadError

# (module, name) pairs a NumPy object array's pickle refers to; numpy 2 moved numpy.core to numpy._core.
_ALLOWED_GLOBALS = frozenset(
    (module, name)
    for module in ("numpy.core.multiarray", "numpy._core.multiarray")
    for name in ("_reconstruct", "scalar")
) | {("numpy", "ndarray"), ("numpy", "dtype")}


class _NumpyOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise KeypointReadError(
            f"the pickled content refers to {module}.{name}, which is not plain data; refused "
            "(only dicts, lists, strings, numbers and NumPy arrays are read)"
        )


def read_npy_header(handle: IO[bytes]) -> tuple[tuple[int, ...], bool, np.dtype[Any]]:
    """Shape, Fortran order and dtype from an ``.npy`` stream, leaving it at the start of the data."""
    try:
        version = np.lib.format.read_magic(handle)
        if version == (1, 0):
            return np.lib.format.read_array_header_1_0(handle)  # type: ignore[no-any-return]
        if version == (2, 0):
            return np.lib.format.read_array_header_2_0(handle)  # type: ignore[no-any-return]
    except ValueError as error:
        raise KeypointReadError(f"not a valid .npy array ({error})") from None
    raise KeypointReadError(f"unsupported .npy format version {version}")


def load_npy(handle: IO[bytes]) -> Any:
    """An ``.npy`` stream's array; for an object array, its content unpickled with the restricted
    unpickler (a 0-d object array, as ``np.savez(key=dict)`` writes, gives the object itself)."""
    shape, fortran, dtype = read_npy_header(handle)
    if not dtype.hasobject:
        count = int(np.prod(shape)) if shape else 1
        data = handle.read(count * dtype.itemsize)
        if len(data) != count * dtype.itemsize:
            raise KeypointReadError(f"the array is truncated ({len(data)} of {count * dtype.itemsize} bytes)")
        array = np.frombuffer(data, dtype=dtype)
        return array.reshape(shape[::-1]).transpose() if fortran else array.reshape(shape)
    try:
        value = _NumpyOnlyUnpickler(handle).load()
    except KeypointReadError:
        raise
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, IndexError, TypeError, ValueError) as error:
        raise KeypointReadError(f"the pickled content is damaged ({type(error).__name__}: {error})") from None
    if isinstance(value, np.ndarray) and value.dtype.hasobject and value.shape == ():
        return value.item()
    return value
