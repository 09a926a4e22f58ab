// The bottom panel's terminals; the work is in ../terminal (xterm.js loads on demand).
import type { ViewProps } from "../contract";
import { Terminals } from "../terminal/Terminals";

export function TerminalPanel({ projectId }: ViewProps) {
  return <Terminals key={projectId} projectId={projectId} />;
}
