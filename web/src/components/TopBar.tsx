// The bar at the top of every screen outside the IDE: the Dockyard home link,
// the main navigation, an org switcher and the user menu (account, log out).
// It only renders what it is given; `screens/AppShell.tsx` wires it to the API.
import type { ReactNode } from "react";
import { Link } from "wouter";

import { MenuButton, type MenuItem } from "./Menu";

export interface TopBarOrg {
  id: string;
  slug: string;
  name: string;
}

export interface TopBarProps {
  user: { name: string; email: string };
  orgs: TopBarOrg[];
  /** The org the screen is about, if any (shown in the switcher). */
  currentOrg?: TopBarOrg | null;
  /** Which main link is current: the dashboard or the account page. */
  current?: "projects" | "account" | "org" | null;
  onSelectOrg: (org: TopBarOrg) => void;
  onNavigate: (path: string) => void;
  onLogout: () => void;
  /** Extra items at the right, before the user menu. */
  children?: ReactNode;
}

/** Two letters for an avatar: "Ada Lovelace" → "AL". */
export function initials(name: string): string {
  const parts = name.trim().split(/\s+/).filter(Boolean);
  const letters = parts.length > 1 ? `${parts[0]![0]}${parts[parts.length - 1]![0]}` : (parts[0] ?? "?").slice(0, 2);
  return letters.toUpperCase();
}

export function TopBar({ user, orgs, currentOrg, current, onSelectOrg, onNavigate, onLogout, children }: TopBarProps) {
  const orgItems: MenuItem[] = orgs.map((org) => ({
    label: org.name,
    detail: org.id === currentOrg?.id ? "current" : org.slug,
    onSelect: () => onSelectOrg(org),
  }));
  orgItems.push({ label: "New organization…", onSelect: () => onNavigate("/?new-org=1") });
  const userItems: MenuItem[] = [
    { label: "Account settings", onSelect: () => onNavigate("/account") },
    ...(currentOrg ? [{ label: `${currentOrg.name} settings`, onSelect: () => onNavigate(`/orgs/${currentOrg.slug}`) }] : []),
    { label: "Log out", onSelect: onLogout },
  ];
  return (
    <header className="topbar">
      <Link href="/" className="topbar-brand" aria-label="Dockyard home">
        <svg viewBox="0 0 16 16" width="18" height="18" aria-hidden="true" focusable="false">
          <path fill="currentColor" d="M2 9h12l-1.6 4.2a1 1 0 0 1-.9.6H4.5a1 1 0 0 1-.9-.6L2 9Zm2-5h3v4H4V4Zm4 1h3v3H8V5Z" />
        </svg>
        <span>Dockyard</span>
      </Link>
      <nav className="topbar-nav" aria-label="Main">
        <Link href="/" className="topbar-link" aria-current={current === "projects" ? "page" : undefined}>
          Projects
        </Link>
        <MenuButton label="Switch organization" items={orgItems} align="start" className="topbar-orgs">
          <span className="topbar-org-name">{currentOrg?.name ?? "Organizations"}</span>
          <span aria-hidden="true" className="caret">▾</span>
        </MenuButton>
      </nav>
      <div className="topbar-spacer" />
      {children}
      <MenuButton
        label={`User menu for ${user.name}`}
        items={userItems}
        className="topbar-user"
        header={
          <>
            <div className="menu-header-name">{user.name}</div>
            <div className="menu-header-detail">{user.email}</div>
          </>
        }
      >
        <span className="avatar" aria-hidden="true">
          {initials(user.name)}
        </span>
        <span className="topbar-user-name">{user.name}</span>
      </MenuButton>
    </header>
  );
}
