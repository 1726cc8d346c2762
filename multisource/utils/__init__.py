"""Small helpers shared by every sub-package: registries, argument validation, devices."""
