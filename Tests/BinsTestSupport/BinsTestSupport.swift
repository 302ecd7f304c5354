// Shared harness for tests that need real parts (mosquitto, PostgreSQL, temporary directories).
