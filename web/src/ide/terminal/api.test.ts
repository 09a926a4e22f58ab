import { describe, expect, it } from "vitest";

import { toTerminalInfo, toTerminalList } from "./api";

describe("terminal records", () => {
  it("reads a list as an array or under `terminals`", () => {
    expect(toTerminalList([{ id: "a" }]).map((info) => info.id)).toEqual(["a"]);
    expect(toTerminalList({ terminals: [{ id: "b", title: "bash" }, { nope: 1 }] })).toEqual([
      { id: "b", title: "bash", exitCode: null, exited: false },
    ]);
    expect(toTerminalList(null)).toEqual([]);
  });

  it("notices exited terminals", () => {
    expect(toTerminalInfo({ id: "x", exit_code: 0 })).toEqual({ id: "x", title: null, exitCode: 0, exited: true });
    expect(toTerminalInfo({ id: "x", state: "exited" })?.exited).toBe(true);
    expect(toTerminalInfo({ id: 7, name: "n" })).toEqual({ id: "7", title: "n", exitCode: null, exited: false });
  });
});
