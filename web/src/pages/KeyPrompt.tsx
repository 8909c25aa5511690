/** Asks for the server's API key, once; kept for this tab unless "remember" is ticked. */
import { useState } from "react";

export function KeyPrompt({ wrong, onKey }: { wrong: boolean; onKey: (key: string, remember: boolean) => void }) {
  const [key, setKey] = useState("");
  const [remember, setRemember] = useState(false);
  return (
    <main id="main" className="narrow">
      <h1>CodeTether</h1>
      <form
        className="card"
        onSubmit={(e) => {
          e.preventDefault();
          if (key.trim()) onKey(key.trim(), remember);
        }}
      >
        <h2>API key</h2>
        <p role={wrong ? "alert" : undefined} className={wrong ? "error-text" : "muted"}>
          {wrong ? "That key was refused (401). Check CODETETHER_API_KEY on the server and try again." : "This server needs its API key (CODETETHER_API_KEY)."}
        </p>
        <label>
          Key
          <input type="password" autoComplete="current-password" value={key} onChange={(e) => setKey(e.target.value)} required />
        </label>
        <label className="inline">
          <input type="checkbox" checked={remember} onChange={(e) => setRemember(e.target.checked)} /> Remember on this browser
        </label>
        <button type="submit">Continue</button>
      </form>
    </main>
  );
}
