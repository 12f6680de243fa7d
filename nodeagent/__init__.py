"""cachefleet node agent: runs cache engines on one host under its own supervisord."""

__version__ = "0.1.0"
