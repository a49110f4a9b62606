"""The calibration harness (cases x steps x adapters), built on the `pytest_tokencost` core.

Its scenarios, dispatchers, adapters and runner arrive with the calibration-harness issue; the
package exists now so that the distribution already carries both import packages.
"""
