"""Python side of the suite: data loading, features mirroring dsp-core, training and export.

Run modules with `PYTHONPATH=xtask/python python3 -m mirsuite.<module>` or through `cargo xtask`.
"""
