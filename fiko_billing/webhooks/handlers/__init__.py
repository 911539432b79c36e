"""Event handlers, one module per event family. Each is idempotent and order-safe."""
