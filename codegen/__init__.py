"""The generator: `python -m codegen` turns openapi/orders-v2.yaml into attrs models and operations.

It drives datamodel-code-generator (pinned in pyproject.toml) with the templates in
`codegen/templates/`, then rewrites the imports the dataclass output mode would have used so the
module imports attrs instead. The output is deterministic: no timestamps, sorted models.
"""

from codegen._generate import HEADER, generate_models, main
from codegen._operations import OPERATIONS_HEADER, constant_name, generate_operations

__all__ = [
    "HEADER",
    "OPERATIONS_HEADER",
    "constant_name",
    "generate_models",
    "generate_operations",
    "main",
]
