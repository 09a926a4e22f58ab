// Streams a search as NDJSON (`Accept: application/x-ndjson`): hits are handed over in
// batches as they arrive; the caller's AbortSignal cancels the request.
import { ensureOk } from "../../api/client";
import { LineSplitter, parseSearchLine, searchParams, type SearchDone, type SearchHit, type SearchOptions } from "./model";

export interface StreamHandlers {
  onHits(hits: SearchHit[]): void;
  onDone(done: SearchDone): void;
}

export async function streamSearch(
  projectId: string,
  options: SearchOptions,
  max: number,
  signal: AbortSignal,
  handlers: StreamHandlers,
  fetchImpl: typeof fetch = fetch,
): Promise<void> {
  const url = `/api/v1/projects/${encodeURIComponent(projectId)}/search?${searchParams(options, max)}`;
  const response = await ensureOk(
    await fetchImpl(url, { headers: { accept: "application/x-ndjson" }, credentials: "same-origin", signal }),
  );
  const splitter = new LineSplitter();
  let finished: SearchDone | null = null;
  const handle = (lines: string[]) => {
    const hits: SearchHit[] = [];
    for (const line of lines) {
      const parsed = parseSearchLine(line);
      if (!parsed) continue;
      if ("done" in parsed) finished = parsed;
      else hits.push(parsed);
    }
    if (hits.length > 0) handlers.onHits(hits);
  };
  if (!response.body) {
    handle(splitter.push(await response.text()));
  } else {
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      handle(splitter.push(value));
    }
  }
  handle(splitter.flush());
  handlers.onDone(finished ?? { done: true, truncated: false, files_searched: 0 });
}
