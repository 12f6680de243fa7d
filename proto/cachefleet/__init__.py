"""cachefleet generated API packages (see proto/)."""
