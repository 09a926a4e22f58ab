// Maps file names to Monaco language ids with the table Monaco registers
// (`languages.getLanguages()`: extensions, file names, first lines), plus a few names
// Monaco does not know.

export interface LanguageEntry {
  id: string;
  extensions?: string[];
  filenames?: string[];
  aliases?: string[];
  firstLine?: string;
}

const EXTRA_FILENAMES: Record<string, string> = {
  makefile: "plaintext",
  "cargo.lock": "ini",
  ".gitignore": "plaintext",
  ".env": "ini",
  ".editorconfig": "ini",
};

const EXTRA_EXTENSIONS: Record<string, string> = {
  ".toml": "ini",
  ".lock": "plaintext",
  ".mk": "plaintext",
  ".tf": "hcl",
  ".cjs": "javascript",
  ".mts": "typescript",
  ".cts": "typescript",
  ".jsonc": "json",
};

export interface LanguageTable {
  byFilename: Map<string, string>;
  byExtension: Map<string, string>;
  firstLines: { pattern: RegExp; id: string }[];
  names: Map<string, string>;
}

export function buildLanguageTable(entries: LanguageEntry[]): LanguageTable {
  const table: LanguageTable = { byFilename: new Map(), byExtension: new Map(), firstLines: [], names: new Map() };
  for (const entry of entries) {
    table.names.set(entry.id, entry.aliases?.[0] ?? entry.id);
    for (const name of entry.filenames ?? []) if (!table.byFilename.has(name.toLowerCase())) table.byFilename.set(name.toLowerCase(), entry.id);
    for (const ext of entry.extensions ?? []) if (!table.byExtension.has(ext.toLowerCase())) table.byExtension.set(ext.toLowerCase(), entry.id);
    if (entry.firstLine) {
      try {
        table.firstLines.push({ pattern: new RegExp(entry.firstLine), id: entry.id });
      } catch {
        // Not a JavaScript regular expression: skip it.
      }
    }
  }
  for (const [name, id] of Object.entries(EXTRA_FILENAMES)) if (!table.byFilename.has(name)) table.byFilename.set(name, id);
  for (const [ext, id] of Object.entries(EXTRA_EXTENSIONS)) if (!table.byExtension.has(ext)) table.byExtension.set(ext, id);
  return table;
}

/** The language id for a path (and optionally its first line); "plaintext" when unknown. */
export function languageFor(table: LanguageTable, path: string, firstLine?: string): string {
  const name = (path.split("/").pop() ?? path).toLowerCase();
  const byName = table.byFilename.get(name);
  if (byName) return byName;
  // Longest extension first: "x.d.ts" tries ".d.ts" then ".ts".
  for (let dot = name.indexOf("."); dot >= 0; dot = name.indexOf(".", dot + 1)) {
    const id = table.byExtension.get(name.slice(dot));
    if (id) return id;
  }
  if (firstLine) for (const { pattern, id } of table.firstLines) if (pattern.test(firstLine)) return id;
  if (name === "dockerfile" || name.startsWith("dockerfile.")) return table.byExtension.has(".dockerfile") ? "dockerfile" : "plaintext";
  return "plaintext";
}

export function languageName(table: LanguageTable, id: string): string {
  return id === "plaintext" ? "Plain Text" : (table.names.get(id) ?? id);
}
