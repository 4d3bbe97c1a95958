"""The fleet: many worker processes, on many machines, sharing limits through Redis.

Needs the `fleet` extra: `pip install 'godeploy[fleet]'` (arq and redis-py 5).

    from godeploy.fleet import FleetLimits
"""

from godeploy.fleet._limits import FleetLimits

__all__ = [
    "FleetLimits",
]
