// A menu button (WAI-ARIA menu pattern): the button has `aria-haspopup="menu"` and
// `aria-expanded`; the menu is `role="menu"` with `menuitem`s. Enter, Space or
// ArrowDown opens it on the first item, ArrowUp on the last; arrows, Home and End
// move; Escape closes and returns focus to the button; Tab closes it.
//
//   <MenuButton label="Export" items={[{ label: "Zip", href: "/…", download: true }, { label: "Log out", onSelect: … }]} />
import { useEffect, useId, useRef, useState, type ReactNode } from "react";

export interface MenuItem {
  label: string;
  /** Shown after the label, dimmed (e.g. a file extension or a shortcut). */
  detail?: string;
  onSelect?: () => void;
  /** Makes the item a link. */
  href?: string;
  /** With `href`: download instead of navigating. */
  download?: boolean | string;
  danger?: boolean;
  disabled?: boolean;
}

export interface MenuButtonProps {
  /** The button's content. */
  children: ReactNode;
  /** The button's accessible name when its content is not text (an icon). */
  label?: string;
  items: MenuItem[];
  className?: string;
  /** Which edge of the button the menu lines up with. */
  align?: "start" | "end";
  /** Text at the top of the menu (not focusable), e.g. who is signed in. */
  header?: ReactNode;
}

export function MenuButton({ children, label, items, className, align = "end", header }: MenuButtonProps) {
  const [open, setOpen] = useState(false);
  const [active, setActive] = useState(0);
  const menuId = useId();
  const button = useRef<HTMLButtonElement>(null);
  const menu = useRef<HTMLDivElement>(null);
  const itemRefs = useRef<(HTMLElement | null)[]>([]);
  const enabled = items.map((item, index) => (item.disabled ? -1 : index)).filter((index) => index >= 0);

  const openAt = (index: number) => {
    setActive(index);
    setOpen(true);
  };
  const close = (refocus: boolean) => {
    setOpen(false);
    if (refocus) button.current?.focus();
  };

  useEffect(() => {
    if (open) itemRefs.current[active]?.focus();
  }, [open, active]);

  useEffect(() => {
    if (!open) return;
    const onPointerDown = (event: PointerEvent) => {
      const target = event.target as Node;
      if (!menu.current?.contains(target) && !button.current?.contains(target)) setOpen(false);
    };
    document.addEventListener("pointerdown", onPointerDown);
    return () => document.removeEventListener("pointerdown", onPointerDown);
  }, [open]);

  const move = (delta: number) => {
    if (enabled.length === 0) return;
    const position = enabled.indexOf(active);
    const next = enabled[(position + delta + enabled.length) % enabled.length]!;
    setActive(next);
  };

  const select = (item: MenuItem) => {
    close(!item.href);
    item.onSelect?.();
  };

  return (
    <div className={["menu-anchor", className].filter(Boolean).join(" ")}>
      <button
        ref={button}
        type="button"
        className="menu-button"
        aria-haspopup="menu"
        aria-expanded={open}
        aria-controls={open ? menuId : undefined}
        aria-label={label}
        onClick={() => (open ? close(false) : openAt(enabled[0] ?? 0))}
        onKeyDown={(event) => {
          if (event.key === "ArrowDown") {
            event.preventDefault();
            openAt(enabled[0] ?? 0);
          } else if (event.key === "ArrowUp") {
            event.preventDefault();
            openAt(enabled[enabled.length - 1] ?? 0);
          }
        }}
      >
        {children}
      </button>
      {open ? (
        <div
          ref={menu}
          id={menuId}
          role="menu"
          aria-label={label ?? (typeof children === "string" ? children : undefined)}
          className={`menu menu-${align}`}
          onKeyDown={(event) => {
            if (event.key === "ArrowDown") {
              event.preventDefault();
              move(1);
            } else if (event.key === "ArrowUp") {
              event.preventDefault();
              move(-1);
            } else if (event.key === "Home") {
              event.preventDefault();
              setActive(enabled[0] ?? 0);
            } else if (event.key === "End") {
              event.preventDefault();
              setActive(enabled[enabled.length - 1] ?? 0);
            } else if (event.key === "Escape") {
              event.preventDefault();
              event.stopPropagation();
              close(true);
            } else if (event.key === "Tab") {
              setOpen(false);
            }
          }}
        >
          {header ? <div className="menu-header">{header}</div> : null}
          {items.map((item, index) => {
            const common = {
              role: "menuitem",
              tabIndex: index === active ? 0 : -1,
              className: ["menu-item", item.danger ? "menu-item-danger" : null].filter(Boolean).join(" "),
              "aria-disabled": item.disabled || undefined,
              onMouseEnter: () => !item.disabled && setActive(index),
            } as const;
            const content = (
              <>
                <span>{item.label}</span>
                {item.detail ? <span className="menu-item-detail">{item.detail}</span> : null}
              </>
            );
            return item.href && !item.disabled ? (
              <a
                key={item.label}
                {...common}
                ref={(element) => {
                  itemRefs.current[index] = element;
                }}
                href={item.href}
                download={item.download === true ? "" : item.download || undefined}
                onClick={() => select(item)}
                onKeyDown={(event) => {
                  if (event.key === " ") {
                    event.preventDefault();
                    event.currentTarget.click();
                  }
                }}
              >
                {content}
              </a>
            ) : (
              <button
                key={item.label}
                {...common}
                ref={(element) => {
                  itemRefs.current[index] = element;
                }}
                type="button"
                disabled={item.disabled}
                onClick={() => select(item)}
              >
                {content}
              </button>
            );
          })}
        </div>
      ) : null}
    </div>
  );
}
