/**
 * A unified diff drawn as one table per file (react-diff-view), unified or side by
 * side, with syntax colour from refractor (Prism's grammars) for the languages it
 * knows. Loaded lazily: only a page that shows a diff pays for it.
 */
import { Diff, type FileData, Hunk, type HunkTokens, parseDiff, tokenize } from "react-diff-view";
import "react-diff-view/style/index.css";
import { useMemo } from "react";
import { refractor } from "refractor";

/** File extensions to Prism language names, where they differ. */
const languages: Record<string, string> = {
  ts: "typescript",
  tsx: "tsx",
  js: "javascript",
  mjs: "javascript",
  cjs: "javascript",
  jsx: "jsx",
  py: "python",
  rb: "ruby",
  rs: "rust",
  sh: "bash",
  yml: "yaml",
  md: "markdown",
  kt: "kotlin",
  cs: "csharp",
  h: "c",
  hpp: "cpp",
  cc: "cpp",
};

function languageOf(file: string): string | null {
  const ext = /\.([A-Za-z0-9]+)$/.exec(file)?.[1]?.toLowerCase();
  if (!ext) return null;
  const name = languages[ext] ?? ext;
  return refractor.registered(name) ? name : null;
}

/** react-diff-view speaks refractor's older API, whose `highlight` answered the root's children. */
const highlighter = { highlight: (text: string, language: string) => refractor.highlight(text, language).children };

function tokensOf(file: FileData): HunkTokens | undefined {
  const language = languageOf(file.newPath || file.oldPath);
  if (!language || file.hunks.length === 0) return undefined;
  try {
    return tokenize(file.hunks, { highlight: true, refractor: highlighter as never, language });
  } catch {
    return undefined; // a grammar that chokes on a fragment: the diff still shows, uncoloured
  }
}

export default function DiffView({ text, view }: { text: string; view: "unified" | "split" }) {
  const files = useMemo(() => parseDiff(text, { nearbySequences: "zip" }), [text]);
  const tokens = useMemo(() => files.map(tokensOf), [files]);
  return (
    <div className="diff-files">
      {files.map((file, i) => {
        const name = file.type === "delete" ? file.oldPath : file.newPath;
        return (
          <section key={`${file.oldPath}→${file.newPath}`} className="diff-file" id={`file-${encodeURIComponent(name)}`} aria-label={`Diff of ${name}`}>
            <h3 className="diff-file-head">
              <code>{file.type === "rename" ? `${file.oldPath} → ${file.newPath}` : name}</code> <span className="muted">{file.type}</span>
            </h3>
            {file.hunks.length === 0 ? (
              <p className="muted">{file.isBinary ? "Binary file: named here, not shown." : "No text changes (a mode or a rename only)."}</p>
            ) : (
              <div className="diff-scroll">
                <Diff viewType={view} diffType={file.type} hunks={file.hunks} tokens={tokens[i]}>
                  {(hunks) => hunks.map((hunk) => <Hunk key={hunk.content} hunk={hunk} />)}
                </Diff>
              </div>
            )}
          </section>
        );
      })}
    </div>
  );
}
