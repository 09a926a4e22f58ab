// Placeholder until the screens engineer builds it.
export function SetupScreen() {
  return <main className="screen"><h1>Setup</h1></main>;
}
