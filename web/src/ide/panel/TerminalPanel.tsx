// Placeholder until the terminals panel lands (owned by the panels engineer).
import type { ViewProps } from "../contract";

export function TerminalPanel(_props: ViewProps) {
  return <div role="region" aria-label="Terminals">Terminals are not built yet.</div>;
}
