"""Generated protobuf/gRPC stubs for cachefleet.v1: regenerate with scripts/gen-proto, never edit."""
