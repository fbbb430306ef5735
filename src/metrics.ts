import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export type Metrics = ReturnType<typeof createMetrics>;

// Operation names come from clients; past this many distinct ones they are pooled, so a
// stranger cannot grow the label set without bound.
const MAX_OPERATION_LABELS = 200;

/** Prometheus metrics served at /metrics (process, event loop, requests, auth, pool). */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 10 });
  const seen = new Set<string>();
  const requestDuration = new Histogram({
    name: 'authgate_graphql_request_duration_seconds',
    help: 'GraphQL request duration by operation and outcome.',
    labelNames: ['operation', 'outcome'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const authEvents = new Counter({
    name: 'authgate_auth_events_total',
    help: 'Sign-ups, sign-ins, refreshes and sign-outs by outcome (ok or an error code).',
    labelNames: ['event', 'outcome'],
    registers: [registry],
  });
  const connectionsInUse = new Gauge({
    name: 'authgate_db_connections_in_use',
    help: 'Request transactions holding a connection of the app pool.',
    registers: [registry],
  });
  const rateLimited = new Counter({
    name: 'authgate_rate_limit_hits_total',
    help: 'Requests refused with RATE_LIMITED, by limit.',
    labelNames: ['limit'],
    registers: [registry],
  });
  const knownDocuments = new Counter({
    name: 'authgate_graphql_known_document_requests_total',
    help: 'GraphQL requests served from a document already validated (or trusted), beside graphql-yoga’s HTTP pipeline.',
    registers: [registry],
  });
  // The histogram's child per label pair, found by one string key: prom-client would hash
  // the labels object on every observation, once per request.
  const durationOf = new Map<string, { observe: (seconds: number) => void }>();
  return {
    registry,
    knownDocument: () => knownDocuments.inc(),
    observeRequest(operation: string | null, outcome: string, seconds: number): void {
      const key = `${operation ?? ''}\n${outcome}`;
      let child = durationOf.get(key);
      if (child === undefined) {
        let name = operation && /^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(operation) ? operation : 'anonymous';
        if (!seen.has(name)) {
          if (seen.size >= MAX_OPERATION_LABELS) name = 'other';
          else seen.add(name);
        }
        child = requestDuration.labels({ operation: name, outcome });
        // Bounded as the labels are: only names that are their own label (at most
        // MAX_OPERATION_LABELS) are keys; odd or surplus names are looked up each time.
        if (name === (operation ?? 'anonymous')) durationOf.set(key, child);
      }
      child.observe(seconds);
    },
    authEvent(event: string, outcome: string): void {
      authEvents.inc({ event, outcome });
    },
    connectionTaken: () => connectionsInUse.inc(),
    connectionReturned: () => connectionsInUse.dec(),
    rateLimited: (limit: string) => rateLimited.inc({ limit }),
  };
}
