# GENERATED package: models.py is written by `make codegen` (python -m codegen); do not edit.
