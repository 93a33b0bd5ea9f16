/**
 * Reading the JSON files tsrun keeps (state, network, allocation and volume records): each must hold one JSON object.
 * Anything else means the file was damaged; `corrupt` turns the detail into the caller's error, which names the file.
 */

/** `value` as an object whose properties can be looked at one by one, or the error `corrupt` makes. */
export function asJsonObject(value: unknown, corrupt: (detail: string) => Error): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw corrupt('not a JSON object');
  return value as Record<string, unknown>;
}

/** The JSON object `text` holds, or the error `corrupt` makes of why it holds none. */
export function parseJsonObject(text: string, corrupt: (detail: string) => Error): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw corrupt(`not JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  return asJsonObject(value, corrupt);
}
