import { describe, expect, it } from "vitest";

import { fuzzyFilter, fuzzyScore } from "./fuzzy";

const paths = [
  "src/ide/Ide.tsx",
  "src/ide/store.ts",
  "src/ide/store.test.ts",
  "src/app/App.tsx",
  "src/api/client.ts",
  "README.md",
  "docs/identity.md",
  "crates/dockyard-server/src/routes/files.rs",
];

describe("fuzzyScore", () => {
  it("needs the characters in order", () => {
    expect(fuzzyScore("ide", "src/ide/Ide.tsx")).not.toBeNull();
    expect(fuzzyScore("edi", "src/ide/Ide.tsx")).toBeNull();
    expect(fuzzyScore("", "x")).toEqual({ score: 0, positions: [] });
  });

  it("reports positions for highlighting", () => {
    expect(fuzzyScore("app", "src/app/App.tsx")?.positions).toEqual([8, 9, 10]);
  });
});

describe("fuzzyFilter", () => {
  const top = (query: string) => fuzzyFilter(query, paths, (p) => p)[0]?.item;

  it("ranks file names and word starts first", () => {
    expect(top("store")).toBe("src/ide/store.ts");
    expect(top("storetest")).toBe("src/ide/store.test.ts");
    expect(top("client")).toBe("src/api/client.ts");
    expect(top("readme")).toBe("README.md");
    expect(top("routesfiles")).toBe("crates/dockyard-server/src/routes/files.rs");
    expect(top("ide/ide")).toBe("src/ide/Ide.tsx");
  });

  it("drops non-matches and keeps order for an empty query", () => {
    expect(fuzzyFilter("zzz", paths, (p) => p)).toEqual([]);
    expect(fuzzyFilter("", paths, (p) => p, 2).map((r) => r.item)).toEqual(paths.slice(0, 2));
  });

  it("filters 50k paths quickly", () => {
    const many: string[] = [];
    const dirs = ["src", "lib", "test", "packages/core", "packages/ui/components", "node_modules/x/dist"];
    for (let i = 0; i < 50_000; i++) {
      many.push(`${dirs[i % dirs.length]}/module${i % 977}/file${i}.${i % 3 ? "ts" : "rs"}`);
    }
    many.push("packages/ui/components/Button/Button.tsx");
    const cold = performance.now();
    fuzzyFilter("b", many, (p) => p, 50);
    const coldMs = performance.now() - cold;
    const started = performance.now();
    const results = fuzzyFilter("button", many, (p) => p, 50);
    const ms = performance.now() - started;
    const started2 = performance.now();
    fuzzyFilter("pkuicomfile12", many, (p) => p, 50);
    const ms2 = performance.now() - started2;
    console.log(`fuzzyFilter over ${many.length} paths: first call (lower-casing) ${coldMs.toFixed(1)} ms, then ${ms.toFixed(1)} ms ("button"), ${ms2.toFixed(1)} ms ("pkuicomfile12")`);
    expect(results[0]?.item).toBe("packages/ui/components/Button/Button.tsx");
  });
});
