/**
 * The shell: the key prompt when the server wants one, one navigation, and the
 * pages, each at its own deep link. Data comes through the SDK and TanStack Query;
 * lists refresh when the server says a codebase's stream moved (events.onActivity),
 * with a 10 s poll as a fallback.
 */
import { isUnauthorized } from "@codetether/sdk";
import { MutationCache, QueryCache, QueryClient, QueryClientProvider, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useMemo, useState } from "react";
import { Link, Redirect, Route, Switch, useLocation } from "wouter";
import { useCan } from "./can.ts";
import { makeClient, saveKey, storedKey } from "./client.ts";
import { ClientContext, useClient } from "./context.tsx";
import { AccessPage } from "./pages/Access.tsx";
import { AllSessionsPage } from "./pages/AllSessions.tsx";
import { CodebasesPage } from "./pages/Codebases.tsx";
import { KeyPrompt } from "./pages/KeyPrompt.tsx";
import { RunPage } from "./pages/Run.tsx";
import { SessionPage, SessionsPage } from "./pages/Sessions.tsx";
import { StatusPage } from "./pages/Status.tsx";
import { TaskPage, TasksPage } from "./pages/Tasks.tsx";
import { WebhooksPage } from "./pages/Webhooks.tsx";
import { WorkersPage } from "./pages/Workers.tsx";
import { queries, refreshFor } from "./queries.ts";

const nav = [
  ["/sessions", "Sessions"],
  ["/codebases", "Codebases"],
  ["/run", "Run"],
  ["/tasks", "Tasks"],
  ["/workers", "Workers"],
  ["/status", "Status"],
] as const;

export function App() {
  const [key, setKey] = useState(storedKey());
  const [needKey, setNeedKey] = useState<"missing" | "wrong" | null>(null);
  const client = useMemo(() => makeClient(key), [key]);
  const queryClient = useMemo(() => {
    const onError = (err: unknown) => {
      if (isUnauthorized(err)) setNeedKey(key ? "wrong" : "missing");
    };
    return new QueryClient({
      queryCache: new QueryCache({ onError }),
      mutationCache: new MutationCache({ onError }),
      defaultOptions: { queries: { refetchInterval: 10_000, retry: (n, err) => !isUnauthorized(err) && n < 2, staleTime: 2_000 } },
    });
  }, [key]);

  if (needKey) {
    return (
      <KeyPrompt
        wrong={needKey === "wrong"}
        onKey={(k, remember) => {
          saveKey(k, remember);
          setKey(k);
          setNeedKey(null);
        }}
      />
    );
  }
  return (
    <ClientContext.Provider value={client}>
      <QueryClientProvider client={queryClient}>
        <Shell
          onSignOut={() => {
            saveKey(null, false);
            setKey(undefined);
            setNeedKey("missing");
          }}
        />
      </QueryClientProvider>
    </ClientContext.Provider>
  );
}

/** One subscription for the whole app: when a codebase's stream moves, what shows it refreshes (see `refreshFor`). */
function useActivityRefresh() {
  const client = useClient();
  const queryClient = useQueryClient();
  useEffect(() => {
    const sub = client.trpc.events.onActivity.subscribe(undefined, {
      onData: (activity) =>
        refreshFor(
          queryClient,
          activity.codebases.map((c) => c.codebase_id),
        ),
    });
    return () => sub.unsubscribe();
  }, [client, queryClient]);
}

/** Who is signed in, and the way out: shown only when the server knows people by their keys. */
function WhoAmI({ onSignOut }: { onSignOut: () => void }) {
  const me = useQuery(queries(useClient()).me());
  if (!me.data || me.data.kind === "open") return null;
  return (
    <section className="who" aria-label="Signed in">
      <span>
        {me.data.user_name} · <span className="muted">{me.data.role}</span>
      </span>
      <button type="button" className="link" onClick={onSignOut}>
        Sign out
      </button>
    </section>
  );
}

function Shell({ onSignOut }: { onSignOut: () => void }) {
  const [location] = useLocation();
  const can = useCan();
  useActivityRefresh();
  return (
    <>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <Link href="/codebases" className="brand" aria-label="CodeTether home">
          CodeTether
        </Link>
        <nav aria-label="Main">
          {[
            ...nav,
            ...(can.admin
              ? ([
                  ["/webhooks", "Webhooks"],
                  ["/access", "Access"],
                ] as const)
              : []),
          ].map(([href, label]) => (
            <Link key={href} href={href} aria-current={location.startsWith(href) ? "page" : undefined}>
              {label}
            </Link>
          ))}
        </nav>
        <WhoAmI onSignOut={onSignOut} />
      </header>
      <main id="main">
        <Switch>
          <Route path="/">
            <Redirect to="/codebases" />
          </Route>
          <Route path="/sessions" component={AllSessionsPage} />
          <Route path="/codebases" component={CodebasesPage} />
          <Route path="/codebases/:id/sessions" component={SessionsPage} />
          <Route path="/codebases/:id/sessions/:sessionId" component={SessionPage} />
          <Route path="/run" component={RunPage} />
          <Route path="/run/:codebaseId" component={RunPage} />
          <Route path="/run/:codebaseId/:sessionId" component={RunPage} />
          <Route path="/tasks" component={TasksPage} />
          <Route path="/tasks/:id" component={TaskPage} />
          <Route path="/workers" component={WorkersPage} />
          <Route path="/status" component={StatusPage} />
          <Route path="/access" component={AccessPage} />
          <Route path="/webhooks" component={WebhooksPage} />
          <Route>
            <h1>Not found</h1>
            <p>
              Nothing lives at <code>{location}</code>. <Link href="/codebases">Go to the codebases</Link>.
            </p>
          </Route>
        </Switch>
      </main>
    </>
  );
}
