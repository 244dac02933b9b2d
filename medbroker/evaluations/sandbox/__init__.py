"""Running a company's ONNX model on the test set, in a sandbox.

``manifest`` checks the model's description and turns each case into the input it expects (trusted code, in
the worker); ``runner`` starts ``child`` (the only code that loads the model) through ``jail``, which builds
its view of the system (no network, only the job's own read-only files, its own processes) and runs it as
an unprivileged user under resource limits; ``runner`` then reads its outputs case by case with deadlines.
"""
