"""Work orders: what a person must do on a manual target (hardware, process, documentation)."""
