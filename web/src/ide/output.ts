// The Output panel's log: what the IDE did (saves, conflicts, failures), newest last.
import { create } from "zustand";

export interface OutputLine {
  at: Date;
  text: string;
}

export const useOutput = create<{ lines: OutputLine[] }>(() => ({ lines: [] }));

export function log(text: string): void {
  useOutput.setState((s) => ({ lines: [...s.lines.slice(-499), { at: new Date(), text }] }));
}
