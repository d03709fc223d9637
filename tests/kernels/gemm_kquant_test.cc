// STUB: tests not written yet.
