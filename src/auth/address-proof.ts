// Moved to flows/address-proof.ts; kept so other areas compile until they import it from there.
export { proveAddress, releasePendingClaims } from './flows/address-proof.js';
