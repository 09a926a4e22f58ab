// A virtualized ARIA tree of fixed-height rows: only the rows in view (plus a few) are
// in the DOM, so ten thousand results scroll smoothly. Focus stays on the tree; the
// active row is announced through aria-activedescendant and moved with the arrow keys,
// Home/End and PageUp/PageDown; Enter/Space activate it, Left/Right collapse/expand.
import { useEffect, useLayoutEffect, useRef, useState, type KeyboardEvent, type ReactNode } from "react";

import { treeKey } from "./treeKeys";

export interface TreeRow {
  key: string;
  level: number;
  /** Defined for rows that can be expanded and collapsed. */
  expanded?: boolean;
}

interface VirtualTreeProps<Row extends TreeRow> {
  rows: readonly Row[];
  label: string;
  rowHeight?: number;
  idPrefix: string;
  renderRow(row: Row, active: boolean): ReactNode;
  onActivate(row: Row, index: number): void;
  /** Expand (true) or collapse (false) a row that has `expanded`. */
  onToggle?(row: Row, expand: boolean): void;
  /** Extra keys, e.g. Delete to dismiss a row. */
  onKey?(row: Row, event: KeyboardEvent<HTMLDivElement>): void;
  className?: string;
}

const OVERSCAN = 8;

export function VirtualTree<Row extends TreeRow>({
  rows,
  label,
  rowHeight = 22,
  idPrefix,
  renderRow,
  onActivate,
  onToggle,
  onKey,
  className,
}: VirtualTreeProps<Row>) {
  const container = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [height, setHeight] = useState(400);
  const [active, setActive] = useState(0);

  useLayoutEffect(() => {
    const element = container.current;
    if (!element) return;
    setHeight(element.clientHeight || 400);
    const observer = new ResizeObserver(() => setHeight(element.clientHeight || 400));
    observer.observe(element);
    return () => observer.disconnect();
  }, []);

  // Keep the active row inside the list as it shrinks.
  const activeIndex = Math.min(active, Math.max(0, rows.length - 1));

  const reveal = (index: number) => {
    const element = container.current;
    if (!element) return;
    const top = index * rowHeight;
    if (top < element.scrollTop) element.scrollTop = top;
    else if (top + rowHeight > element.scrollTop + element.clientHeight) element.scrollTop = top + rowHeight - element.clientHeight;
  };

  useEffect(() => {
    if (rows.length === 0) setActive(0);
  }, [rows.length]);

  const move = (index: number) => {
    const next = Math.max(0, Math.min(rows.length - 1, index));
    setActive(next);
    reveal(next);
  };

  const onKeyDown = (event: KeyboardEvent<HTMLDivElement>) => {
    const row = rows[activeIndex];
    if (!row) return;
    const result = treeKey(event.key, rows, activeIndex, Math.floor(height / rowHeight) - 1);
    if (result.kind === "none") {
      onKey?.(row, event);
      return;
    }
    event.preventDefault();
    if (result.kind === "move") move(result.index);
    else if (result.kind === "toggle") onToggle?.(row, result.expand);
    else onActivate(row, activeIndex);
  };

  const first = Math.max(0, Math.floor(scrollTop / rowHeight) - OVERSCAN);
  const last = Math.min(rows.length, Math.ceil((scrollTop + height) / rowHeight) + OVERSCAN);
  const indexes: number[] = [];
  // The active row stays in the DOM so aria-activedescendant always points at it.
  if (activeIndex < first && rows.length > 0) indexes.push(activeIndex);
  for (let index = first; index < last; index += 1) indexes.push(index);
  if (activeIndex >= last && activeIndex < rows.length) indexes.push(activeIndex);
  const visible: ReactNode[] = [];
  for (const index of indexes) {
    const row = rows[index];
    if (!row) continue;
    const isActive = index === activeIndex;
    visible.push(
      <div
        key={row.key}
        id={`${idPrefix}-${index}`}
        role="treeitem"
        aria-level={row.level}
        aria-expanded={row.expanded}
        aria-selected={isActive}
        className={`vtree-row${isActive ? " active" : ""}`}
        style={{ top: index * rowHeight, height: rowHeight }}
        onClick={() => {
          setActive(index);
          onActivate(row, index);
        }}
      >
        {renderRow(row, isActive)}
      </div>,
    );
  }

  return (
    <div
      ref={container}
      role="tree"
      aria-label={label}
      tabIndex={0}
      aria-activedescendant={rows.length > 0 ? `${idPrefix}-${activeIndex}` : undefined}
      className={`vtree${className ? ` ${className}` : ""}`}
      onScroll={(event) => setScrollTop(event.currentTarget.scrollTop)}
      onKeyDown={onKeyDown}
    >
      <div className="vtree-spacer" style={{ height: rows.length * rowHeight }}>
        {visible}
      </div>
    </div>
  );
}
