"""Tests of godeploy.testing: the FakeGoDeploy server, its faults, fixtures and CLI."""
