// Server data for the Deploy view: services, deployments, metrics and plans through
// the typed client, with the polling the view needs.
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";

import { api, unwrap, type Schemas } from "../api/client";
import { isInFlight } from "./model";

export type Service = Schemas["ServiceDto"];
export type Deployment = Schemas["DeploymentDto"];
export type InstanceMetrics = Schemas["InstanceMetricsDto"];

export const servicesKey = (projectId: string) => ["deploy", "services", projectId] as const;
export const deploymentsKey = (serviceId: string) => ["deploy", "deployments", serviceId] as const;

/** Whether the page is visible (polling pauses in a background tab). */
export function usePageVisible(): boolean {
  const [visible, setVisible] = useState(() => document.visibilityState !== "hidden");
  useEffect(() => {
    const update = () => setVisible(document.visibilityState !== "hidden");
    document.addEventListener("visibilitychange", update);
    return () => document.removeEventListener("visibilitychange", update);
  }, []);
  return visible;
}

export function useServices(projectId: string) {
  return useQuery({
    queryKey: servicesKey(projectId),
    queryFn: () => unwrap(api.GET("/api/v1/projects/{project}/services", { params: { path: { project: projectId } } })),
  });
}

/** A service's deployments, newest first; polled every 2 s while one is in flight. */
export function useDeployments(serviceId: string) {
  const visible = usePageVisible();
  return useQuery({
    queryKey: deploymentsKey(serviceId),
    queryFn: () => unwrap(api.GET("/api/v1/services/{service}/deployments", { params: { path: { service: serviceId }, query: { limit: 20 } } })),
    refetchInterval: (query) => (visible && (query.state.data ?? []).some((d) => isInFlight(d.status)) ? 2000 : false),
  });
}

/** Per-instance metrics every 5 s while shown and the service runs. */
export function useMetrics(serviceId: string, enabled: boolean) {
  const visible = usePageVisible();
  return useQuery({
    queryKey: ["deploy", "metrics", serviceId],
    queryFn: () => unwrap(api.GET("/api/v1/services/{service}/metrics", { params: { path: { service: serviceId } } })),
    enabled,
    refetchInterval: enabled && visible ? 5000 : false,
    retry: false,
  });
}

export function useRefreshDeploy(projectId: string) {
  const client = useQueryClient();
  return (serviceId?: string) => {
    void client.invalidateQueries({ queryKey: servicesKey(projectId) });
    if (serviceId) void client.invalidateQueries({ queryKey: deploymentsKey(serviceId) });
    else void client.invalidateQueries({ queryKey: ["deploy", "deployments"] });
  };
}
