// Helpers for an app's own tests (`import … from 'authgate/testing'`).
export {};
