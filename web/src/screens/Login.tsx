// Placeholder until the screens engineer builds it.
export function LoginScreen() {
  return <main className="screen"><h1>Login</h1></main>;
}
