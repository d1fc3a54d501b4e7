"""The training room: the configuration (`config`), the paper's recipes (`recipes`), lr schedules (`schedule`), the
state of a run and its checkpoint (`run`, `checkpoint`), the loop (`loop`) and what it prints (`report`).

Light at import: `from arc.training.loop import train` loads torch when needed.
"""
