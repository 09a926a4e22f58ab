// Placeholder until the screens engineer builds it.
export function OrgAdminScreen({ orgId }: { orgId: string }) {
  return <main className="screen"><h1>Org {orgId}</h1></main>;
}
