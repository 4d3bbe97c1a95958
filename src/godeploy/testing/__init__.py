"""FakeGoDeploy: an embedded go deploy server for tests (in progress)."""
