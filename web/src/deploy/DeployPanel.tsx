// The Deploy sidebar view: the project's services (status of the latest deployment,
// URL), a New/Edit service form, and for the selected service its actions (Deploy,
// Stop/Start, Restart, Edit, Delete), the build plan, live metrics and deployments
// (step timings, cancel, roll back). Logs open in the Deploy logs panel (DeployLogs).
import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";

import { api, unwrap } from "../api/client";
import { Button, ConfirmDialog, errorMessage, formatBytes, relativeTime } from "../components";
import { canRollBackTo, currentDeployment, formatDuration, isInFlight, planSummary, statusTone, stepDurations } from "./model";
import { deploymentsKey, servicesKey, useDeployments, useMetrics, useRefreshDeploy, useServices, type Deployment, type Service } from "./queries";
import { ServiceForm } from "./ServiceForm";
import { useDeploy } from "./store";
import "../styles/panels.css";
import "../styles/deploy.css";

export function DeployPanel({ projectId }: { projectId: string }) {
  const services = useServices(projectId);
  const refresh = useRefreshDeploy(projectId);
  const selected = useDeploy((s) => s.selected);
  const [editing, setEditing] = useState<null | "new" | Service>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const client = useQueryClient();
  const list = services.data ?? [];
  const deployPending = useDeploy((s) => s.deployPending);

  // "Deploy: Deploy service" with nothing to pick: say so (a selected service's details take the request).
  useEffect(() => {
    if (!deployPending || !services.data) return;
    if (services.data.length === 0 || (services.data.length > 1 && !selected)) {
      useDeploy.getState().takeDeploy();
      setNotice(services.data.length === 0 ? "Create a service first, then deploy it." : "Select the service to deploy, then press its Deploy button.");
    }
  }, [deployPending, services.data, selected]);

  useEffect(() => {
    useDeploy.getState().reset(projectId);
  }, [projectId]);

  // Select the only service, and forget a deleted one.
  useEffect(() => {
    if (!services.data) return;
    if (selected && !services.data.some((s) => s.id === selected)) useDeploy.getState().select(null);
    else if (!selected && services.data.length === 1) useDeploy.getState().select(services.data[0]!.id);
  }, [services.data, selected]);

  return (
    <div className="deploy-view">
      <div className="ide-view-header">
        <h2>Deploy</h2>
        <div className="ide-view-actions">
          <button type="button" className="ide-icon-button" aria-label="New service" title="New service" onClick={() => setEditing("new")}>
            +
          </button>
          <button type="button" className="ide-icon-button" aria-label="Refresh services" title="Refresh" onClick={() => refresh()}>
            ⟳
          </button>
        </div>
      </div>
      <div className="deploy-scroll">
        {editing ? (
          <ServiceForm
            projectId={projectId}
            service={editing === "new" ? null : editing}
            onCancel={() => setEditing(null)}
            onDone={(saved) => {
              setEditing(null);
              client.setQueryData<Service[]>(servicesKey(projectId), (old) => (old ? (old.some((s) => s.id === saved.id) ? old.map((s) => (s.id === saved.id ? saved : s)) : [...old, saved]) : [saved]));
              refresh();
              useDeploy.getState().select(saved.id);
            }}
          />
        ) : null}
        {notice ? (
          <div className="panel-note" role="status">
            {notice}{" "}
            <button type="button" className="link-button" onClick={() => setNotice(null)}>
              Dismiss
            </button>
          </div>
        ) : null}
        {services.isError ? (
          <div className="panel-error" role="alert">
            {errorMessage(services.error)}
          </div>
        ) : null}
        {services.isPending ? <p className="deploy-muted deploy-pad">Loading services…</p> : null}
        {services.data && list.length === 0 && !editing ? (
          <div className="deploy-empty">
            <p>Nothing is deployed from this project yet. A service builds the workspace (or a git repository, or an image) and serves it at its own URL.</p>
            <Button onClick={() => setEditing("new")}>New service</Button>
          </div>
        ) : null}
        <ul className="deploy-services" role="list" aria-label="Services">
          {list.map((service) => (
            <ServiceItem key={service.id} projectId={projectId} service={service} expanded={selected === service.id} onEdit={() => setEditing(service)} />
          ))}
        </ul>
      </div>
    </div>
  );
}

function StatusBadge({ status }: { status: string | null | undefined }) {
  return <span className={`deploy-badge ${statusTone(status)}`}>{status ?? "not deployed"}</span>;
}

function ServiceItem({ projectId, service, expanded, onEdit }: { projectId: string; service: Service; expanded: boolean; onEdit(): void }) {
  const deployments = useDeployments(service.id);
  const latest = deployments.data?.[0] ?? null;
  const stopped = service.desired_state === "stopped";
  const status = stopped && latest?.status === "active" ? "stopped" : (latest?.status ?? null);
  const detailsId = `deploy-service-${service.id}`;
  return (
    <li className={`deploy-service${expanded ? " expanded" : ""}`} aria-label={`Service ${service.name}`}>
      <div className="deploy-service-row">
        <button
          type="button"
          className="deploy-service-name"
          aria-expanded={expanded}
          aria-controls={detailsId}
          onClick={() => useDeploy.getState().select(expanded ? null : service.id)}
        >
          <span className="twistie" aria-hidden="true">
            {expanded ? "▾" : "▸"}
          </span>
          {service.name}
        </button>
        <span role="status" aria-label={`${service.name} status: ${status ?? "not deployed"}`}>
          <StatusBadge status={status} />
        </span>
      </div>
      <a className="deploy-url" href={service.url} target="_blank" rel="noopener noreferrer" title={`Open ${service.url} in a new tab`}>
        {service.url.replace(/^https?:\/\//, "")}
      </a>
      {expanded ? (
        <div id={detailsId}>
          <ServiceDetails projectId={projectId} service={service} deployments={deployments.data ?? []} deploymentsError={deployments.error} onEdit={onEdit} />
        </div>
      ) : null}
    </li>
  );
}

type Action = "deploy" | "stop" | "start" | "restart";

function ServiceDetails({
  projectId,
  service,
  deployments,
  deploymentsError,
  onEdit,
}: {
  projectId: string;
  service: Service;
  deployments: Deployment[];
  deploymentsError: unknown;
  onEdit(): void;
}) {
  const client = useQueryClient();
  const refresh = useRefreshDeploy(projectId);
  const [busy, setBusy] = useState<Action | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [confirmDelete, setConfirmDelete] = useState(false);
  const current = currentDeployment(deployments);
  const stopped = service.desired_state === "stopped";
  const inFlight = deployments.some((d) => isInFlight(d.status));

  const deploy = async () => {
    setBusy("deploy");
    setError(null);
    try {
      const created = await unwrap(api.POST("/api/v1/services/{service}/deployments", { params: { path: { service: service.id } } }));
      client.setQueryData<Deployment[]>(deploymentsKey(service.id), (old) => [created, ...(old ?? []).filter((d) => d.id !== created.id)]);
      useDeploy.getState().openLogs({ serviceId: service.id, serviceName: service.name, deploymentId: created.id, number: created.number, mode: "build" });
      refresh(service.id);
    } catch (failure) {
      setError(errorMessage(failure));
    } finally {
      setBusy(null);
    }
  };

  // "Deploy: Deploy service" from the palette.
  const deployPending = useDeploy((s) => s.deployPending);
  useEffect(() => {
    if (deployPending && useDeploy.getState().takeDeploy()) void deploy();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [deployPending]);

  const power = async (action: "stop" | "start" | "restart") => {
    setBusy(action);
    setError(null);
    try {
      const params = { params: { path: { service: service.id } } };
      const saved = await unwrap(
        action === "stop"
          ? api.POST("/api/v1/services/{service}/stop", params)
          : action === "start"
            ? api.POST("/api/v1/services/{service}/start", params)
            : api.POST("/api/v1/services/{service}/restart", params),
      );
      client.setQueryData<Service[]>(servicesKey(projectId), (old) => old?.map((s) => (s.id === saved.id ? saved : s)));
      refresh(service.id);
    } catch (failure) {
      setError(errorMessage(failure));
    } finally {
      setBusy(null);
    }
  };

  return (
    <div className="deploy-details">
      <div className="deploy-actions" role="group" aria-label={`${service.name} actions`}>
        <Button className="deploy-small" busy={busy === "deploy"} disabled={busy !== null} onClick={() => void deploy()} aria-label={`Deploy ${service.name}`}>
          Deploy
        </Button>
        {stopped ? (
          <Button variant="secondary" className="deploy-small" busy={busy === "start"} disabled={busy !== null || !current} onClick={() => void power("start")} aria-label={`Start ${service.name}`}>
            Start
          </Button>
        ) : (
          <Button variant="secondary" className="deploy-small" busy={busy === "stop"} disabled={busy !== null || !current} onClick={() => void power("stop")} aria-label={`Stop ${service.name}`}>
            Stop
          </Button>
        )}
        <Button variant="secondary" className="deploy-small" busy={busy === "restart"} disabled={busy !== null || !current || stopped} onClick={() => void power("restart")} aria-label={`Restart ${service.name}`}>
          Restart
        </Button>
        <Button
          variant="secondary"
          className="deploy-small"
          onClick={() => useDeploy.getState().openLogs({ serviceId: service.id, serviceName: service.name, deploymentId: deployments[0]?.id ?? null, number: deployments[0]?.number ?? null, mode: current ? "runtime" : "build" })}
          aria-label={`Logs of ${service.name}`}
        >
          Logs
        </Button>
        <Button variant="ghost" className="deploy-small" onClick={onEdit} aria-label={`Edit ${service.name}`}>
          Edit
        </Button>
        <Button variant="ghost" className="deploy-small deploy-danger" onClick={() => setConfirmDelete(true)} aria-label={`Delete ${service.name}`}>
          Delete
        </Button>
      </div>
      {error ? (
        <div className="panel-error" role="alert">
          {error}
        </div>
      ) : null}
      <ServiceFacts service={service} deployments={deployments} />
      {current && !stopped ? <Metrics serviceId={service.id} /> : null}
      <h4 className="deploy-subtitle">
        Deployments {inFlight ? <span className="deploy-muted">(updating)</span> : null}
      </h4>
      {deploymentsError ? (
        <div className="panel-error" role="alert">
          {errorMessage(deploymentsError)}
        </div>
      ) : null}
      {deployments.length === 0 ? <p className="deploy-muted">No deployments yet. Press Deploy.</p> : null}
      <ol className="deploy-deployments" aria-label={`Deployments of ${service.name}`}>
        {deployments.map((d) => (
          <DeploymentItem key={d.id} projectId={projectId} service={service} deployment={d} current={current} />
        ))}
      </ol>
      <ConfirmDialog
        open={confirmDelete}
        title={`Delete ${service.name}?`}
        confirmLabel="Delete service"
        onClose={() => setConfirmDelete(false)}
        onConfirm={async () => {
          await unwrap(api.DELETE("/api/v1/services/{service}", { params: { path: { service: service.id } } }));
          const logs = useDeploy.getState().logs;
          if (logs?.serviceId === service.id) useDeploy.getState().closeLogs();
          client.setQueryData<Service[]>(servicesKey(projectId), (old) => old?.filter((s) => s.id !== service.id));
          refresh();
        }}
      >
        Its containers stop, and its deployments, logs and secrets are deleted. {service.url} stops answering.
      </ConfirmDialog>
    </div>
  );
}

function ServiceFacts({ service, deployments }: { service: Service; deployments: Deployment[] }) {
  const [plan, setPlan] = useState<{ text: string | null; error: string | null; busy: boolean }>({ text: null, error: null, busy: false });
  const fromDeployment = planSummary(deployments.find((d) => d.plan)?.plan);
  const source = service.source;
  const sourceText = source.type === "git" ? `${source.url} (${source.branch})` : source.type === "image" ? source.image : "Workspace";
  const detect = async () => {
    setPlan({ text: null, error: null, busy: true });
    try {
      const answer = await unwrap(api.GET("/api/v1/services/{service}/plan", { params: { path: { service: service.id } } }));
      setPlan({ text: planSummary(answer) ?? "Detected", error: null, busy: false });
    } catch (failure) {
      setPlan({ text: null, error: errorMessage(failure), busy: false });
    }
  };
  return (
    <dl className="deploy-facts">
      <dt>Source</dt>
      <dd>{sourceText}</dd>
      <dt>Port</dt>
      <dd>
        {service.port}
        {service.replicas > 1 ? ` · ${service.replicas} replicas` : ""}
        {service.health_check_path ? ` · health ${service.health_check_path}` : ""}
      </dd>
      {source.type !== "image" ? (
        <>
          <dt>Stack</dt>
          <dd>
            {plan.text ?? fromDeployment ?? <span className="deploy-muted">not detected yet</span>}{" "}
            {source.type === "workspace" ? (
              <button type="button" className="link-button" onClick={() => void detect()} disabled={plan.busy} aria-label="Detect the build plan">
                {plan.busy ? "Detecting…" : "Detect"}
              </button>
            ) : null}
            {plan.error ? (
              <span className="deploy-inline-error" role="alert">
                {plan.error}
              </span>
            ) : null}
          </dd>
        </>
      ) : null}
      {Object.keys(service.env).length > 0 ? (
        <>
          <dt>Env</dt>
          <dd className="deploy-env-list">
            {Object.entries(service.env).map(([key, v]) => (
              <span key={key} className="deploy-env-chip" title={v.secret ? "Secret (hidden)" : `${key}=${v.value ?? ""}`}>
                {key}={v.secret ? "••••••••" : v.value}
              </span>
            ))}
          </dd>
        </>
      ) : null}
    </dl>
  );
}

function Metrics({ serviceId }: { serviceId: string }) {
  const metrics = useMetrics(serviceId, true);
  if (metrics.isError) return <p className="deploy-muted">Metrics unavailable: {errorMessage(metrics.error)}</p>;
  if (!metrics.data) return null;
  if (metrics.data.length === 0) return <p className="deploy-muted">No instance is running.</p>;
  return (
    <table className="deploy-metrics" aria-label="Metrics per instance">
      <thead>
        <tr>
          <th scope="col">Instance</th>
          <th scope="col">CPU</th>
          <th scope="col">Memory</th>
          <th scope="col">Net in/out</th>
        </tr>
      </thead>
      <tbody>
        {metrics.data.map((m) => (
          <tr key={m.instance}>
            <td title={m.instance}>{m.instance.slice(0, 8)}</td>
            <td>{(m.cpu_cores * 100).toFixed(1)}%</td>
            <td>{formatBytes(m.memory_bytes)}</td>
            <td>
              {formatBytes(m.network_rx_bytes)} / {formatBytes(m.network_tx_bytes)}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

const STEP_LABEL = { queued: "queue", building: "build", starting: "start" } as const;

function DeploymentItem({ projectId, service, deployment: d, current }: { projectId: string; service: Service; deployment: Deployment; current: Deployment | null }) {
  const client = useQueryClient();
  const refresh = useRefreshDeploy(projectId);
  const [busy, setBusy] = useState<null | "cancel" | "rollback">(null);
  const [error, setError] = useState<string | null>(null);
  const live = isInFlight(d.status);
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!live) return;
    const timer = window.setInterval(() => setNow(Date.now()), 1000);
    return () => window.clearInterval(timer);
  }, [live]);
  const { steps, totalMs } = stepDurations(d.steps, d.status, now);
  const shownLogs = useDeploy((s) => s.logs?.mode === "build" && s.logs.deploymentId === d.id);

  const cancel = async () => {
    setBusy("cancel");
    setError(null);
    try {
      const updated = await unwrap(api.POST("/api/v1/deployments/{deployment}/cancel", { params: { path: { deployment: d.id } } }));
      client.setQueryData<Deployment[]>(deploymentsKey(service.id), (old) => old?.map((x) => (x.id === updated.id ? updated : x)));
      refresh(service.id);
    } catch (failure) {
      setError(errorMessage(failure));
    } finally {
      setBusy(null);
    }
  };
  const rollback = async () => {
    setBusy("rollback");
    setError(null);
    try {
      const created = await unwrap(api.POST("/api/v1/services/{service}/rollback", { params: { path: { service: service.id } }, body: { deployment_id: d.id } }));
      client.setQueryData<Deployment[]>(deploymentsKey(service.id), (old) => [created, ...(old ?? [])]);
      useDeploy.getState().openLogs({ serviceId: service.id, serviceName: service.name, deploymentId: created.id, number: created.number, mode: "build" });
      refresh(service.id);
    } catch (failure) {
      setError(errorMessage(failure));
    } finally {
      setBusy(null);
    }
  };

  return (
    <li className={`deploy-deployment${shownLogs ? " selected" : ""}`} aria-label={`Deployment #${d.number}, ${d.status}`}>
      <div className="deploy-deployment-row">
        <span className="deploy-number">#{d.number}</span>
        <StatusBadge status={d.status} />
        <span className="deploy-muted" title={new Date(d.created_at).toLocaleString()}>
          {d.source.type === "upload" ? `uploaded by the CLI (${d.source.files} files)` : d.trigger} · {relativeTime(d.created_at)}
        </span>
      </div>
      <div className="deploy-steps" aria-label="Step durations">
        {steps.map((s) => (
          <span key={s.step} className={s.running ? "running" : undefined}>
            {STEP_LABEL[s.step]} {formatDuration(s.ms)}
            {s.running ? "…" : ""}
          </span>
        ))}
        {totalMs !== null && !live ? <span className="deploy-total">total {formatDuration(totalMs)}</span> : null}
      </div>
      {d.error ? (
        <div className="deploy-inline-error" title={d.error.code}>
          {d.error.message || d.error.code}
        </div>
      ) : null}
      <div className="deploy-deployment-actions">
        {d.job_id ? (
          <button
            type="button"
            className="link-button"
            aria-label={`Show logs of deployment #${d.number}`}
            aria-pressed={shownLogs}
            onClick={() => useDeploy.getState().openLogs({ serviceId: service.id, serviceName: service.name, deploymentId: d.id, number: d.number, mode: "build" })}
          >
            Logs
          </button>
        ) : null}
        {live ? (
          <button type="button" className="link-button" aria-label={`Cancel deployment #${d.number}`} disabled={busy !== null || d.cancel_requested} onClick={() => void cancel()}>
            {d.cancel_requested ? "Cancelling…" : busy === "cancel" ? "Cancelling…" : "Cancel"}
          </button>
        ) : null}
        {canRollBackTo(d, current) ? (
          <button type="button" className="link-button" aria-label={`Roll back to deployment #${d.number}`} disabled={busy !== null} onClick={() => void rollback()}>
            {busy === "rollback" ? "Rolling back…" : "Roll back to this"}
          </button>
        ) : d.image_removed ? (
          <span className="deploy-muted" title="Dockyard keeps the images of the newest deployments that went live (deploy.keep_images); deploy again to rebuild.">
            Image removed
          </span>
        ) : null}
      </div>
      {error ? (
        <div className="deploy-inline-error" role="alert">
          {error}
        </div>
      ) : null}
    </li>
  );
}
