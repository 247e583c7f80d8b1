"""Pure decisions: values in, values out. No I/O, no clock, no chance (tests/unit/test_layout.py holds it so)."""
