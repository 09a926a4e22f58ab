// Who is signed in, and whether the instance still needs its first-run setup.
import { useQuery, useQueryClient } from "@tanstack/react-query";

import { ApiError, api, unwrap, type Schemas } from "../api/client";

export const sessionKeys = {
  me: ["me"] as const,
  setup: ["setup"] as const,
};

/** The signed-in user, or null when nobody is (401). */
export function useMe() {
  const queryClient = useQueryClient();
  return useQuery({
    queryKey: sessionKeys.me,
    queryFn: async (): Promise<Schemas["UserDto"] | null> => {
      // Before setup nobody exists: skip the 401, which Chromium logs as a console error.
      const setup = await queryClient.fetchQuery({
        queryKey: sessionKeys.setup,
        queryFn: () => unwrap(api.GET("/api/v1/setup")),
        staleTime: Infinity,
      });
      if (setup.needs_setup) return null;
      try {
        return await unwrap(api.GET("/api/v1/me"));
      } catch (error) {
        if (error instanceof ApiError && error.status === 401) return null;
        throw error;
      }
    },
  });
}

export function useSetupStatus() {
  return useQuery({
    queryKey: sessionKeys.setup,
    queryFn: () => unwrap(api.GET("/api/v1/setup")),
    staleTime: Infinity,
  });
}
