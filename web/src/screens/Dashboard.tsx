// Placeholder until the screens engineer builds it.
export function DashboardScreen() {
  return <main className="screen"><h1>Dashboard</h1></main>;
}
