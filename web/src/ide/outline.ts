// A regex-based outline for languages Monaco has no symbol provider for. Registered as a
// DocumentSymbolProvider, it feeds Monaco's quick outline (Ctrl+Shift+O) and the symbol
// breadcrumbs. Deliberately simple: one line per symbol, indentation gives the nesting.

export type OutlineKind = "class" | "function" | "method" | "struct" | "interface" | "enum" | "module" | "constant" | "variable" | "heading" | "type";

export interface OutlineSymbol {
  name: string;
  kind: OutlineKind;
  /** 1-based. */
  line: number;
  /** 1-based column of the name. */
  column: number;
  /** Indentation width (or heading level for markdown), for nesting. */
  depth: number;
}

type Rule = [RegExp, OutlineKind];

const RULES: Record<string, Rule[]> = {
  python: [
    [/^(\s*)(?:async\s+)?def\s+([A-Za-z_]\w*)/, "function"],
    [/^(\s*)class\s+([A-Za-z_]\w*)/, "class"],
  ],
  go: [
    [/^()func\s+\([^)]*\)\s*([A-Za-z_]\w*)/, "method"],
    [/^()func\s+([A-Za-z_]\w*)/, "function"],
    [/^()type\s+([A-Za-z_]\w*)\s+struct\b/, "struct"],
    [/^()type\s+([A-Za-z_]\w*)\s+interface\b/, "interface"],
    [/^()type\s+([A-Za-z_]\w*)/, "type"],
  ],
  rust: [
    [/^(\s*)(?:pub(?:\([^)]*\))?\s+)?(?:const\s+)?(?:async\s+)?(?:unsafe\s+)?(?:extern\s+"[^"]*"\s+)?fn\s+([A-Za-z_]\w*)/, "function"],
    [/^(\s*)(?:pub(?:\([^)]*\))?\s+)?struct\s+([A-Za-z_]\w*)/, "struct"],
    [/^(\s*)(?:pub(?:\([^)]*\))?\s+)?enum\s+([A-Za-z_]\w*)/, "enum"],
    [/^(\s*)(?:pub(?:\([^)]*\))?\s+)?(?:unsafe\s+)?trait\s+([A-Za-z_]\w*)/, "interface"],
    [/^(\s*)(?:pub(?:\([^)]*\))?\s+)?mod\s+([A-Za-z_]\w*)/, "module"],
    [/^(\s*)(?:unsafe\s+)?impl(?:<[^>]*>)?\s+(?:[\w:<>, ]+\s+for\s+)?([A-Za-z_][\w:]*)/, "class"],
    [/^(\s*)(?:pub(?:\([^)]*\))?\s+)?(?:const|static)\s+([A-Z_][A-Z0-9_]*)/, "constant"],
    [/^(\s*)(?:pub(?:\([^)]*\))?\s+)?type\s+([A-Za-z_]\w*)/, "type"],
  ],
  ruby: [
    [/^(\s*)def\s+((?:self\.)?[A-Za-z_]\w*[?!=]?)/, "method"],
    [/^(\s*)class\s+([A-Z]\w*(?:::\w+)*)/, "class"],
    [/^(\s*)module\s+([A-Z]\w*(?:::\w+)*)/, "module"],
  ],
  java: [
    [/^(\s*)(?:(?:public|private|protected|static|final|abstract|sealed)\s+)*(?:class|record)\s+([A-Za-z_]\w*)/, "class"],
    [/^(\s*)(?:(?:public|private|protected|static)\s+)*interface\s+([A-Za-z_]\w*)/, "interface"],
    [/^(\s*)(?:(?:public|private|protected|static)\s+)*enum\s+([A-Za-z_]\w*)/, "enum"],
    [/^(\s*)(?:(?:public|private|protected|static|final|abstract|synchronized)\s+)+[\w<>[\], ?]+\s+([A-Za-z_]\w*)\s*\(/, "method"],
  ],
  shell: [
    [/^(\s*)(?:function\s+)?([A-Za-z_][\w-]*)\s*\(\)\s*\{?/, "function"],
    [/^(\s*)function\s+([A-Za-z_][\w-]*)/, "function"],
  ],
  php: [
    [/^(\s*)(?:(?:abstract|final)\s+)?class\s+([A-Za-z_]\w*)/, "class"],
    [/^(\s*)(?:(?:public|private|protected|static)\s+)*function\s+([A-Za-z_]\w*)/, "function"],
  ],
  c: [
    [/^()(?:struct|union)\s+([A-Za-z_]\w*)\s*\{/, "struct"],
    [/^()(?:typedef\s+)?enum\s+([A-Za-z_]\w*)/, "enum"],
    [/^()(?:static\s+|inline\s+|extern\s+)*[A-Za-z_][\w\s*]*?\b([A-Za-z_]\w*)\s*\([^;]*$/, "function"],
  ],
  kotlin: [
    [/^(\s*)(?:(?:public|private|internal|data|sealed|open|abstract)\s+)*class\s+([A-Za-z_]\w*)/, "class"],
    [/^(\s*)(?:(?:public|private|internal|override|suspend|inline)\s+)*fun\s+(?:<[^>]*>\s*)?([A-Za-z_][\w.]*)/, "function"],
  ],
  swift: [
    [/^(\s*)(?:(?:public|private|internal|final|open)\s+)*(?:class|struct|enum|protocol|extension)\s+([A-Za-z_]\w*)/, "class"],
    [/^(\s*)(?:(?:public|private|internal|static|override|mutating)\s+)*func\s+([A-Za-z_]\w*)/, "function"],
  ],
  lua: [[/^(\s*)(?:local\s+)?function\s+([A-Za-z_][\w.:]*)/, "function"]],
  elixir: [
    [/^(\s*)defmodule\s+([A-Z][\w.]*)/, "module"],
    [/^(\s*)defp?\s+([a-z_]\w*[?!]?)/, "function"],
  ],
  dockerfile: [[/^()FROM\s+\S+(?:\s+AS\s+(\S+))/i, "module"]],
  ini: [[/^()\[([^\]]+)\]/, "module"]],
  toml: [[/^()\[\[?([^\]]+)\]\]?/, "module"]],
  makefile: [[/^()([A-Za-z0-9_.\-/%$()]+)\s*:(?!=)/, "function"]],
};
RULES.cpp = RULES.c!.concat([[/^(\s*)class\s+([A-Za-z_]\w*)/, "class"], [/^(\s*)namespace\s+([A-Za-z_]\w*)/, "module"]]);
RULES.csharp = RULES.java!;
RULES.scala = [
  [/^(\s*)(?:case\s+)?(?:class|object|trait)\s+([A-Za-z_]\w*)/, "class"],
  [/^(\s*)def\s+([A-Za-z_]\w*)/, "function"],
];

/** The languages this outline covers. */
export const OUTLINE_LANGUAGES = [...Object.keys(RULES), "markdown"];

export function outline(language: string, text: string): OutlineSymbol[] {
  const lines = text.split(/\r?\n/);
  const symbols: OutlineSymbol[] = [];
  if (language === "markdown") {
    let fence = false;
    lines.forEach((line, i) => {
      if (/^\s*(```|~~~)/.test(line)) fence = !fence;
      const m = !fence && /^(#{1,6})\s+(.+?)\s*#*\s*$/.exec(line);
      if (m) symbols.push({ name: m[2]!, kind: "heading", line: i + 1, column: m[1]!.length + 2, depth: m[1]!.length });
    });
    return symbols;
  }
  const rules = RULES[language];
  if (!rules) return symbols;
  lines.forEach((line, i) => {
    if (line.length > 500) return;
    for (const [pattern, kind] of rules) {
      const m = pattern.exec(line);
      if (m && m[2]) {
        const name = m[2];
        if (kind === "function" && /^(if|for|while|switch|return|else|sizeof)$/.test(name)) continue;
        symbols.push({ name, kind, line: i + 1, column: line.indexOf(name, m[1]!.length) + 1, depth: m[1]!.replace(/\t/g, "    ").length });
        break;
      }
    }
  });
  return symbols;
}
