"""Tasks: what a run predicts and how it is judged (see :mod:`affectlab.tasks.base`)."""

from .base import CATEGORY_METRICS, REGRESSION_METRICS, Reference, Task
from .registry import TASKS, get_task, register_task

__all__ = ["Task", "Reference", "TASKS", "get_task", "register_task", "REGRESSION_METRICS", "CATEGORY_METRICS"]
