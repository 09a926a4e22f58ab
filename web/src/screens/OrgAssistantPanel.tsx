// The org settings' Assistant section (org admins): point the org at its own
// OpenAI-compatible endpoint (base URL, model, API key), or go back to the instance's.
// The key is write-only: the server only says whether one is set.
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState, type FormEvent } from "react";

import { api, unwrap, type Schemas } from "../api/client";
import { Button, FormError, TextField, errorMessage, formErrors, noErrors, toast, type FormErrors } from "../components";
import type { Org } from "./data";

type AssistantSettings = Schemas["AssistantSettingsDto"];

const settingsKey = (org: string) => ["assistant", "settings", org] as const;

export function OrgAssistantPanel({ org }: { org: Org }) {
  const client = useQueryClient();
  const settings = useQuery({
    queryKey: settingsKey(org.id),
    queryFn: () => unwrap(api.GET("/api/v1/orgs/{org}/assistant", { params: { path: { org: org.id } } })),
  });
  const [baseUrl, setBaseUrl] = useState("");
  const [model, setModel] = useState("");
  const [apiKey, setApiKey] = useState("");
  const [removeKey, setRemoveKey] = useState(false);
  const [errors, setErrors] = useState<FormErrors>(noErrors);
  const [busy, setBusy] = useState<"save" | "reset" | null>(null);

  const data = settings.data;
  useEffect(() => {
    if (!data) return;
    setBaseUrl(data.source === "org" ? (data.base_url ?? "") : "");
    setModel(data.source === "org" ? (data.model ?? "") : "");
  }, [data]);

  const done = (saved: AssistantSettings | null) => {
    if (saved) client.setQueryData(settingsKey(org.id), saved);
    void client.invalidateQueries({ queryKey: ["assistant", "settings"] });
    setApiKey("");
    setRemoveKey(false);
  };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const fields: Record<string, string> = {};
    if (!baseUrl.trim()) fields.base_url = "Enter the endpoint's base URL, e.g. https://api.openai.com/v1.";
    if (!model.trim()) fields.model = "Enter a model name.";
    if (Object.keys(fields).length) {
      setErrors({ fields, form: null });
      return;
    }
    setBusy("save");
    setErrors(noErrors);
    try {
      const body: Schemas["OrgAssistantBody"] = { base_url: baseUrl.trim(), model: model.trim(), ...(removeKey ? { api_key: "" } : apiKey ? { api_key: apiKey } : {}) };
      done(await unwrap(api.PUT("/api/v1/orgs/{org}/assistant", { params: { path: { org: org.id } }, body })));
      toast("Assistant endpoint saved");
    } catch (error) {
      setErrors(
        formErrors(error, {
          fields: ["base_url", "model", "api_key"],
          codes: { assistant_url_forbidden: "base_url", assistant_invalid_url: "base_url", assistant_invalid_model: "model", assistant_invalid_api_key: "api_key" },
        }),
      );
    } finally {
      setBusy(null);
    }
  };

  const useInstance = async () => {
    setBusy("reset");
    setErrors(noErrors);
    try {
      await unwrap(api.DELETE("/api/v1/orgs/{org}/assistant", { params: { path: { org: org.id } } }));
      done(null);
      toast("The org uses the instance's assistant again");
    } catch (error) {
      setErrors({ fields: {}, form: errorMessage(error) });
    } finally {
      setBusy(null);
    }
  };

  return (
    <section className="panel" aria-labelledby="assistant-title">
      <div className="panel-head">
        <h2 id="assistant-title">Assistant</h2>
      </div>
      <div className="panel-body">
        {settings.isPending ? (
          <p className="muted">Loading…</p>
        ) : settings.isError ? (
          <p className="form-error" role="alert">
            {errorMessage(settings.error)}
          </p>
        ) : (
          <>
            <p className="muted" aria-label="Assistant source">
              {data!.source === "org"
                ? `This org uses its own endpoint (model ${data!.model ?? "?"}${data!.has_api_key ? ", key set" : ", no key"}).`
                : data!.source === "instance"
                  ? `This org uses the instance's endpoint${data!.model ? ` (model ${data!.model})` : ""}. Set one below to use the org's own instead.`
                  : "No assistant endpoint: the chat and inline completions are off for this org until one is set here or in the server's config."}
            </p>
            <form className="form" onSubmit={submit} noValidate aria-label="Assistant endpoint">
              <TextField
                label="Base URL"
                name="base_url"
                className="mono"
                placeholder="https://api.openai.com/v1"
                hint="Any OpenAI-compatible /v1 API: OpenAI, a gateway, Ollama, vLLM, llama.cpp's server. It must pass the instance's outbound policy."
                value={baseUrl}
                onChange={(event) => setBaseUrl(event.target.value)}
                error={errors.fields.base_url}
              />
              <TextField label="Model" name="model" className="mono" value={model} onChange={(event) => setModel(event.target.value)} error={errors.fields.model} />
              <TextField
                label="API key"
                name="api_key"
                type="password"
                autoComplete="off"
                optional
                placeholder={data!.source === "org" && data!.has_api_key ? "Key set — leave empty to keep it" : ""}
                hint="Stored sealed and never shown again."
                value={apiKey}
                disabled={removeKey}
                onChange={(event) => setApiKey(event.target.value)}
                error={errors.fields.api_key}
              />
              {data!.source === "org" && data!.has_api_key && (
                <label className="org-assistant-check">
                  <input type="checkbox" checked={removeKey} onChange={(event) => setRemoveKey(event.target.checked)} /> Remove the stored key
                </label>
              )}
              <FormError message={errors.form} />
              <div className="org-assistant-actions">
                <Button type="submit" busy={busy === "save"}>
                  Save endpoint
                </Button>
                {data!.source === "org" && (
                  <Button type="button" variant="secondary" busy={busy === "reset"} onClick={() => void useInstance()}>
                    Use the instance's endpoint
                  </Button>
                )}
              </div>
            </form>
          </>
        )}
      </div>
    </section>
  );
}
