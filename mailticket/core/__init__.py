"""Pure decisions: values in, values out; no I/O, clock or chance (tests/unit/test_layout.py)."""
