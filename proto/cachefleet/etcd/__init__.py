"""Generated stubs of the part of etcd v3's gRPC API that the coordinators use (scripts/gen-proto)."""
