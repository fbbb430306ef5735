// The tests' free-port helper is the package's own (authgate/testing uses it too).
export { freePort } from '../src/shared/ports.js';
