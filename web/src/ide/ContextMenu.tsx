// A context menu: role="menu" with menuitems, arrow keys / Home / End, Escape or a click
// outside closes it, focus returns to the opener.
import { useEffect, useLayoutEffect, useRef, useState } from "react";

export interface MenuItem {
  label: string;
  keybinding?: string;
  disabled?: boolean;
  danger?: boolean;
  run(): void;
}

export interface MenuState {
  x: number;
  y: number;
  label: string;
  items: (MenuItem | "separator")[];
}

export function ContextMenu({ menu, onClose }: { menu: MenuState; onClose(): void }) {
  const ref = useRef<HTMLDivElement>(null);
  const [pos, setPos] = useState({ left: menu.x, top: menu.y });

  useLayoutEffect(() => {
    const node = ref.current;
    if (!node) return;
    const rect = node.getBoundingClientRect();
    setPos({
      left: Math.max(0, Math.min(menu.x, window.innerWidth - rect.width - 4)),
      top: Math.max(0, Math.min(menu.y, window.innerHeight - rect.height - 4)),
    });
    node.querySelector<HTMLElement>('[role="menuitem"]:not([aria-disabled="true"])')?.focus();
  }, [menu]);

  useEffect(() => {
    const previous = document.activeElement as HTMLElement | null;
    const close = (event: Event) => {
      if (ref.current && event.target instanceof Node && ref.current.contains(event.target)) return;
      onClose();
    };
    window.addEventListener("mousedown", close, true);
    window.addEventListener("blur", onClose);
    window.addEventListener("resize", onClose);
    return () => {
      window.removeEventListener("mousedown", close, true);
      window.removeEventListener("blur", onClose);
      window.removeEventListener("resize", onClose);
      if (previous && document.contains(previous)) previous.focus();
    };
  }, [onClose]);

  function onKeyDown(event: React.KeyboardEvent) {
    const items = [...(ref.current?.querySelectorAll<HTMLElement>('[role="menuitem"]:not([aria-disabled="true"])') ?? [])];
    const at = items.indexOf(document.activeElement as HTMLElement);
    const focus = (i: number) => items[(i + items.length) % items.length]?.focus();
    if (event.key === "ArrowDown") focus(at + 1);
    else if (event.key === "ArrowUp") focus(at - 1);
    else if (event.key === "Home") focus(0);
    else if (event.key === "End") focus(items.length - 1);
    else if (event.key === "Escape" || event.key === "Tab") onClose();
    else return;
    event.preventDefault();
    event.stopPropagation();
  }

  return (
    <div ref={ref} role="menu" aria-label={menu.label} className="ide-menu" style={pos} onKeyDown={onKeyDown} onContextMenu={(e) => e.preventDefault()}>
      {menu.items.map((item, i) =>
        item === "separator" ? (
          <div key={i} role="separator" className="ide-menu-separator" />
        ) : (
          <div
            key={i}
            role="menuitem"
            tabIndex={-1}
            aria-disabled={item.disabled || undefined}
            className={item.danger ? "danger" : undefined}
            onClick={() => {
              if (item.disabled) return;
              onClose();
              item.run();
            }}
            onKeyDown={(e) => {
              if ((e.key === "Enter" || e.key === " ") && !item.disabled) {
                e.preventDefault();
                onClose();
                item.run();
              }
            }}
          >
            <span>{item.label}</span>
            {item.keybinding && <kbd>{item.keybinding}</kbd>}
          </div>
        ),
      )}
    </div>
  );
}
