// The search sidebar view (search and replace across files); the work is in ../search.
import type { ViewProps } from "../contract";
import { SearchPanel } from "../search/SearchPanel";

export function SearchView({ projectId }: ViewProps) {
  return <SearchPanel key={projectId} projectId={projectId} />;
}
