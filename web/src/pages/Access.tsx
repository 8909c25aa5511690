/** Access (admins): the users and their roles, their API keys (made, shown once, revoked), and the audit trail. */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { useCan } from "../can.ts";
import { Empty, ErrorNote, Loading, ShownOnce, when } from "../components/bits.tsx";
import { useClient } from "../context.tsx";
import { keys, queries } from "../queries.ts";

const roles = ["admin", "member", "viewer", "worker"] as const;
type Role = (typeof roles)[number];

export function AccessPage() {
  const can = useCan();
  if (!can.admin) {
    return (
      <section>
        <h1>Access</h1>
        <Empty title="Only admins manage access">Ask an admin of this server for a key with the role you need.</Empty>
      </section>
    );
  }
  return (
    <section>
      <h1>Access</h1>
      <p className="muted">Who may use this server, with which keys and roles, and what was changed by whom.</p>
      <Keys />
      <Users />
      <Audit />
    </section>
  );
}

function Users() {
  const client = useClient();
  const queryClient = useQueryClient();
  const users = useQuery(queries(client).users());
  const [name, setName] = useState("");
  const [role, setRole] = useState<Role>("member");
  const refresh = () => queryClient.invalidateQueries({ queryKey: keys.users });
  const create = useMutation({
    mutationFn: () => client.trpc.access.createUser.mutate({ name, role }),
    onSuccess: () => {
      setName("");
      void refresh();
    },
  });
  const update = useMutation({
    mutationFn: (u: { id: string; changes: { role?: Role; disabled?: boolean } }) => client.trpc.access.updateUser.mutate(u),
    onSuccess: refresh,
  });
  return (
    <section aria-labelledby="users-title">
      <h2 id="users-title">Users</h2>
      <form
        className="card form filters"
        aria-label="Add a user"
        onSubmit={(e) => {
          e.preventDefault();
          create.mutate();
        }}
      >
        <label htmlFor="user-name">Name</label>
        <input id="user-name" value={name} onChange={(e) => setName(e.target.value)} required maxLength={100} />
        <label htmlFor="user-role">Role</label>
        <select id="user-role" value={role} onChange={(e) => setRole(e.target.value as Role)}>
          {roles.map((r) => (
            <option key={r}>{r}</option>
          ))}
        </select>
        <button type="submit" disabled={create.isPending}>
          Add user
        </button>
      </form>
      {create.error ? <ErrorNote error={create.error} /> : null}
      {users.isPending ? <Loading what="Loading users" /> : null}
      {users.error ? <ErrorNote error={users.error} /> : null}
      {users.data?.length === 0 ? <Empty title="No users yet">Add one above, then give them a key.</Empty> : null}
      {users.data && users.data.length > 0 ? (
        <div className="table-wrap">
          <table>
            <caption className="sr-only">Users</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Role</th>
                <th scope="col">Since</th>
                <th scope="col">State</th>
              </tr>
            </thead>
            <tbody>
              {users.data.map((u) => (
                <tr key={u.id}>
                  <td>{u.name}</td>
                  <td>
                    <select
                      aria-label={`Role of ${u.name}`}
                      value={u.role}
                      onChange={(e) => update.mutate({ id: u.id, changes: { role: e.target.value as Role } })}
                    >
                      {roles.map((r) => (
                        <option key={r}>{r}</option>
                      ))}
                    </select>
                  </td>
                  <td>{when(u.created_at)}</td>
                  <td>
                    <button type="button" className="link" onClick={() => update.mutate({ id: u.id, changes: { disabled: !u.disabled } })}>
                      {u.disabled ? "Disabled: enable" : "Active: disable"}
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  );
}

function Keys() {
  const client = useClient();
  const queryClient = useQueryClient();
  const list = useQuery(queries(client).apiKeys());
  const users = useQuery(queries(client).users());
  const [userId, setUserId] = useState("");
  const [name, setName] = useState("");
  const [shown, setShown] = useState<{ key: string; name: string } | null>(null);
  const refresh = () => {
    void queryClient.invalidateQueries({ queryKey: keys.apiKeys });
    void queryClient.invalidateQueries({ queryKey: keys.audit });
  };
  const create = useMutation({
    mutationFn: () => client.trpc.access.createKey.mutate({ user_id: userId || users.data?.[0]?.id, name }),
    onSuccess: (k) => {
      setShown({ key: k.key, name: k.name });
      setName("");
      refresh();
    },
  });
  const revoke = useMutation({ mutationFn: (id: string) => client.trpc.access.revokeKey.mutate({ id }), onSuccess: refresh });
  return (
    <section aria-labelledby="keys-title">
      <h2 id="keys-title">API keys</h2>
      {shown ? (
        <ShownOnce secret={shown.key} onDone={() => setShown(null)}>
          <strong>{shown.name}</strong>: copy the key now. It is shown this once; only its hash is kept.
        </ShownOnce>
      ) : null}
      {users.data && users.data.length > 0 ? (
        <form
          className="card form filters"
          aria-label="Create a key"
          onSubmit={(e) => {
            e.preventDefault();
            create.mutate();
          }}
        >
          <label htmlFor="key-user">For</label>
          <select id="key-user" value={userId} onChange={(e) => setUserId(e.target.value)}>
            {users.data.map((u) => (
              <option key={u.id} value={u.id}>
                {u.name} ({u.role})
              </option>
            ))}
          </select>
          <label htmlFor="key-name">Key name</label>
          <input id="key-name" value={name} onChange={(e) => setName(e.target.value)} required maxLength={100} placeholder="laptop, CI, ..." />
          <button type="submit" disabled={create.isPending}>
            Create key
          </button>
        </form>
      ) : (
        <p className="muted">Add a user below to give them a key.</p>
      )}
      {create.error ? <ErrorNote error={create.error} /> : null}
      {list.isPending ? <Loading what="Loading keys" /> : null}
      {list.error ? <ErrorNote error={list.error} /> : null}
      {list.data && list.data.length > 0 ? (
        <div className="table-wrap">
          <table>
            <caption className="sr-only">API keys</caption>
            <thead>
              <tr>
                <th scope="col">Key</th>
                <th scope="col">User</th>
                <th scope="col">Role</th>
                <th scope="col">Last used</th>
                <th scope="col">State</th>
              </tr>
            </thead>
            <tbody>
              {list.data.map((k) => (
                <tr key={k.id}>
                  <td>
                    {k.name} <code className="muted">ctk_{k.id}_…</code>
                  </td>
                  <td>{k.user_name}</td>
                  <td>{k.role}</td>
                  <td>{k.last_used_at ? when(k.last_used_at) : "never"}</td>
                  <td>
                    {k.revoked_at ? (
                      <span className="pill pill-cancelled">revoked</span>
                    ) : (
                      <button type="button" className="link" onClick={() => revoke.mutate(k.id)} title="Every server refuses it within a second">
                        Revoke
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  );
}

function Audit() {
  const client = useClient();
  const audit = useQuery(queries(client).audit());
  const users = useQuery(queries(client).users());
  const nameOf = (id: string | null) => users.data?.find((u) => u.id === id)?.name ?? id;
  return (
    <section aria-labelledby="audit-title">
      <h2 id="audit-title">Audit trail</h2>
      {audit.isPending ? <Loading what="Loading the audit trail" /> : null}
      {audit.error ? <ErrorNote error={audit.error} /> : null}
      {audit.data?.items.length === 0 ? <Empty title="Nothing changed yet">Every change made through this server shows here.</Empty> : null}
      {audit.data && audit.data.items.length > 0 ? (
        <div className="table-wrap">
          <table>
            <caption className="sr-only">The newest 100 changes</caption>
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">What</th>
                <th scope="col">Target</th>
                <th scope="col">By</th>
              </tr>
            </thead>
            <tbody>
              {audit.data.items.map((e) => (
                <tr key={e.id}>
                  <td>{when(e.at)}</td>
                  <td>{e.action}</td>
                  <td>
                    {e.target_type} <code className="muted">{e.target_id}</code>
                  </td>
                  <td>
                    {e.actor === "key" ? (
                      <>
                        {nameOf(e.user_id)} <code className="muted">{e.key_id}</code>
                      </>
                    ) : e.actor === "builtin" ? (
                      "the built-in key"
                    ) : (
                      e.actor
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  );
}
