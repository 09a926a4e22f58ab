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

import { registerInlineCompletions } from "../assistant/inline";
import { buildLanguageTable, type LanguageTable } from "./languages";
import { OUTLINE_LANGUAGES, outline, type OutlineKind } from "./outline";

// The language workers (TypeScript's alone is about 7 MB of script) start once the page
// has been idle for a moment after the first editor asked for one, so that fetching and
// parsing them does not compete with the editor's first frames for the CPU on small
// machines. Monaco accepts a promised worker and queues its requests meanwhile.
let settled: Promise<void> | null = null;
function afterStartup(): Promise<void> {
  settled ??= new Promise((resolve) => {
    const whenIdle = () => (typeof requestIdleCallback === "function" ? requestIdleCallback(() => resolve(), { timeout: 2000 }) : setTimeout(resolve, 300));
    setTimeout(whenIdle, 300);
  });
  return settled;
}

self.MonacoEnvironment = {
  getWorker(_workerId: string, label: string) {
    switch (label) {
      case "json":
        return afterStartup().then(() => new JsonWorker());
      case "css":
      case "scss":
      case "less":
        return afterStartup().then(() => new CssWorker());
      case "html":
      case "handlebars":
      case "razor":
        return afterStartup().then(() => new HtmlWorker());
      case "typescript":
      case "javascript":
        return afterStartup().then(() => new TsWorker());
      default:
        return new EditorWorker();
    }
  },
};

// The workspace's dependencies are not in the browser, so TypeScript's semantic checks
// would flag every import: keep the syntax checks, drop the semantic ones. JSON allows
// comments and trailing commas (tsconfig.json, .vscode/*.json).
for (const defaults of [monaco.typescript.typescriptDefaults, monaco.typescript.javascriptDefaults]) {
  defaults.setDiagnosticsOptions({ noSemanticValidation: true, noSyntaxValidation: false });
  defaults.setCompilerOptions({
    target: monaco.typescript.ScriptTarget.ESNext,
    module: monaco.typescript.ModuleKind.ESNext,
    moduleResolution: monaco.typescript.ModuleResolutionKind.NodeJs,
    jsx: monaco.typescript.JsxEmit.Preserve,
    allowJs: true,
    allowNonTsExtensions: true,
    esModuleInterop: true,
  });
}
monaco.json.jsonDefaults.setDiagnosticsOptions({ validate: true, allowComments: true, trailingCommas: "ignore", enableSchemaRequest: false });

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

// Ghost-text completions from the built-in assistant (they ask only when it is configured and on).
registerInlineCompletions(monaco);

let table: LanguageTable | null = null;
export function languageTable(): LanguageTable {
  table ??= buildLanguageTable(monaco.languages.getLanguages());
  return table;
}

export { monaco };
export type Monaco = typeof monaco;

export interface SymbolCrumb {
  name: string;
  kind: string;
  line: number;
  column: number;
}

interface NavItem {
  text: string;
  kind: string;
  spans: { start: number; length: number }[];
  childItems?: NavItem[];
}

/**
 * The chain of symbols around a position (outermost first) for the symbol breadcrumbs:
 * TypeScript's navigation tree for TS/JS, the regex outline for the languages it covers.
 */
export async function symbolPath(model: monaco.editor.ITextModel, line: number, column: number): Promise<SymbolCrumb[]> {
  const language = model.getLanguageId();
  if (language === "typescript" || language === "javascript") {
    try {
      const getWorker = language === "typescript" ? monaco.typescript.getTypeScriptWorker : monaco.typescript.getJavaScriptWorker;
      const worker = await (await getWorker())(model.uri);
      const tree = (await worker.getNavigationTree(model.uri.toString())) as NavItem | undefined;
      if (!tree || model.isDisposed()) return [];
      const offset = model.getOffsetAt({ lineNumber: line, column });
      const chain: SymbolCrumb[] = [];
      let items = tree.childItems ?? [];
      for (;;) {
        const hit = items.find((item) => item.spans.some((span) => offset >= span.start && offset <= span.start + span.length));
        if (!hit) break;
        const at = model.getPositionAt(hit.spans[0]!.start);
        chain.push({ name: hit.text, kind: hit.kind, line: at.lineNumber, column: at.column });
        items = hit.childItems ?? [];
      }
      return chain;
    } catch {
      return [];
    }
  }
  if (!OUTLINE_LANGUAGES.includes(language)) return [];
  const symbols = outline(language, model.getValue());
  const chain: (SymbolCrumb & { depth: number })[] = [];
  for (const symbol of symbols) {
    if (symbol.line > line) break;
    while (chain.length && chain[chain.length - 1]!.depth >= symbol.depth) chain.pop();
    chain.push({ name: symbol.name, kind: symbol.kind, line: symbol.line, column: symbol.column, depth: symbol.depth });
  }
  // Drop a trailing symbol that ended before the line (its body is over): a sibling at
  // the same depth would have replaced it, so only markdown headings and indentation
  // languages need this, and there the depth already tells.
  if (language === "python" || language === "ruby") {
    const text = model.getLineContent(line);
    const indent = text.length - text.trimStart().length;
    while (chain.length > 0 && text.trim() && chain[chain.length - 1]!.depth >= indent && chain[chain.length - 1]!.line !== line) chain.pop();
  }
  return chain.map(({ depth: _depth, ...crumb }) => crumb);
}
