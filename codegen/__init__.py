"""The generator: `python -m codegen` turns openapi/orders-v2.yaml into models and operations.

Three modules come out: the attrs models, their decoders (codegen/_decoders.py) and the
operation descriptors (codegen/_operations.py).

It drives datamodel-code-generator (pinned in pyproject.toml) with the templates in
`codegen/templates/`, then rewrites the imports the dataclass output mode would have used so the
module imports attrs instead. The output is deterministic: no timestamps, sorted models.
"""

from codegen._common import load_module
from codegen._decoders import DECODERS_HEADER, generate_decoders
from codegen._generate import HEADER, generate_models, main
from codegen._operations import (
    OPERATIONS_HEADER,
    constant_name,
    generate_operations,
    spec_operations,
)

__all__ = [
    "DECODERS_HEADER",
    "HEADER",
    "OPERATIONS_HEADER",
    "constant_name",
    "generate_decoders",
    "generate_models",
    "generate_operations",
    "load_module",
    "main",
    "spec_operations",
]
