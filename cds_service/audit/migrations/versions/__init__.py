"""One file per schema revision, in order: 0001 is the schema of the first release."""
