// Monaco, loaded lazily: only ever `import("./monaco")` this module (never statically
// from code on the first screen). It wires the workers through Vite's `?worker` imports,
// registers the regex outline as a symbol provider where Monaco has none, and answers
// the language table built from Monaco's own registry.
import * as monaco from "monaco-editor";
import EditorWorker from "monaco-editor/editor/editor.worker?worker";
import CssWorker from "monaco-editor/language/css/css.worker?worker";
import HtmlWorker from "monaco-editor/language/html/html.worker?worker";
import JsonWorker from "monaco-editor/language/json/json.worker?worker";
import TsWorker from "monaco-editor/language/typescript/ts.worker?worker";

import { buildLanguageTable, type LanguageTable } from "./languages";
import { OUTLINE_LANGUAGES, outline, type OutlineKind } from "./outline";

self.MonacoEnvironment = {
  getWorker(_workerId: string, label: string) {
    switch (label) {
      case "json":
        return new JsonWorker();
      case "css":
      case "scss":
      case "less":
        return new CssWorker();
      case "html":
      case "handlebars":
      case "razor":
        return new HtmlWorker();
      case "typescript":
      case "javascript":
        return new TsWorker();
      default:
        return new EditorWorker();
    }
  },
};

const KINDS: Record<OutlineKind, monaco.languages.SymbolKind> = {
  class: monaco.languages.SymbolKind.Class,
  function: monaco.languages.SymbolKind.Function,
  method: monaco.languages.SymbolKind.Method,
  struct: monaco.languages.SymbolKind.Struct,
  interface: monaco.languages.SymbolKind.Interface,
  enum: monaco.languages.SymbolKind.Enum,
  module: monaco.languages.SymbolKind.Module,
  constant: monaco.languages.SymbolKind.Constant,
  variable: monaco.languages.SymbolKind.Variable,
  heading: monaco.languages.SymbolKind.String,
  type: monaco.languages.SymbolKind.TypeParameter,
};

const known = new Set(monaco.languages.getLanguages().map((l) => l.id));
for (const language of OUTLINE_LANGUAGES) {
  if (!known.has(language)) continue;
  monaco.languages.registerDocumentSymbolProvider(language, {
    displayName: "Outline",
    provideDocumentSymbols(model) {
      const symbols = outline(language, model.getValue());
      // Nest by depth: each symbol's parent is the nearest earlier one with a smaller depth.
      const roots: monaco.languages.DocumentSymbol[] = [];
      const stack: { depth: number; symbol: monaco.languages.DocumentSymbol }[] = [];
      symbols.forEach((s, i) => {
        let end = model.getLineCount();
        for (let j = i + 1; j < symbols.length; j++) {
          if (symbols[j]!.depth <= s.depth) {
            end = Math.max(s.line, symbols[j]!.line - 1);
            break;
          }
        }
        const symbol: monaco.languages.DocumentSymbol = {
          name: s.name,
          detail: "",
          kind: KINDS[s.kind],
          tags: [],
          range: new monaco.Range(s.line, 1, end, model.getLineMaxColumn(end)),
          selectionRange: new monaco.Range(s.line, s.column, s.line, s.column + s.name.length),
          children: [],
        };
        while (stack.length && stack[stack.length - 1]!.depth >= s.depth) stack.pop();
        const parent = stack[stack.length - 1];
        if (parent) parent.symbol.children!.push(symbol);
        else roots.push(symbol);
        stack.push({ depth: s.depth, symbol });
      });
      return roots;
    },
  });
}

let table: LanguageTable | null = null;
export function languageTable(): LanguageTable {
  table ??= buildLanguageTable(monaco.languages.getLanguages());
  return table;
}

export { monaco };
export type Monaco = typeof monaco;
