// Placeholder until the IDE engineer builds it.
export function IdeScreen({ projectId }: { projectId: string }) {
  return <main className="ide"><h1>Project {projectId}</h1></main>;
}
