/**
 * A device's telemetry over time, drawn with uPlot (a canvas; its style sheet is bundled into the
 * console's CSS file, and it styles its elements through the CSSOM, which the Content-Security-Policy
 * allows). One numeric key at a time, over the last hour (every reading: `GET …/telemetry`, page by
 * page; beyond MAX_POINTS readings, the averages per 10 s), the last 24 hours or the last 7 days (the average per bucket: `GET …/telemetry/aggregate`,
 * so a long range stays a few hundred points). Dragging across the chart zooms in; a double click
 * zooms out. The chart's container says how many points it holds (`data-points`), and a caption says
 * the same in words for those who cannot see the canvas.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { ApiProblem, api } from '../shared/api.js';
import { plural, problemText, when } from '../shared/messages.js';
import { Notice, SelectField } from '../shared/ui.js';

export interface Range {
  name: '1h' | '24h' | '7d';
  label: string;
  ms: number;
  /** Bucket width in seconds; none: every reading. */
  bucket?: number;
}

export const RANGES: readonly Range[] = [
  { name: '1h', label: '1 h', ms: 3_600_000 },
  { name: '24h', label: '24 h', ms: 86_400_000, bucket: 600 },
  { name: '7d', label: '7 d', ms: 7 * 86_400_000, bucket: 3600 },
];

/** Readings of the raw range read at most (pages of 500). */
const MAX_POINTS = 5000;

interface Series {
  key: string;
  range: Range;
  from: number;
  to: number;
  /** Seconds (uPlot's time scale) and values; null: a bucket without a number. */
  xs: number[];
  ys: (number | null)[];
  /** Averages per bucket of this many seconds; none: every reading. */
  bucket?: number;
}

/** Bucket width when the last hour has more readings than MAX_POINTS. */
const DENSE_BUCKET = 10;

async function readSeries(deviceId: string, key: string, range: Range): Promise<Series> {
  const to = Date.now();
  const from = to - range.ms;
  const averages = async (bucket: number): Promise<Series> => {
    const { items } = await api.aggregateTelemetry(deviceId, {
      key,
      from: String(from),
      to: String(to),
      bucket,
    });
    const sorted = [...items].sort((a, b) => a.start - b.start);
    return {
      key,
      range,
      from,
      to,
      bucket,
      xs: sorted.map((b) => b.start / 1000),
      ys: sorted.map((b) => b.avg),
    };
  };
  if (range.bucket) return averages(range.bucket);
  const points: { ts: number; value: number }[] = [];
  let cursor: string | undefined;
  do {
    const page = await api.getTelemetry(deviceId, {
      key,
      from: String(from),
      to: String(to),
      limit: 500,
      ...(cursor ? { cursor } : {}),
    });
    for (const p of page.items) if (typeof p.value === 'number') points.push({ ts: p.ts, value: p.value });
    cursor = page.nextCursor ?? undefined;
  } while (cursor && points.length < MAX_POINTS);
  // Too many to draw one by one (the API answers oldest first): the averages of short buckets.
  if (cursor) return averages(DENSE_BUCKET);
  points.sort((a, b) => a.ts - b.ts);
  return { key, range, from, to, xs: points.map((p) => p.ts / 1000), ys: points.map((p) => p.value) };
}

function summary(s: Series): string {
  const numbers = s.ys.filter((y): y is number => y !== null);
  const what = s.bucket
    ? `${plural(s.xs.length, 'average')} per ${s.bucket >= 3600 ? `${s.bucket / 3600} h` : s.bucket >= 60 ? `${s.bucket / 60} min` : `${s.bucket} s`}`
    : plural(s.xs.length, 'reading');
  const span = `from ${when(s.from)} to ${when(s.to)}`;
  if (numbers.length === 0) return `No reading of ${s.key} ${span}.`;
  return `${what} of ${s.key} ${span}: lowest ${Math.min(...numbers)}, highest ${Math.max(
    ...numbers,
  )}, last ${numbers[numbers.length - 1]}.`;
}

export function TelemetryChart(props: {
  deviceId: string;
  /** The numeric keys of the latest values. */
  keys: readonly string[];
  /** Raised to read the series again. */
  generation: number;
  sessionOver(e: unknown): boolean;
}) {
  const [key, setKey] = useState(props.keys[0] ?? '');
  const [range, setRange] = useState<Range>(RANGES[0]!);
  const [series, setSeries] = useState<Series | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [loading, setLoading] = useState(false);
  const plotRef = useRef<HTMLDivElement>(null);

  // A key that is gone (or none chosen yet) gives way to the first one there is.
  useEffect(() => {
    if (!props.keys.includes(key)) setKey(props.keys[0] ?? '');
  }, [props.keys.join('\n')]);

  useEffect(() => {
    if (!key) return;
    let current = true;
    setLoading(true);
    setError(undefined);
    readSeries(props.deviceId, key, range)
      .then((s) => current && setSeries(s))
      .catch((e: unknown) => {
        if (!(e instanceof ApiProblem)) throw e;
        if (current && !props.sessionOver(e)) {
          setError(problemText(e));
          setSeries(undefined);
        }
      })
      .finally(() => current && setLoading(false));
    return () => {
      current = false;
    };
  }, [props.deviceId, key, range, props.generation]);

  useEffect(() => {
    const box = plotRef.current;
    if (!box || !series) return;
    const width = () => Math.max(240, box.clientWidth);
    const plot = new uPlot(
      {
        width: width(),
        height: 220,
        scales: { x: { time: true } },
        series: [
          {},
          {
            label: series.bucket ? `${series.key} (average)` : series.key,
            stroke: '#0a4f9e',
            width: 2,
            points: { show: series.xs.length <= 60 },
          },
        ],
        axes: [{ stroke: '#4a4a4a' }, { stroke: '#4a4a4a' }],
      },
      [series.xs, series.ys],
      box,
    );
    // What the chart holds, for the page's tests and tools: uPlot's own data, not a copy.
    box.dataset.points = String(plot.data[0].length);
    const resize = new ResizeObserver(() => plot.setSize({ width: width(), height: 220 }));
    resize.observe(box);
    return () => {
      resize.disconnect();
      plot.destroy();
      delete box.dataset.points;
    };
  }, [series]);

  if (props.keys.length === 0)
    return <p class="empty">No numeric value has been reported: there is nothing to chart.</p>;
  return (
    <div class="chart" aria-busy={loading}>
      <div class="chart-controls">
        <SelectField
          label="Value"
          value={key}
          options={props.keys.map((k) => ({ value: k, label: k }))}
          onChange={setKey}
        />
        <div class="ranges" role="group" aria-label="Time range">
          {RANGES.map((r) => (
            <button
              type="button"
              key={r.name}
              aria-pressed={r.name === range.name}
              onClick={() => setRange(r)}
            >
              {r.label}
            </button>
          ))}
        </div>
      </div>
      {error && <Notice kind="error">{error}</Notice>}
      <figure>
        <div class="plot" ref={plotRef} aria-hidden="true" />
        <figcaption class="hint">
          {series ? summary(series) : loading ? 'Loading…' : ''}
          {series && series.xs.length > 1
            ? ' Drag across the chart to zoom in; double-click to zoom out.'
            : ''}
        </figcaption>
      </figure>
    </div>
  );
}
