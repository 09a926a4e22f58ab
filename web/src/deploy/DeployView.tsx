// The Deploy sidebar view and its activity-bar icon; the work is in DeployPanel.
import type { ViewProps } from "../ide/contract";
import { DeployPanel } from "./DeployPanel";

export function DeployView({ projectId }: ViewProps) {
  return <DeployPanel key={projectId} projectId={projectId} />;
}

/** A rocket. */
export function IconRocket() {
  return (
    <svg viewBox="0 0 24 24" width="24" height="24" aria-hidden="true" fill="none" stroke="currentColor" strokeWidth="1.5" strokeLinejoin="round">
      <path d="M12 2.5c3.5 2.2 5 5.8 5 9.5l-2 4H9l-2-4c0-3.7 1.5-7.3 5-9.5z" />
      <circle cx="12" cy="9.5" r="1.8" />
      <path d="M7 12l-3 3.5 3.5.5M17 12l3 3.5-3.5.5M10 18.5l2 3 2-3" />
    </svg>
  );
}
