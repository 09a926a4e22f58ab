// Shared UI primitives: generic, themed by the variables in styles/base.css, and
// styled by components.css (imported here, so importing any primitive brings it).
import "./components.css";

export { Button, type ButtonProps, type ButtonVariant } from "./Button";
export { ConfirmDialog, type ConfirmDialogProps } from "./ConfirmDialog";
export { CopyOnce, copyText, type CopyOnceProps } from "./CopyOnce";
export { Dialog, focusableIn, type DialogProps } from "./Dialog";
export { errorMessage, fieldMessage, formErrors, isStatus, noErrors, sentence, type FormErrors } from "./errors";
export { Field, FormError, TextField, type ControlProps, type FieldProps, type TextFieldProps } from "./Field";
export { formatBytes, formatCount, formatDateTime, plural, relativeTime } from "./format";
export { MenuButton, type MenuButtonProps, type MenuItem } from "./Menu";
export { ProgressBar, type ProgressBarProps } from "./ProgressBar";
export { Toaster, toast, useToasts, type ToastKind } from "./Toast";
export { TopBar, initials, type TopBarOrg, type TopBarProps } from "./TopBar";
