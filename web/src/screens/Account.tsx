// Placeholder until the screens engineer builds it.
export function AccountScreen() {
  return <main className="screen"><h1>Account</h1></main>;
}
