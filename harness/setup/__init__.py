"""One-time setup of what some device kinds need on this machine (arm64: the qemu environment)."""
