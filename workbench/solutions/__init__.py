"""Reference solutions to the exercises, for instructors (one module per notebook).

The check functions in ``workbench.exercises`` compare a learner's answer with
these. Reading them before trying is allowed, but it spoils the exercise.
"""
