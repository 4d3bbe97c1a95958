# GENERATED package: models.py and operations.py are written by `make codegen` (python -m codegen); do not edit.
