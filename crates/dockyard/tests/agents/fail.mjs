// An agent that fails at once, for the test suite.
process.stderr.write("fatal: this agent always fails\n");
process.exit(3);
