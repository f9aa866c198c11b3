import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'

/** y-websocket message types (first varUint of every message). */
export const MSG_SYNC = 0
export const MSG_AWARENESS = 1
export const MSG_AUTH = 2
export const MSG_QUERY_AWARENESS = 3

export function concatMessages(messages: Uint8Array[]): Uint8Array {
  let total = 0
  for (const m of messages) total += m.length
  const out = new Uint8Array(total)
  let offset = 0
  for (const m of messages) { out.set(m, offset); offset += m.length }
  return out
}

export function base64ToBytes(b64: string): Uint8Array {
  const bin = atob(b64)
  const out = new Uint8Array(bin.length)
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i)
  return out
}

export function bytesToBase64(bytes: Uint8Array): string {
  let bin = ''
  const chunk = 0x8000
  for (let i = 0; i < bytes.length; i += chunk) {
    bin += String.fromCharCode(...bytes.subarray(i, i + chunk))
  }
  return btoa(bin)
}

export function encodeMessage(write: (e: encoding.Encoder) => void): Uint8Array {
  const e = encoding.createEncoder()
  write(e)
  return encoding.toUint8Array(e)
}

/** What a server sync message carries, read without consuming the decoder. */
export type ServerSync = { kind: 'state-vector', bytes: Uint8Array } | { kind: 'update', bytes: Uint8Array }

/** Reads the sync message at the decoder's position (after the MSG_SYNC type) from a copy. */
export function peekSync (decoder: decoding.Decoder): ServerSync | null {
  try {
    const d = decoding.clone(decoder)
    const sub = decoding.readVarUint(d)
    const bytes = decoding.readVarUint8Array(d)
    return sub === 0 ? { kind: 'state-vector', bytes } : { kind: 'update', bytes }
  } catch {
    return null
  }
}

export { encoding, decoding }
