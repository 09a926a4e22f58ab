// An inline diff of one file under its row in the source-control view: the
// structured hunks of `GET …/git/diff?path=&staged=`, line numbers on both sides.
import { ide } from "../search/actions";
import { useGitDiff } from "./queries";

const MAX_LINES = 400;

export function DiffPreview({ projectId, path, staged }: { projectId: string; path: string; staged: boolean }) {
  const diff = useGitDiff(projectId, path, staged);
  if (diff.isPending) return <div className="git-diff-note" role="status">Loading diff…</div>;
  if (diff.isError) return <div className="panel-error" role="alert">{diff.error.message}</div>;
  const file = diff.data.files.find((candidate) => candidate.path === path) ?? diff.data.files[0];
  if (!file) return <div className="git-diff-note">No differences.</div>;
  if (file.binary) return <div className="git-diff-note">Binary file; no text diff.</div>;
  return (
    <div className="git-diff" role="group" aria-label={`Diff of ${path}${staged ? " (staged)" : ""}`}>
      <div className="git-diff-summary">
        <span className="git-add">+{file.additions}</span> <span className="git-del">−{file.deletions}</span>
        <button type="button" className="link-button" onClick={() => ide.openGitDiff(path, staged)}>
          Open in diff editor
        </button>
      </div>
      <HunkTable hunks={file.hunks} maxLines={MAX_LINES} truncated={diff.data.truncated} note="The diff is longer than shown; open it in the diff editor." />
    </div>
  );
}

/** One line of a hunk, as the server's structured diffs give it. */
interface HunkLine {
  kind: string;
  old_line?: number | null;
  new_line?: number | null;
  content: string;
}

/**
 * A file's hunks as a table with line numbers on both sides, at most `maxLines` lines;
 * `note` is shown under it when lines were left out (or the server's diff was `truncated`).
 */
export function HunkTable({ hunks, maxLines, truncated = false, note }: { hunks: { header: string; lines: HunkLine[] }[]; maxLines: number; truncated?: boolean; note: string }) {
  let shown = 0;
  let cut = false;
  return (
    <>
      <table className="git-diff-table">
        <tbody>
          {hunks.map((hunk, hunkIndex) => {
            if (cut) return null;
            const rows = [
              <tr key={`h${hunkIndex}`} className="git-hunk-header">
                <td colSpan={4}>{hunk.header.trim()}</td>
              </tr>,
            ];
            for (const [lineIndex, line] of hunk.lines.entries()) {
              if (shown >= maxLines) {
                cut = true;
                break;
              }
              shown += 1;
              const sign = line.kind === "add" ? "+" : line.kind === "delete" ? "−" : " ";
              rows.push(
                <tr key={`${hunkIndex}:${lineIndex}`} className={`git-line git-line-${line.kind}`}>
                  <td className="git-ln">{line.old_line ?? ""}</td>
                  <td className="git-ln">{line.new_line ?? ""}</td>
                  <td className="git-sign" aria-hidden="true">{sign}</td>
                  <td className="git-code">
                    {line.kind === "add" ? <span className="visually-hidden">added: </span> : line.kind === "delete" ? <span className="visually-hidden">deleted: </span> : null}
                    {line.content.replace(/\r?\n$/, "")}
                  </td>
                </tr>,
              );
            }
            return rows;
          })}
        </tbody>
      </table>
      {cut || truncated ? <div className="git-diff-note">{note}</div> : null}
    </>
  );
}
