// A labelled form control with an optional hint and an inline error. The error is
// tied to the control with `aria-describedby` and `aria-invalid`, so screen readers
// read it with the field.
//
//   <TextField label="E-mail" type="email" value={email} onChange={…} error={errors.email} />
//   <Field label="Role" error={…}>{(control) => <select {...control}>…</select>}</Field>
import { useId, type InputHTMLAttributes, type ReactNode, type Ref } from "react";

/** What a control needs to be tied to its label, hint and error. */
export interface ControlProps {
  id: string;
  "aria-invalid": boolean | undefined;
  "aria-describedby": string | undefined;
}

export interface FieldProps {
  label: ReactNode;
  /** A server or validation message shown under the control. */
  error?: string | null;
  /** Help shown under the label. */
  hint?: ReactNode;
  /** Marks the label with "(optional)". */
  optional?: boolean;
  className?: string;
  children: (control: ControlProps) => ReactNode;
}

export function Field({ label, error, hint, optional, className, children }: FieldProps) {
  const id = useId();
  const hintId = hint ? `${id}-hint` : undefined;
  const errorId = error ? `${id}-error` : undefined;
  const describedBy = [hintId, errorId].filter(Boolean).join(" ") || undefined;
  return (
    <div className={["field", error ? "field-invalid" : null, className].filter(Boolean).join(" ")}>
      <label htmlFor={id} className="field-label">
        {label}
        {optional ? <span className="field-optional"> (optional)</span> : null}
      </label>
      {hint ? (
        <div id={hintId} className="field-hint">
          {hint}
        </div>
      ) : null}
      {children({ id, "aria-invalid": error ? true : undefined, "aria-describedby": describedBy })}
      {error ? (
        <div id={errorId} className="field-error">
          {error}
        </div>
      ) : null}
    </div>
  );
}

export interface TextFieldProps extends Omit<InputHTMLAttributes<HTMLInputElement>, "id"> {
  label: ReactNode;
  error?: string | null;
  hint?: ReactNode;
  optional?: boolean;
  fieldClassName?: string;
  ref?: Ref<HTMLInputElement>;
}

/** A `Field` around an `<input>`; every input prop passes through. */
export function TextField({ label, error, hint, optional, fieldClassName, ...input }: TextFieldProps) {
  return (
    <Field label={label} error={error} hint={hint} optional={optional} className={fieldClassName}>
      {(control) => <input {...input} {...control} />}
    </Field>
  );
}

/** A form-level error (one not tied to a field), announced when it appears. */
export function FormError({ message }: { message: string | null | undefined }) {
  if (!message) return null;
  return (
    <div className="form-error" role="alert">
      {message}
    </div>
  );
}
