const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A UUID in its text form: checked before an id from a client reaches a uuid column. */
export const isUuid = (v: unknown): v is string => typeof v === 'string' && UUID.test(v);
