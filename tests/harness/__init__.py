"""Tests of the calibration harness (the `pytest-tokencost-calibrate` distribution)."""
