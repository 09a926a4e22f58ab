// The frame of every signed-in screen outside the IDE: the top bar (wired to the
// signed-in user, their orgs and logout), the screen's content and the toasts.
import { useQueryClient } from "@tanstack/react-query";
import { useEffect, type ReactNode } from "react";
import { useLocation } from "wouter";

import { api, unwrap } from "../api/client";
import { sessionKeys, useMe } from "../app/session";
import { TopBar, Toaster, errorMessage, isStatus, toast, type TopBarOrg } from "../components";
import { useApplyTheme } from "../ide/settings";
import "../styles/screens.css";
import { useOrgs } from "./data";

export interface AppShellProps {
  /** The document title's first part. */
  title: string;
  current?: "projects" | "account" | "org" | null;
  currentOrg?: TopBarOrg | null;
  children: ReactNode;
  /** Wider content (tables). */
  wide?: boolean;
}

/** Signs out and forgets everything cached for the user; the app then shows the login screen. */
export function useLogout() {
  const queryClient = useQueryClient();
  return async () => {
    try {
      await unwrap(api.POST("/api/v1/auth/logout"));
    } catch (error) {
      // A session that already ended is as good as logged out.
      if (!isStatus(error, 401)) {
        toast(`Could not log out: ${errorMessage(error)}`, "error");
        return;
      }
    }
    queryClient.removeQueries({ predicate: (query) => query.queryKey[0] !== sessionKeys.me[0] && query.queryKey[0] !== sessionKeys.setup[0] });
    queryClient.setQueryData(sessionKeys.me, null);
  };
}

export function AppShell({ title, current = null, currentOrg = null, children, wide }: AppShellProps) {
  const me = useMe();
  const orgs = useOrgs();
  const [, navigate] = useLocation();
  const logout = useLogout();
  // The user's theme (stored with their editor settings) applies to these screens too.
  useApplyTheme(Boolean(me.data));
  useEffect(() => {
    document.title = `${title} · Dockyard`;
  }, [title]);
  const user = me.data;
  return (
    <div className="app-shell">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      {user ? (
        <TopBar
          user={user}
          orgs={orgs.data ?? []}
          currentOrg={currentOrg}
          current={current}
          onSelectOrg={(org) => navigate(`/?org=${encodeURIComponent(org.slug)}`)}
          onNavigate={navigate}
          onLogout={() => void logout()}
        />
      ) : null}
      <main id="main" className={wide ? "screen screen-wide" : "screen"} tabIndex={-1}>
        {children}
      </main>
      <Toaster />
    </div>
  );
}

/** The centred card of the setup and login screens. */
export function AuthLayout({ title, children }: { title: string; children: ReactNode }) {
  // Signed out: the theme this browser used last.
  useApplyTheme(false);
  useEffect(() => {
    document.title = `${title} · Dockyard`;
  }, [title]);
  return (
    <div className="auth-layout">
      <main className="auth-card" id="main">
        <div className="auth-brand" aria-hidden="true">
          <svg viewBox="0 0 16 16" width="28" height="28" focusable="false">
            <path fill="currentColor" d="M2 9h12l-1.6 4.2a1 1 0 0 1-.9.6H4.5a1 1 0 0 1-.9-.6L2 9Zm2-5h3v4H4V4Zm4 1h3v3H8V5Z" />
          </svg>
          <span>Dockyard</span>
        </div>
        {children}
      </main>
    </div>
  );
}
