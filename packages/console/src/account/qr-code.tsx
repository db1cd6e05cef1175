/** A QR code drawn as one SVG path (no inline style: the colours are attributes). */
import { useMemo } from 'preact/hooks';
import { qrEncode } from './qr.js';

/** The quiet zone around the symbol, in modules. */
const QUIET = 4;

export function QrCode(props: { text: string; label: string }) {
  const symbol = useMemo(() => qrEncode(props.text), [props.text]);
  if (!symbol) return null;
  let d = '';
  symbol.modules.forEach((row, y) =>
    row.forEach((dark, x) => {
      if (dark) d += `M${x + QUIET} ${y + QUIET}h1v1h-1z`;
    }),
  );
  const side = symbol.size + 2 * QUIET;
  return (
    <svg
      class="qr"
      viewBox={`0 0 ${side} ${side}`}
      role="img"
      aria-label={props.label}
      shape-rendering="crispEdges"
    >
      <rect width={side} height={side} fill="#fff" />
      <path d={d} fill="#000" />
    </svg>
  );
}
