"""The wire contract for non-Python producers (docs/protocol.md)."""
