// The IDE actions the panels call (open a file, open a diff, tell the shell that files
// changed). The shell's store implements `IdeActions`; the panels call only these
// three, never the shell's internals (see ../contract.ts).
import type { OpenFileOptions } from "../contract";
import { useIde } from "../store";

export const ide = {
  openFile(path: string, options?: OpenFileOptions): void {
    useIde.getState().openFile(path, options);
  },
  openGitDiff(path: string, staged: boolean): void {
    useIde.getState().openGitDiff(path, staged);
  },
  filesChanged(paths?: string[]): void {
    useIde.getState().filesChanged(paths);
  },
};
