// Placeholder until the source-control view lands (owned by the panels engineer).
import type { ViewProps } from "../contract";

export function GitView(_props: ViewProps) {
  return <div role="region" aria-label="Source control">Source control is not built yet.</div>;
}
