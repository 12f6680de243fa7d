"""cachefleet node agent: runs cache engines on one host under its own supervisord."""
