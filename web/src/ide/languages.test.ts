import { describe, expect, it } from "vitest";

import { buildLanguageTable, languageFor, languageName } from "./languages";
import { outline } from "./outline";

const table = buildLanguageTable([
  { id: "typescript", extensions: [".ts", ".tsx"], aliases: ["TypeScript"] },
  { id: "rust", extensions: [".rs"], aliases: ["Rust"] },
  { id: "dockerfile", extensions: [".dockerfile"], filenames: ["Dockerfile"], aliases: ["Dockerfile"] },
  { id: "shell", extensions: [".sh"], firstLine: "^#!.*\\b(bash|sh)" },
  { id: "ini", extensions: [".ini"] },
]);

describe("languageFor", () => {
  it("maps names, extensions and first lines", () => {
    expect(languageFor(table, "src/a.tsx")).toBe("typescript");
    expect(languageFor(table, "x/lib.RS")).toBe("rust");
    expect(languageFor(table, "Dockerfile")).toBe("dockerfile");
    expect(languageFor(table, "Cargo.toml")).toBe("ini");
    expect(languageFor(table, "bin/run", "#!/usr/bin/env bash")).toBe("shell");
    expect(languageFor(table, "notes")).toBe("plaintext");
    expect(languageName(table, "typescript")).toBe("TypeScript");
    expect(languageName(table, "plaintext")).toBe("Plain Text");
  });
});

describe("outline", () => {
  it("finds python, rust and markdown symbols", () => {
    expect(outline("python", "class A:\n    def run(self):\n        pass\ndef main():\n").map((s) => [s.name, s.kind, s.line, s.depth])).toEqual([
      ["A", "class", 1, 0],
      ["run", "function", 2, 4],
      ["main", "function", 4, 0],
    ]);
    expect(outline("rust", "pub struct S;\nimpl Display for S {\n    pub async fn go() {}\n}\n").map((s) => s.name)).toEqual(["S", "S", "go"]);
    expect(outline("markdown", "# Title\n```\n# not\n```\n## Sub").map((s) => [s.name, s.depth])).toEqual([
      ["Title", 1],
      ["Sub", 2],
    ]);
    expect(outline("go", "func (s *S) Run() {}\nfunc main() {}\ntype S struct{}").map((s) => s.kind)).toEqual(["method", "function", "struct"]);
    expect(outline("unknown", "def x")).toEqual([]);
  });
});
