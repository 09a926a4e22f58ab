import { describe, expect, it } from "vitest";

import { ApiError } from "../api/client";
import { describeUserAgent } from "./Account";
import { pickOrg } from "./Dashboard";
import { roleAtLeast, type Org } from "./data";
import { loginErrorMessage } from "./Login";
import { assignableRoles, summarizeDetail } from "./OrgAdmin";
import { parseExpiryDays, validateEmail, validateNewPassword } from "./validation";

const org = (slug: string, id = `id-${slug}`): Org => ({
  id,
  slug,
  name: slug,
  role: "owner",
  created_at: "2026-11-22T00:00:00Z",
  updated_at: "2026-11-22T00:00:00Z",
});

describe("validation", () => {
  it("checks e-mail addresses", () => {
    expect(validateEmail("")).toMatch(/Enter/);
    expect(validateEmail("ada")).toMatch(/such as/);
    expect(validateEmail(" ada@example.com ")).toBeNull();
  });

  it("checks new passwords like the server", () => {
    expect(validateNewPassword("short")).toMatch(/10 characters/);
    expect(validateNewPassword("aaaaaaaaaaaa")).toMatch(/4 different/);
    expect(validateNewPassword("ada@example.com", "ada@example.com")).toMatch(/e-mail/);
    expect(validateNewPassword("correct horse battery staple")).toBeNull();
  });

  it("parses token expiry", () => {
    expect(parseExpiryDays("never")).toEqual({ days: null, error: null });
    expect(parseExpiryDays("90")).toEqual({ days: 90, error: null });
    expect(parseExpiryDays("0").error).toMatch(/between/);
    expect(parseExpiryDays("4000").error).toMatch(/between/);
  });
});

describe("roles", () => {
  it("orders roles", () => {
    expect(roleAtLeast("admin", "developer")).toBe(true);
    expect(roleAtLeast("viewer", "developer")).toBe(false);
    expect(roleAtLeast(null, "viewer")).toBe(false);
  });

  it("lets owners manage owners and admins the rest", () => {
    expect(assignableRoles("owner")).toEqual(["viewer", "developer", "admin", "owner"]);
    expect(assignableRoles("admin")).toEqual(["viewer", "developer", "admin"]);
    expect(assignableRoles("developer")).toEqual([]);
  });
});

describe("dashboard", () => {
  const orgs = [org("default"), org("acme")];
  it("picks the org from the URL, then memory, then the first", () => {
    expect(pickOrg(orgs, "acme", "default")?.slug).toBe("acme");
    expect(pickOrg(orgs, "id-acme", null)?.slug).toBe("acme");
    expect(pickOrg(orgs, "gone", "acme")?.slug).toBe("acme");
    expect(pickOrg(orgs, null, "gone")?.slug).toBe("default");
    expect(pickOrg([], null, null)).toBeUndefined();
  });
});

describe("messages", () => {
  it("explains login failures", () => {
    const problem = (status: number, code: string) =>
      new ApiError(status, { type: "", title: "", status, detail: code, code, field: null }, "");
    expect(loginErrorMessage(problem(401, "invalid_credentials"))).toBe("Wrong e-mail or password.");
    expect(loginErrorMessage(problem(429, "too_many_attempts"), 30)).toBe("Too many failed attempts. Try again in 30 s.");
    expect(loginErrorMessage(problem(429, "too_many_attempts"))).toMatch(/in a minute/);
  });

  it("names devices and summarises audit details", () => {
    expect(describeUserAgent("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/140.0 Safari/537.36")).toBe(
      "Chrome on Linux",
    );
    expect(describeUserAgent("curl/8.5.0")).toBe("curl");
    expect(describeUserAgent(null)).toBe("Unknown device");
    expect(summarizeDetail({ job: "j1", summary: { files: 3 }, empty: null })).toBe('job: j1, summary: {"files":3}');
  });
});
