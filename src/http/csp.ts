import { createHash } from 'node:crypto';

/** How a Content-Security-Policy names one inline `<script>` or `<style>` by its exact text. */
export const cspHash = (text: string): string => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

/**
 * The CSP of a page the gateway serves: nothing but what `allow` names (its inline parts by
 * hash, requests to its own origin), no base, no form submission, never framed.
 */
export function pageCsp(allow: Record<string, string>): string {
  return [
    "default-src 'none'",
    ...Object.entries(allow).map(([directive, sources]) => `${directive} ${sources}`),
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}
