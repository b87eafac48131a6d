"""Typed params: ``params.yaml`` read into one frozen dataclass per group (:mod:`.schema`), every
value checked with a one-line error naming the key (:mod:`.checks`, :mod:`.loading`), and overrides
files such as ``configs/study.yaml`` turned into ``dvc exp run -S`` options (:mod:`.overrides`).

Above :mod:`hwr.core`, below every other package. The stages do not list this package among their
code deps in dvc.yaml: the values it reads are tracked as params.
"""

from hwr.params.loading import from_dict, load
from hwr.params.overrides import override_arguments
from hwr.params.schema import *  # noqa: F403 (the dataclasses and choices, as schema.__all__ lists them)
from hwr.params.schema import __all__ as _schema

__all__ = [*_schema, "from_dict", "load", "override_arguments"]
