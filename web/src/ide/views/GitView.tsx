// The source-control sidebar view; the work is in ../git.
import type { ViewProps } from "../contract";
import { GitPanel } from "../git/GitPanel";

export function GitView({ projectId }: ViewProps) {
  return <GitPanel key={projectId} projectId={projectId} />;
}
