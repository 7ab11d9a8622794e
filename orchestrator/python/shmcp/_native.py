"""Loading libshmcp.so (the C ABI in orchestrator/shmcp.h) through ctypes.

Search order, first hit wins:
  1. the `library` argument of Client / load();
  2. the environment variable SHMCP_LIBRARY (a path);
  3. a libshmcp.so* shipped inside this package's directory;
  4. the dynamic loader's search (LD_LIBRARY_PATH, ld.so.cache): libshmcp.so.0, then libshmcp.so;
  5. cmake --install's default prefix: /usr/local/lib/libshmcp.so.0 (before `ldconfig` ran).
"""
from __future__ import annotations

import ctypes
import glob
import os
import threading
from typing import Dict, List, Optional

_lock = threading.Lock()
_loaded: Dict[str, ctypes.CDLL] = {}

c_char_pp = ctypes.POINTER(ctypes.c_char_p)


def _declare(lib: ctypes.CDLL) -> None:
    vp, cp, ci, sz = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_size_t
    out = ctypes.POINTER(ctypes.c_void_p)
    lib.shmcp_connect.restype = vp
    lib.shmcp_connect.argtypes = [cp, ci, cp, sz]
    lib.shmcp_close.restype = None
    lib.shmcp_close.argtypes = [vp]
    lib.shmcp_call.restype = ci
    lib.shmcp_call.argtypes = [vp, cp, cp, ci, out, ctypes.POINTER(ci), cp, sz]
    lib.shmcp_ping.restype = ci
    lib.shmcp_ping.argtypes = [vp, ci, cp, sz]
    lib.shmcp_health.restype = ci
    lib.shmcp_health.argtypes = [vp, out, cp, sz]
    if hasattr(lib, "shmcp_tools"):  # absent in libraries older than this package: tools() says so
        lib.shmcp_tools.restype = ci
        lib.shmcp_tools.argtypes = [vp, ci, out, cp, sz]
    lib.shmcp_free.restype = None
    lib.shmcp_free.argtypes = [vp]
    lib.shmcp_version.restype = cp
    lib.shmcp_version.argtypes = []


def candidates(library: Optional[str] = None) -> List[str]:
    """The paths or sonames load() tries, in order."""
    out: List[str] = []
    if library:
        out.append(library)
    env = os.environ.get("SHMCP_LIBRARY")
    if env:
        out.append(env)
    here = os.path.dirname(os.path.abspath(__file__))
    out.extend(sorted(glob.glob(os.path.join(here, "libshmcp.so*"))))
    out.extend(["libshmcp.so.0", "libshmcp.so", "/usr/local/lib/libshmcp.so.0"])
    return out


def load(library: Optional[str] = None) -> ctypes.CDLL:
    """Loads (once per path) and declares the C ABI. Raises OSError listing every path tried."""
    tried = []
    for path in candidates(library):
        with _lock:
            lib = _loaded.get(path)
            if lib is not None:
                return lib
            try:
                lib = ctypes.CDLL(path)
            except OSError as e:
                tried.append(f"{path}: {e}")
                if path in (library, os.environ.get("SHMCP_LIBRARY")):
                    # An explicit choice that fails is an error, not a reason to pick another copy.
                    raise OSError("cannot load libshmcp: " + "; ".join(tried)) from e
                continue
            try:
                _declare(lib)
            except AttributeError as e:
                raise OSError(f"{path} is not a compatible libshmcp (missing {e})") from e
            _loaded[path] = lib
            return lib
    raise OSError("cannot find libshmcp.so (set SHMCP_LIBRARY to its path, or install it with "
                  "cmake --install and run ldconfig): tried " + "; ".join(tried))
