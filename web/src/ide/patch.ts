// Rebuilds the old side of a file from its new side and the diff's hunks (git's
// structured diff): the diff editor needs both texts, the API serves only the new one.

export interface PatchLine {
  kind: string;
  content: string;
}

export interface PatchHunk {
  new_start: number;
  new_lines: number;
  lines: PatchLine[];
}

export function reverseHunks(newText: string, hunks: PatchHunk[]): string {
  const eol = newText.includes("\r\n") ? "\r\n" : "\n";
  const lines = newText.split(/\r?\n/);
  const out: string[] = [];
  let next = 0; // 0-based index into `lines` of the next line not yet copied
  const strip = (content: string) => content.replace(/\r?\n$/, "");
  for (const hunk of [...hunks].sort((a, b) => a.new_start - b.new_start)) {
    // new_start is 1-based; with new_lines 0 it names the line *before* the insertion point.
    const start = hunk.new_lines === 0 ? hunk.new_start : hunk.new_start - 1;
    while (next < start && next < lines.length) out.push(lines[next++]!);
    for (const line of hunk.lines) {
      if (line.kind === "context") {
        out.push(strip(line.content));
        next++;
      } else if (line.kind === "delete") {
        out.push(strip(line.content));
      } else if (line.kind === "add") {
        next++;
      }
    }
  }
  while (next < lines.length) out.push(lines[next++]!);
  return out.join(eol);
}
