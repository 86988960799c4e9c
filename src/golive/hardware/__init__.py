"""The definitive hardware store (DHS): spare hardware, its build details and its state."""
