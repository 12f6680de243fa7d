"""cachefleet coordinator: keeps desired state and drives the node agents toward it."""
