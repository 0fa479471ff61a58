"""gRPC query services over the last committed version."""
