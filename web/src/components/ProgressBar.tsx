// A progress bar (`role="progressbar"`): determinate when `value` is a fraction
// from 0 to 1, indeterminate (an animated stripe, no `aria-valuenow`) when it is
// null. `valueText` is what screen readers announce ("1,204 files, 3.2 MB").
export interface ProgressBarProps {
  /** 0..1, or null when the total is not known. */
  value: number | null;
  /** The accessible name, e.g. "Import progress". */
  label: string;
  valueText?: string;
  tone?: "normal" | "success" | "danger";
  className?: string;
}

export function ProgressBar({ value, label, valueText, tone = "normal", className }: ProgressBarProps) {
  const percent = value === null ? null : Math.round(Math.min(1, Math.max(0, value)) * 100);
  return (
    <div
      className={["progress", `progress-${tone}`, percent === null ? "progress-indeterminate" : null, className]
        .filter(Boolean)
        .join(" ")}
      role="progressbar"
      aria-label={label}
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={percent ?? undefined}
      aria-valuetext={valueText}
    >
      <div className="progress-fill" style={percent === null ? undefined : { width: `${percent}%` }} />
    </div>
  );
}
