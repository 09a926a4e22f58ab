// The top-level routes. Screens are code-split: the IDE (and with it Monaco and
// xterm.js) loads only when a project is opened.
import { Suspense, lazy, useEffect, useState } from "react";
import { Redirect, Route, Switch, useLocation } from "wouter";

import { isIdeRoute, loadIde, loadedIde, preloadIde } from "./preload";
import { useMe, useSetupStatus } from "./session";

const SetupScreen = lazy(() => import("../screens/Setup").then((m) => ({ default: m.SetupScreen })));
const LoginScreen = lazy(() => import("../screens/Login").then((m) => ({ default: m.LoginScreen })));
const DashboardScreen = lazy(() => import("../screens/Dashboard").then((m) => ({ default: m.DashboardScreen })));
const AccountScreen = lazy(() => import("../screens/Account").then((m) => ({ default: m.AccountScreen })));
const OrgAdminScreen = lazy(() => import("../screens/OrgAdmin").then((m) => ({ default: m.OrgAdminScreen })));
const LazyIdeScreen = lazy(() => loadIde().then((m) => ({ default: m.IdeScreen })));

/** The IDE route: the module directly when the preload has already run it, else lazily. */
function IdeRoute({ projectId }: { projectId: string }) {
  // Chosen once per mount: switching component types later would remount the IDE.
  const [Screen] = useState(() => loadedIde()?.IdeScreen ?? LazyIdeScreen);
  return <Screen projectId={projectId} />;
}

export function Loading({ label = "Loading" }: { label?: string }) {
  return (
    <div className="loading" role="status" aria-live="polite">
      {label}…
    </div>
  );
}

export function App() {
  const setup = useSetupStatus();
  const me = useMe();
  const [location] = useLocation();
  useEffect(() => {
    if (isIdeRoute(location)) preloadIde();
  }, [location]);

  if (setup.isPending || me.isPending) return <Loading />;
  if (setup.isError || me.isError) {
    return (
      <div role="alert" className="fatal">
        Dockyard's API is not answering: {String(setup.error ?? me.error)}
      </div>
    );
  }
  if (setup.data.needs_setup) {
    return (
      <Suspense fallback={<Loading />}>
        {location === "/setup" ? <SetupScreen /> : <Redirect to="/setup" />}
      </Suspense>
    );
  }
  if (!me.data) {
    return (
      <Suspense fallback={<Loading />}>
        {location === "/login" ? <LoginScreen /> : <Redirect to="/login" />}
      </Suspense>
    );
  }
  return (
    <Suspense fallback={<Loading />}>
      <Switch>
        <Route path="/" component={DashboardScreen} />
        <Route path="/account" component={AccountScreen} />
        <Route path="/orgs/:org">{(params) => <OrgAdminScreen orgId={params.org} />}</Route>
        <Route path="/p/:project">{(params) => <IdeRoute projectId={params.project} />}</Route>
        <Route path="/setup">
          <Redirect to="/" />
        </Route>
        <Route path="/login">
          <Redirect to="/" />
        </Route>
        <Route>
          <main className="screen">
            <h1>Not found</h1>
            <a href="/">Back to the dashboard</a>
          </main>
        </Route>
      </Switch>
    </Suspense>
  );
}
