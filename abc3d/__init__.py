__version__ = "0.1.0"

# pyproj must bind its own PROJ before eccodes (cfgrib) loads the copy bundled in its wheel;
# otherwise CRS lookups fail and the interpreter aborts at exit.
import pyproj as _pyproj  # noqa: F401,E402
