// An agent that works forever and ignores SIGTERM, for the test suite: only the
// maximum run time, or a kill after the stop grace, ends it.
process.on("SIGTERM", () => process.stdout.write("ignoring SIGTERM\n"));
process.stdout.write("working\n");
setInterval(() => process.stdout.write("."), 200);
