import { setFlagsFromString } from 'node:v8';

/**
 * Caps how far V8's old generation grows between full collections, for the processes authgate
 * starts itself (`npm start`, `npx authgate start|dev`; not an app's own process that calls
 * createGateway). Under load, requests that are still in flight when the young generation is
 * scavenged are promoted, so the old generation fills with dead requests; V8 then sets the next
 * full collection at up to four times the live size, a factor it picks from how fast it collects
 * against how fast the program allocates. The gateway lives in about 40 MB of heap, so under the
 * bench's loads it grew to 130 MB of old generation and 210–275 MB resident while it rests at
 * about 115. At a fixed factor of 1.5 it stayed at 40–50 MB of old generation, for a few more
 * full collections of that small live set (docs/performance.md, "Heap growth").
 *
 * V8 reads the flag whenever it sets the next limit, so setting it after start takes effect at
 * the next collection. 0 leaves V8's own factor (and any `--heap-growing-percent` given to node).
 */
export function limitHeapGrowth(percent: number): void {
  if (percent > 0) setFlagsFromString(`--heap-growing-percent=${percent}`);
}
