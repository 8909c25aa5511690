/**
 * The model catalogue as it is right now: what the server's OpenCode can run
 * and what each online worker reported, merged, with the product page's ten
 * models kept (marked unavailable when nothing runs them). Triggers and tasks
 * check their model against it.
 */

import { invalid } from "../../contracts/errors.js";
import type { Model, ModelList, RunnableModel, RunnerModels } from "../../contracts/models.js";
import { workers } from "../../db/schema.js";
import type { ServiceContext } from "../context.js";
import { isOnline } from "../tasks/workers.js";
import { catalogModels, catalogRecommended } from "./catalog.js";

/** `server` or a worker's name, with what it can run. */
interface Runner {
  where: string;
  models: RunnerModels;
}

const serverRunner = "server";

const noModelMessage =
  "No model can run: connect a provider (set ANTHROPIC_API_KEY or OPENAI_API_KEY, or point CODETETHER_OPENCODE_CONFIG at an opencode.json " +
  'with an OpenAI-compatible endpoint) and the list fills in; see the README\'s "Connect a model provider".';

/** The ids a runner can run, or null when it has not said (anything may be tried then). */
export function runnableIds(models: RunnerModels | null): string[] | null {
  return models ? models.models.map((m) => m.id) : null;
}

async function onlineWorkers(ctx: ServiceContext): Promise<Runner[]> {
  const rows = await ctx.database.db.select().from(workers);
  return rows.filter((r) => isOnline(r) && r.models).map((r) => ({ where: r.name, models: r.models! }));
}

/** Where each model can run, in the order the runners come (server first). */
function merge(runners: Runner[]): Map<string, { model: RunnableModel; where: string[] }> {
  const merged = new Map<string, { model: RunnableModel; where: string[] }>();
  for (const runner of runners) {
    for (const model of runner.models.models) {
      const entry = merged.get(model.id);
      if (entry) entry.where.push(runner.where);
      else merged.set(model.id, { model, where: [runner.where] });
    }
  }
  return merged;
}

export async function listModels({ ctx }: { ctx: ServiceContext }): Promise<ModelList> {
  const [server, remote] = await Promise.all([ctx.bridge.models.get(), onlineWorkers(ctx)]);
  const runners = [...(server ? [{ where: serverRunner, models: server }] : []), ...remote];
  const merged = merge(runners);

  // OpenCode's configured default first (the server's, then each worker's), then anything that runs.
  const defaults = runners.map((r) => r.models.default).filter((id): id is string => id !== null && merged.has(id));
  const fallback = merged.keys().next().value ?? null;
  const defaultModel = defaults[0] ?? fallback;
  const recommended = merged.has(catalogRecommended) ? catalogRecommended : defaultModel;

  const models: Model[] = [];
  for (const { model, where } of merged.values()) {
    const listed = catalogModels.find((c) => c.id === model.id);
    models.push({
      id: model.id,
      provider: model.provider,
      name: model.name,
      description: listed?.description ?? model.name,
      recommended: model.id === recommended,
      available: true,
      available_on: where,
      capabilities: model.capabilities,
      cost: model.cost,
    });
  }
  for (const listed of catalogModels) {
    if (merged.has(listed.id)) continue;
    models.push({ ...listed, recommended: false, available: false, available_on: [], capabilities: null, cost: null });
  }
  // Runnable first with the default at the top; the page's listed models keep their order after them.
  models.sort((a, b) => Number(b.id === defaultModel) - Number(a.id === defaultModel) || Number(b.available) - Number(a.available));

  const providers: Record<string, string[]> = {};
  for (const m of models) {
    providers[m.provider] ??= [];
    providers[m.provider]!.push(m.id);
  }
  const opencode = ctx.bridge.connection.status().state;
  const serverSilent =
    opencode === "starting" || opencode === "connecting"
      ? "The server's OpenCode is still starting: ask again in a moment."
      : "The server's OpenCode did not answer in time: its models are missing from this list.";
  const message =
    server === null ? (defaultModel === null ? `${serverSilent} ${noModelMessage}` : serverSilent) : defaultModel === null ? noModelMessage : undefined;
  return { models, providers, default: defaultModel, recommended, ...(message ? { message } : {}) };
}

/**
 * Refuses (422) a model none of `runners` can run, naming those that can. Runners
 * that have not reported their models are given the benefit of the doubt.
 */
export function requireRunnable(model: string | undefined | null, runners: (RunnerModels | null)[], where: string): void {
  if (!model || runners.length === 0 || runners.some((r) => r === null)) return;
  const known = runners as RunnerModels[];
  if (known.some((r) => r.models.some((m) => m.id === model))) return;
  const ids = [...new Set(known.flatMap((r) => r.models.map((m) => m.id)))];
  const shown = ids.slice(0, 20).join(", ") + (ids.length > 20 ? `, and ${ids.length - 20} more (GET /v1/opencode/models)` : "");
  throw invalid(
    ids.length === 0
      ? `Model "${model}" cannot run ${where}: no model provider is configured there. ${noModelMessage}`
      : `Model "${model}" cannot run ${where}. Models that can: ${shown}`,
  );
}
