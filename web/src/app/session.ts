// Who is signed in, and whether the instance still needs its first-run setup. Both come
// from GET /api/v1/auth/session, which answers 200 when nobody is signed in (a 401
// would be logged by the browser as a console error on every signed-out page load).
import { useQuery } from "@tanstack/react-query";

import { api, unwrap, type Schemas } from "../api/client";

export const sessionKeys = {
  me: ["me"] as const,
  setup: ["setup"] as const,
};

/** The signed-in user, or null when nobody is. */
export function useMe() {
  return useQuery({
    queryKey: sessionKeys.me,
    queryFn: async (): Promise<Schemas["UserDto"] | null> => (await unwrap(api.GET("/api/v1/auth/session"))).user ?? null,
  });
}

export function useSetupStatus() {
  return useQuery({
    queryKey: sessionKeys.setup,
    queryFn: async () => ({ needs_setup: (await unwrap(api.GET("/api/v1/auth/session"))).needs_setup }),
    staleTime: Infinity,
  });
}
