// Placeholder until the search view lands (owned by the panels engineer).
import type { ViewProps } from "../contract";

export function SearchView(_props: ViewProps) {
  return <div role="region" aria-label="Search">Search is not built yet.</div>;
}
